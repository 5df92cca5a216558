/**
 * `jsonFileStore(path)`: the runtime's state in a JSON snapshot written by lowdb
 * (write to a temp file, then rename: a crash leaves the old or the new file, never half
 * of one), plus an append-only journal beside it.
 *
 *   state.json          the snapshot (compact JSON)
 *   state.json.journal  everything since the snapshot, one JSON record per line
 *   state.json.bak      the snapshot before the last compaction
 *   state.json.lock     the pid of the one process writing
 *   state.json.compacting  a snapshot being written in the background (renamed over state.json when done)
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Low, LowSync } from 'lowdb';
import { DataFile, DataFileSync } from 'lowdb/node';
import { StoreCorruptError } from './errors.js';
import { entryJson } from './entry-json.js';
import { JournalWriter, readJournal, type JournalContents, type JournalMark } from './journal.js';
import { acquireLock, type Lock } from './lock.js';
import { upgradeImage } from './schema.js';
import { SnapshotText } from './snapshot-text.js';
import type { JournalEntry, SnapshotSource, Store, StoreContents, StoreImage, StoreWarning } from './types.js';

export interface JsonFileStoreOptions {
  /** At most this long (ms) between a transition and its fsync. Default 50. */
  groupCommitMs?: number;
}

const compact = { parse: JSON.parse, stringify: (data: unknown) => JSON.stringify(data) };

export function jsonFileStore(path: string, options: JsonFileStoreOptions = {}): Store {
  const problems: string[] = [];
  if (typeof path !== 'string' || path.trim() === '') problems.push('path: must be a non-empty string');
  if (typeof options !== 'object' || options === null || Array.isArray(options)) problems.push(`options: must be an object, got ${options === null ? 'null' : typeof options}`);
  else {
    // A misspelled option (flushMs) would quietly keep the default.
    for (const key of Object.keys(options)) if (key !== 'groupCommitMs') problems.push(`options.${key}: unknown field (known: groupCommitMs)`);
    const ms = options.groupCommitMs;
    if (ms !== undefined && !(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0)) problems.push(`options.groupCommitMs: must be a number of milliseconds ≥ 0, got ${String(ms)}`);
  }
  if (problems.length) throw new TypeError(`jsonFileStore: ${problems.join('; ')}`);
  const groupCommitMs = options.groupCommitMs ?? 50;
  const journalPath = `${path}.journal`;
  let lock: Lock | null = null;
  let writer: JournalWriter | null = null;
  let seq = 0;
  /** The seq of the snapshot now in place (0: none). */
  let snapshotSeq = 0;
  let compacting: Promise<void> | null = null;
  /** Keeps the JSON of each task as last written, to write it again if the task has not changed. */
  let text = new SnapshotText();

  /**
   * One compaction at a time: marks the journal, has `writeSnapshot` put the snapshot covering
   * everything before the mark in place (the old one kept as .bak), then drops what it covers.
   */
  const compactWith = (writeSnapshot: (mark: JournalMark) => Promise<void>): Promise<void> => {
    const w = requireOpen();
    const run = async () => {
      if (compacting) await compacting;
      const mark = w.mark();
      await writeSnapshot(mark);
      await w.dropBefore(mark);
    };
    const running: Promise<void> = run().finally(() => {
      if (compacting === running) compacting = null; // a later one queued behind it is still running
    });
    compacting = running;
    return running;
  };

  let existingJournal: JournalContents | null = null;
  const requireOpen = () => {
    if (!writer) {
      if (!existingJournal) throw new Error(`${path}: the store is not open`);
      writer = new JournalWriter(journalPath, groupCommitMs, existingJournal);
    }
    return writer;
  };

  return {
    kind: 'file',
    location: path,
    open(): StoreContents {
      if (writer || existingJournal) throw new Error(`${path}: the store is already open`);
      // A store in a folder that does not exist yet starts there (as the CLI's does), not with ENOENT on its lock.
      mkdirSync(dirname(path), { recursive: true });
      // A folder is not a store file (reading it would report a corrupt snapshot).
      if (existsSync(path) && statSync(path).isDirectory()) throw new Error(`${path} is a folder: a store is a file path, such as ${join(path, 'state.json')}`);
      lock = acquireLock(`${path}.lock`, path);
      try {
        const { image, warnings } = readSnapshot(path);
        if (lock.replacedPid !== null) {
          warnings.push({ kind: 'stale_lock_taken', message: `${path}: took over the lock of process ${lock.replacedPid}, which is gone` });
        }
        const journal = readJournal(journalPath);
        warnings.push(...journal.warnings);
        const after = image ? journal.records.filter((r) => r.s > image.seq) : journal.records;
        seq = Math.max(image?.seq ?? 0, journal.records.at(-1)?.s ?? 0);
        snapshotSeq = image?.seq ?? 0;
        // The journal is opened for writing (which cuts a torn tail) at the first write,
        // after the runtime has replayed it: a store it refuses is left as it was.
        existingJournal = journal;
        text = new SnapshotText();
        // A background compaction a killed process left half-done: never read, so just gone.
        rmSync(`${path}.compacting`, { force: true });
        return { image, journal: after, warnings, tasksDecoded: true };
      } catch (error) {
        lock.release();
        lock = null;
        throw error;
      }
    },
    append(entry: JournalEntry): void {
      // Serialize once, without copying the record to add its sequence number.
      requireOpen().append(++seq, entryJson(entry));
    },
    get seq() {
      return seq;
    },
    get journalLength() {
      return writer?.length ?? existingJournal?.records.length ?? 0;
    },
    flush: () => requireOpen().flush(),
    writeOut(): void {
      writer?.writeOut();
    },
    compact(image: StoreImage): Promise<void> {
      return compactWith(async () => {
        // The mark was just taken: a later record in the journal but not in the image would be dropped with it.
        if (image.seq !== seq) throw new Error(`${path}: an image of record ${image.seq} cannot replace a journal at record ${seq}`);
        const json = await text.serializeInSlices(image);
        // No snapshot yet: a backup left from an earlier store at this path is not this one's.
        if (existsSync(path)) keepAsBackup(path);
        else rmSync(`${path}.bak`, { force: true });
        await new Low<StoreImage>(new DataFile<StoreImage>(path, { parse: JSON.parse, stringify: () => json }), image).write();
        await syncFile(path);
        snapshotSeq = image.seq;
      });
    },
    compactFrom(make: (source: SnapshotSource) => Promise<void>): Promise<void> {
      return compactWith(async (mark) => {
        const target = `${path}.compacting`;
        const covers = seq;
        try {
          // Every record up to `seq` is in the journal's first mark.offset bytes.
          await make({ snapshot: path, snapshotSeq, journal: journalPath, journalBytes: mark.offset, seq: covers, target });
        } catch (error) {
          rmSync(target, { force: true }); // half-written, or not written at all
          throw error;
        }
        if (existsSync(path)) keepAsBackup(path);
        else rmSync(`${path}.bak`, { force: true });
        renameSync(target, path);
        snapshotSeq = covers;
        // What `text` keeps (each task's JSON and the context it was made from) would hold on to
        // contexts the runtime has replaced, until the next compaction here: let it go.
        text = new SnapshotText();
      });
    },
    async close(): Promise<void> {
      if (compacting) await compacting;
      if (writer) await writer.close();
      writer = null;
      existingJournal = null;
      lock?.release();
      lock = null;
    },
  };
}

