/**
 * Putting a store's last good snapshot (`<path>.bak`) back, for a snapshot that was damaged.
 *
 * The backup is the snapshot from before the last compaction, and that compaction dropped
 * the journal records the backup does not hold. So the store goes back to the backup's
 * state: the journal is replayed on it only if it follows on from it; otherwise it is kept
 * aside with the damaged snapshot. Nothing is ever deleted.
 */
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { StoreCorruptError } from './errors.js';
import { readJournal } from './journal.js';
import { readSnapshot } from './json-file.js';
import { acquireLock } from './lock.js';

/** Now, as a file name part: what a kept-aside file is suffixed with (`.corrupt-<time>`, `.discarded-<time>`). */
export const fileTimestamp = (): string => new Date().toISOString().replace(/[:.]/g, '-');

export interface RestoreBackupOptions {
  /** Restore even though the current snapshot reads fine (it is kept aside). Default false. */
  force?: boolean;
}

export interface RestoredBackup {
  restoredFrom: string;
  /** The record the store is back at: the backup's. */
  seq: number;
  /** Where the snapshot it replaced is kept, or null when there was none. */
  keptAs: string | null;
  /** Where the journal is kept when its records do not follow on from the backup (they are lost to the store), else null. */
  journalKeptAs: string | null;
}

/**
 * Puts `<path>.bak` back in place of `path`, which is kept as `<path>.corrupt-<time>`.
 * Refuses when there is no readable backup, when a process holds the store, and (unless
 * `force`) when the current snapshot reads fine.
 */
export function restoreBackup(path: string, options: RestoreBackupOptions = {}): RestoredBackup {
  const backup = `${path}.bak`;
  if (!existsSync(backup)) throw new Error(`${backup} does not exist: there is no backup to restore`);
  const image = readSnapshot(backup).image; // refuse a backup that is itself unreadable
  const seq = image?.seq ?? 0;
  const lock = acquireLock(`${path}.lock`, path); // never swap files under a running writer
  try {
    if (existsSync(path) && !options.force && readsFine(path)) {
      throw new Error(`${path} reads fine: restoring ${backup} would take the store back to record ${seq} and lose what came after; pass force to do it anyway`);
    }
    const stamp = fileTimestamp();
    const journal = `${path}.journal`;
    let journalKeptAs: string | null = null;
    if (!journalFollows(journal, seq)) {
      journalKeptAs = `${journal}.corrupt-${stamp}`;
      renameSync(journal, journalKeptAs);
    }
    let keptAs: string | null = null;
    if (existsSync(path)) {
      keptAs = `${path}.corrupt-${stamp}`;
      renameSync(path, keptAs);
    }
    copyFileSync(backup, path);
    return { restoredFrom: backup, seq, keptAs, journalKeptAs };
  } finally {
    lock.release();
  }
}

/** Whether the snapshot is not damaged: it reads, or it is one a newer Overseer wrote (never rolled back for that). */
function readsFine(path: string): boolean {
  try {
    readSnapshot(path);
    return true;
  } catch (error) {
    return !(error instanceof StoreCorruptError);
  }
}

/** Whether the journal can be replayed on a snapshot of record `seq`: it has no records, or they go on from seq + 1 or earlier (those are skipped). */
function journalFollows(journal: string, seq: number): boolean {
  if (!existsSync(journal)) return true;
  try {
    const first = readJournal(journal).records[0];
    return first === undefined || first.s <= seq + 1;
  } catch {
    return false; // unreadable: kept aside too, it could only stop the store from opening
  }
}
