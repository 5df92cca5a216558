/**
 * What the command line does to store files as a whole: start over (`--fresh`), put the last
 * good snapshot back (`restore-backup`), and tell a user at a terminal what to do with a
 * damaged store. Nothing here deletes a file it cannot read as an Overseer store.
 */
import { closeSync, existsSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { StoreCorruptError, StoreVersionError } from '../store/errors.js';
import { readStoreFile, restoreBackup } from '../store/json-file.js';
import { JOURNAL_HEADER_KEY } from '../store/journal.js';
import { acquireLock } from '../store/lock.js';
import { BadInput, type Io } from './cli-session.js';

/** The first bytes of a snapshot (an image starts with its schema version) and of a journal (its header). */
const SNAPSHOT_START = /^\s*\{\s*"schemaVersion"\s*:/;
const JOURNAL_START = new RegExp(`^\\{"${JOURNAL_HEADER_KEY}":`);

function startsAs(file: string, pattern: RegExp): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, head.length, 0);
    return pattern.test(head.subarray(0, n).toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

const stamp = () => new Date().toISOString().replace(/[:.]/g, '-');

/**
 * `--fresh`: discards a store, under its lock, so no running process loses it. A readable
 * store's files are removed. A damaged one (or one a newer Overseer wrote) is kept aside as
 * `<file>.corrupt-<time>`, with its backup left in place. A file that does not even start as
 * an Overseer store is refused: `--store` pointed at something else.
 */
export function discardStore(path: string, io: Io): void {
  const journal = `${path}.journal`;
  const files = [path, journal].filter((f) => existsSync(f));
  if (files.length === 0) return;
  for (const file of files) {
    if (!startsAs(file, file === path ? SNAPSHOT_START : JOURNAL_START)) {
      throw new BadInput(`${file} is not an Overseer store, so --fresh leaves it alone: pick another --store, or move the file away`);
    }
  }
  let lock;
  try {
    lock = acquireLock(`${path}.lock`, path);
  } catch (error) {
    throw new BadInput((error as Error).message);
  }
  try {
    let damage: string | null = null;
    try {
      readStoreFile(path);
    } catch (error) {
      if (!(error instanceof StoreCorruptError || error instanceof StoreVersionError)) throw error;
      damage = error.message;
    }
    if (damage === null) {
      for (const suffix of ['', '.journal', '.bak', '.dispatch', '.compacting']) rmSync(`${path}${suffix}`, { force: true });
      return;
    }
    const at = stamp();
    const kept = files.map((file) => {
      renameSync(file, `${file}.corrupt-${at}`);
      return `${file}.corrupt-${at}`;
    });
    for (const suffix of ['.dispatch', '.compacting']) rmSync(`${path}${suffix}`, { force: true });
    io.err.write(`overseer: ${path} could not be read (${damage.split('. ')[0]}); starting over, with the damaged files kept as ${kept.join(' and ')}${existsSync(`${path}.bak`) ? ` and the last good snapshot as ${path}.bak` : ''}\n`);
  } finally {
    lock.release();
  }
}

/** `restore-backup`: puts `<store>.bak` back in place, the current snapshot kept as `.corrupt-<time>`. */
export function restoreBackupOf(path: string, io: Io, json: boolean): void {
  let result: ReturnType<typeof restoreBackup>;
  try {
    result = restoreBackup(path);
  } catch (error) {
    throw new BadInput((error as Error).message);
  }
  if (json) io.out.write(`${JSON.stringify({ store: path, ...result })}\n`);
  else io.out.write(`${path}: restored from ${result.restoredFrom}${result.keptAs ? `; the snapshot it replaced is kept as ${result.keptAs}` : ''}. The journal's records after the backup are replayed when the store is next opened.\n`);
}

/** A store error as the command line reports it: with what to type, not which function to call. */
export function storeErrorMessage(error: Error): string {
  if (!(error instanceof StoreCorruptError)) return error.message;
  const store = error.file.endsWith('.journal') ? error.file.slice(0, -'.journal'.length) : error.file;
  const fix = error.file.endsWith('.journal')
    ? `move ${error.file} away to open the store at its last snapshot (what the journal held since is lost)`
    : `\`overseer restore-backup --store ${store}\` puts the last good snapshot back (the damaged one is kept)`;
  return `${error.message}\nFrom the command line: ${fix}; or \`overseer run <plan> --store ${store} --fresh\` starts over (the damaged files are kept aside).`;
}