/** fsync, off the main thread (a snapshot is tens of megabytes). */
async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads and upgrades a snapshot file; null when there is none yet. */
export function readSnapshot(path: string): { image: StoreImage | null; warnings: StoreWarning[] } {
  const warnings: StoreWarning[] = [];
  let raw: unknown;
  try {
    const db = new LowSync<unknown>(new DataFileSync(path, compact), null);
    db.read();
    raw = db.data;
  } catch (error) {
    // lowdb reads ENOENT as "no data"; anything else is a file we cannot parse.
    const message = (error as Error).message;
    const at = /position (\d+)/.exec(message);
    throw new StoreCorruptError(
      path,
      at ? `byte ${at[1]}` : /end of JSON input/.test(message) ? 'the end of the file' : 'byte 0',
      message,
      `Restore the last good snapshot with restoreBackup('${path}')${existsSync(`${path}.bak`) ? '' : ' (no .bak exists yet)'}, or move the file away to start afresh.`,
    );
  }
  if (raw === null) return { image: null, warnings };
  const { image, migratedFrom } = upgradeImage(raw, path);
  if (migratedFrom !== null) {
    warnings.push({ kind: 'migrated', message: `${path}: migrated from schema version ${migratedFrom}; it is written in the current version at the next compaction` });
  }
  return { image, warnings };
}

/**
 * The snapshot about to be replaced becomes `<path>.bak`. A hard link, not a copy: lowdb
 * (steno) writes the new snapshot to a temporary file and renames it over `path`, so the
 * link keeps the old file as it was, and a large snapshot costs no copy (copying the 60 MB
 * snapshot of 100,000 tasks in schema 2 took ~230 ms). Where links are refused (some network or FAT file systems), it copies.
 */
function keepAsBackup(path: string): void {
  const backup = `${path}.bak`;
  rmSync(backup, { force: true });
  try {
    linkSync(path, backup);
  } catch {
    copyFileSync(path, backup);
  }
}

/** Reads a store without taking its lock (for status views while a run is going). */
export function readStoreFile(path: string): StoreContents {
  const { image, warnings } = readSnapshot(path);
  const journal = readJournal(`${path}.journal`);
  return { image, journal: image ? journal.records.filter((r) => r.s > image.seq) : journal.records, warnings: [...warnings, ...journal.warnings], tasksDecoded: true };
}

