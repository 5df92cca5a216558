/**
 * What the command line does to store files as a whole: start over (`--fresh`), put the last
 * good snapshot back (`restore-backup`), and tell a user at a terminal what to do with a
 * damaged store. Nothing here deletes a file it cannot read as an Overseer store.
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileTimestamp, restoreBackup, type RestoredBackup } from '../store/backup.js';
import { StoreCorruptError, StoreVersionError } from '../store/errors.js';
import { JOURNAL_HEADER_KEY } from '../store/journal.js';
import { acquireLock } from '../store/lock.js';
import { BadInput, type Io } from './cli-session.js';
import { shellWord } from './cli-view.js';
import { readStore } from './status.js';

/** A store's files besides its lock: snapshot, journal, backup, dispatch settings, a compaction in progress. */
const STORE_SUFFIXES = ['', '.journal', '.bak', '.dispatch', '.compacting'];

/** How a snapshot (an image starts with its schema version) and a journal (its header) begin. */
const SNAPSHOT_START = '{"schemaVersion":';
const JOURNAL_START = `{"${JOURNAL_HEADER_KEY}":`;

/**
 * Whether a file could be a store file that `start` begins: it does, or it is what a crash
 * leaves of one (empty, zeros or blanks, or a start cut short).
 */
function couldBe(file: string, start: string): boolean {
  const fd = openSync(file, 'r');
  let head: string;
  try {
    const buffer = Buffer.alloc(64);
    head = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
  const text = head.replace(/^\s+/, '');
  return /^[\s\0]*$/.test(head) || text.startsWith(start) || start.startsWith(text);
}

/**
 * Why the files cannot be opened, or null when they can: they must read and replay (what
 * opening the store does). Files that start as a store's and fail in any way are damaged.
 */
function damageOf(path: string): string | null {
  try {
    readStore(path);
    return null;
  } catch (error) {
    return error instanceof StoreCorruptError || error instanceof StoreVersionError ? error.message.split('. ')[0]! : String((error as Error).message ?? error);
  }
}

/**
 * `--fresh`: discards a store, under its lock, so no running process loses it. A store that
 * opens is removed. A damaged one (or one a newer Overseer wrote) is moved, with its backup,
 * into `<store>.discarded-<time>/`. A file that does not even start as an Overseer store is
 * refused: `--store` pointed at something else.
 */
export function discardStore(path: string, io: Io): void {
  const journal = `${path}.journal`;
  // Nothing of a store here (its folder may not even exist yet): nothing to discard, no lock to take.
  if (!STORE_SUFFIXES.some((suffix) => existsSync(`${path}${suffix}`))) return;
  const files = [path, journal].filter((f) => existsSync(f));
  for (const file of files) {
    if (!couldBe(file, file === path ? SNAPSHOT_START : JOURNAL_START)) {
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
    const damage = files.length === 0 ? null : damageOf(path);
    if (damage !== null) {
      const dir = `${path}.discarded-${fileTimestamp()}`;
      mkdirSync(dir);
      for (const file of [...files, `${path}.bak`].filter((f) => existsSync(f))) renameSync(file, join(dir, basename(file)));
      io.err.write(`overseer: ${path} could not be opened (${damage}); starting over, with its files kept in ${dir}\n`);
    }
    for (const suffix of STORE_SUFFIXES) rmSync(`${path}${suffix}`, { force: true });
  } finally {
    lock.release();
  }
}

/** `restore-backup`: puts `<store>.bak` back in place; what it replaces is kept aside. */
export function restoreBackupOf(path: string, io: Io, options: { json: boolean; force: boolean }): void {
  let result: RestoredBackup;
  try {
    result = restoreBackup(path, { force: options.force });
  } catch (error) {
    throw new BadInput(`${(error as Error).message}${/reads fine/.test((error as Error).message) ? ' (--force)' : ''}`);
  }
  if (options.json) {
    io.out.write(`${JSON.stringify({ store: path, ...result })}\n`);
    return;
  }
  const lines = [`${path}: restored from ${result.restoredFrom}, the store's state at record ${result.seq}`];
  if (result.keptAs) lines.push(`the snapshot it replaced is kept as ${result.keptAs}`);
  lines.push(
    result.journalKeptAs
      ? `the journal's records do not follow on from the backup (what happened after record ${result.seq} is lost to the store); it is kept as ${result.journalKeptAs}`
      : `the journal's records after record ${result.seq} are replayed when the store is next opened`,
  );
  io.out.write(`${lines.join(';\n  ')}\n`);
}

/** A store error as the command line reports it: with what to type, not which function to call. */
export function storeErrorMessage(error: Error): string {
  if (!(error instanceof StoreCorruptError)) return error.message;
  const inJournal = error.file.endsWith('.journal');
  const store = inJournal ? error.file.slice(0, -'.journal'.length) : error.file;
  // Not a damaged store but some other file (a config named by mistake): --fresh would refuse it too.
  if (existsSync(error.file) && !couldBe(error.file, inJournal ? JOURNAL_START : SNAPSHOT_START)) {
    return `${error.file} is not an Overseer store${/not an Overseer store/.test(error.problem) ? "" : ` (${error.problem})`}. The file was left as it is: pick another --store, or move the file away.`;
  }
  const fixes: string[] = [];
  // With no snapshot yet, the journal is all there is: moving it away would start from nothing.
  const noSnapshot = inJournal && !existsSync(store);
  if (inJournal && !noSnapshot) fixes.push(`move ${error.file} away to open the store at its last snapshot (what the journal held since is lost)`);
  const byte = /byte (\d+)/.exec(error.position)?.[1];
  if (noSnapshot) {
    // There is no snapshot yet: moving the journal away would lose everything it holds.
    fixes.push(byte !== undefined ? `\`truncate -s ${byte} ${shellWord(error.file)}\` keeps every record before the damage (there is no snapshot yet to fall back on)` : `keep the records before ${error.position} by cutting ${error.file} there (there is no snapshot yet to fall back on)`);
  }
  else if (existsSync(`${store}.bak`)) fixes.push(`\`overseer restore-backup --store ${store}\` puts the last good snapshot back (the damaged one is kept)`);
  fixes.push(`\`overseer run <plan> --store ${store} --fresh\` starts over (the damaged files are kept aside)`);
  return `${error.file} is corrupt at ${error.position}: ${error.problem}. The file was left as it is. From the command line: ${fixes.join('; or ')}.`;
}
