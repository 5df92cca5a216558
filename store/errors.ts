/** Errors a store raises. Each says which file, what is wrong and what to do. */
import { OverseerError } from '../runtime/errors.js';

/** Another live process holds the store. */
export class StoreLockedError extends OverseerError {
  override name = 'StoreLockedError';
  constructor(
    readonly location: string,
    readonly holderPid: number,
    detail: string,
  ) {
    super(
      `${location} is in use by process ${holderPid}${detail}. Stop that process first; ` +
        'only one process may write a store at a time.',
    );
  }
}

/** A snapshot or journal that cannot be read as written. Nothing was changed on disk. */
export class StoreCorruptError extends OverseerError {
  override name = 'StoreCorruptError';
  constructor(
    readonly file: string,
    readonly position: string,
    readonly problem: string,
    /** What to do, in the library's terms (the CLI says it in commands). */
    readonly advice: string,
  ) {
    super(`${file} is corrupt at ${position}: ${problem}. The file was left as it is. ${advice}`);
  }
}

/** A store written by a newer Overseer. */
export class StoreVersionError extends OverseerError {
  override name = 'StoreVersionError';
  constructor(
    readonly file: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `${file} was written with store schema version ${found}, but this Overseer reads versions up to ${supported}. ` +
        'Upgrade Overseer to open it; the file was left as it is.',
    );
  }
}
