/**
 * The append-only journal: one JSON record per line after a header line.
 *
 * Writes are grouped: records appended during one turn of the event loop are written to
 * the file together at its end (`setImmediate`), so a killed process loses at most that
 * turn (a `process.exit()` loses nothing: they are written out on the way); the file is fdatasync'ed at most `groupCommitMs` later (default 50 ms), so a
 * power loss loses at most that window. `flush()` forces both. (Writing after each
 * synchronous stretch instead, a microtask, cost one write(2) per completed task in the
 * W1 benchmark: ~15% of a run with the file store.)
 */
import { closeSync, fdatasync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, writeSync } from 'node:fs';
import { StoreCorruptError, StoreVersionError } from './errors.js';
import { SCHEMA_VERSION, type JournalRecord, type StoreWarning } from './types.js';

export const JOURNAL_HEADER_KEY = 'overseerJournal';
const HEADER = `${JSON.stringify({ [JOURNAL_HEADER_KEY]: SCHEMA_VERSION })}\n`;

export interface JournalContents {
  records: JournalRecord[];
  warnings: StoreWarning[];
  /** Byte length of the intact part; a torn tail beyond it is cut off before appending. */
  intactBytes: number;
  exists: boolean;
}

const ADVICE = 'Move the journal away to start from the last snapshot (losing what it recorded since), or restore a backup.';

/** A record that may follow the one numbered `lastSeq`. */
const followsInSequence = (record: JournalRecord, lastSeq: number) => typeof record?.s === 'number' && typeof record.k === 'string' && record.s > lastSeq;

/**
 * Every write ends with a newline, so a last line without one was cut short by a crash (even
 * if what is there happens to parse): it is skipped, and the writer cuts it off.
 */
function tornTail(file: string, line: number, byte: number, tail: string): StoreWarning {
  return {
    kind: 'torn_journal_tail',
    message: `${file}: the last line (line ${line} (byte ${byte}), ${Buffer.byteLength(tail)} bytes) was cut short by a crash and was skipped`,
  };
}

/**
 * Reads and checks a journal. A torn last line (a crash mid-write) is skipped and reported.
 * With `upToBytes`, only that prefix is read (a background compaction reads the part it
 * covers while records are still being appended).
 */
export function readJournal(file: string, upToBytes?: number): JournalContents {
  let text: string;
  try {
    text = upToBytes === undefined ? readFileSync(file, 'utf8') : readFileSync(file).subarray(0, upToBytes).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], warnings: [], intactBytes: 0, exists: false };
    throw error;
  }
  return readQuickly(file, text) ?? readLineByLine(file, text);
}

/**
 * A well-formed journal, parsed as one JSON array: records never contain a raw newline
 * (JSON escapes it), so the complete lines joined by commas are an array. One JSON.parse
 * instead of one per record halves the time to read a 275,000-record journal. Returns
 * null at any problem, for the line-by-line reader to name it.
 */
function readQuickly(file: string, text: string): JournalContents | null {
  const headerEnd = text.indexOf('\n');
  const end = text.lastIndexOf('\n') + 1; // after the last complete line
  if (headerEnd <= 0) return null;
  let header: unknown;
  let records: JournalRecord[];
  try {
    header = JSON.parse(text.slice(0, headerEnd));
    records = end - 1 > headerEnd ? (JSON.parse(`[${text.slice(headerEnd + 1, end - 1).replaceAll('\n', ',')}]`) as JournalRecord[]) : [];
  } catch {
    return null;
  }
  const version = (header as Record<string, unknown>)?.[JOURNAL_HEADER_KEY];
  if (typeof version !== 'number' || version > SCHEMA_VERSION) return null;
  // One record per line, each line starting as the writer starts one: lines joined or split
  // by damage (two records on a line, one record over two) go to the line-by-line reader.
  let lines = 0;
  for (let at = headerEnd; at < end - 1; at = text.indexOf('\n', at + 1)) {
    if (!text.startsWith('{"s":', at + 1)) return null;
    lines++;
  }
  if (lines !== records.length) return null;
  let lastSeq = -Infinity;
  for (const record of records) {
    if (!followsInSequence(record, lastSeq)) return null;
    lastSeq = record.s;
  }
  const intactBytes = Buffer.byteLength(text.slice(0, end));
  // The header and the records are the first records.length + 1 lines.
  const warnings = end < text.length ? [tornTail(file, records.length + 2, intactBytes, text.slice(end))] : [];
  return { records, warnings, intactBytes, exists: true };
}

function readLineByLine(file: string, text: string): JournalContents {
  const warnings: StoreWarning[] = [];
  const records: JournalRecord[] = [];
  let offset = 0; // in characters
  let bytes = 0; // the same position in bytes
  let intactBytes = 0;
  let line = 0;
  let lastSeq = -Infinity;
  while (offset < text.length) {
    const newline = text.indexOf('\n', offset);
    const complete = newline !== -1;
    const raw = text.slice(offset, complete ? newline : text.length);
    line++;
    const position = () => `line ${line} (byte ${bytes})`;
    if (!complete) {
      warnings.push(tornTail(file, line, bytes, raw));
      break;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw new StoreCorruptError(file, position(), (error as Error).message, ADVICE);
    }
    if (line === 1) {
      const version = (parsed as Record<string, unknown>)?.[JOURNAL_HEADER_KEY];
      if (typeof version !== 'number') throw new StoreCorruptError(file, position(), 'missing journal header', ADVICE);
      if (version > SCHEMA_VERSION) throw new StoreVersionError(file, version, SCHEMA_VERSION);
    } else {
      const record = parsed as JournalRecord;
      if (!followsInSequence(record, lastSeq)) throw new StoreCorruptError(file, position(), 'not a journal record in sequence', ADVICE);
      lastSeq = record.s;
      records.push(record);
    }
    offset = newline + 1;
    bytes += Buffer.byteLength(raw) + 1;
    intactBytes = bytes;
  }
  if (line === 0) intactBytes = 0;
  return { records, warnings, intactBytes, exists: true };
}

/** A point in the journal: its size in bytes and its number of records then. */
export interface JournalMark {
  offset: number;
  count: number;
}

/**
 * Writers with records not yet handed to the OS. A `process.exit()` (or an uncaught error) ends
 * the process before the end of the turn: what the turn appended is written out on the way,
 * synchronously, so only a kill loses it. One listener for all of them.
 */
const openWriters = new Set<JournalWriter>();
let exitHooked = false;
function writeOutOnExit(writer: JournalWriter): void {
  openWriters.add(writer);
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const w of openWriters) {
      try {
        w.writeOut();
      } catch {
        // On the way out: nothing to tell
      }
    }
  });
}

export class JournalWriter {
  private fd: number;
  private pending: string[] = [];
  private writeQueued = false;
  private syncTimer: ReturnType<typeof setTimeout> | null = null;
  private syncing: Promise<void> | null = null;
  private dirty = false;
  private closed = false;
  /** Bytes in the file, header included. */
  private size = 0;
  /** Records since the journal was last rewritten. */
  private count = 0;

  constructor(
    private readonly file: string,
    private readonly groupCommitMs: number,
    existing: JournalContents,
  ) {
    this.fd = openSync(file, 'a+');
    if (!existing.exists || existing.intactBytes === 0) {
      ftruncateSync(this.fd, 0);
      this.size = writeSync(this.fd, HEADER);
    } else {
      // Cut a torn tail so new records start on a fresh line.
      ftruncateSync(this.fd, existing.intactBytes);
      this.size = existing.intactBytes;
    }
    this.count = existing.records.length;
    writeOutOnExit(this);
  }

  get length(): number {
    return this.count;
  }

  /**
   * Appends record number `seq`, given as its JSON without `s` (serialized once by the
   * caller; `s` is spliced in front so the record is not copied to add it).
   */
  append(seq: number, json: string): void {
    this.pending.push(`{"s":${seq},${json.slice(1)}`);
    this.count++;
    if (!this.writeQueued) {
      this.writeQueued = true;
      setImmediate(() => this.writeOut());
    }
  }

  /** Hands pending records to the OS (survives a killed process). */
  writeOut(): void {
    this.writeQueued = false;
    if (this.pending.length === 0 || this.closed) return;
    this.size += writeSync(this.fd, `${this.pending.join('\n')}\n`);
    this.pending = [];
    this.dirty = true;
    this.syncTimer ??= setTimeout(() => void this.sync(), this.groupCommitMs);
    this.syncTimer.unref?.();
  }

  /** Everything appended so far, on disk (survives power loss). */
  async flush(): Promise<void> {
    this.writeOut();
    await this.sync();
  }

  private sync(): Promise<void> {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.syncing) return this.syncing.then(() => this.sync());
    if (!this.dirty || this.closed) return Promise.resolve();
    this.dirty = false;
    this.syncing = new Promise<void>((resolve, reject) => {
      fdatasync(this.fd, (error) => {
        this.syncing = null;
        if (error) reject(error);
        else resolve();
      });
    });
    return this.syncing;
  }

  /** A point in the journal: what has been written up to now. */
  mark(): JournalMark {
    this.writeOut();
    return { offset: this.size, count: this.count };
  }

  /**
   * Drops everything before `mark` (it is in a durable snapshot now): the records
   * written since are copied to a new journal, which replaces the old one atomically.
   */
  async dropBefore(mark: JournalMark): Promise<void> {
    // Not while an fdatasync runs on the file descriptor this closes (it would fail with EBADF).
    while (this.syncing) await this.syncing.catch(() => {});
    this.writeOut();
    const tailLength = this.size - mark.offset;
    const tail = Buffer.alloc(tailLength);
    if (tailLength > 0) readSync(this.fd, tail, 0, tailLength, mark.offset);
    const temp = `${this.file}.tmp`;
    const fd = openSync(temp, 'w');
    writeSync(fd, HEADER);
    if (tailLength > 0) writeSync(fd, tail);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, this.file);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a+');
    this.size = Buffer.byteLength(HEADER) + tailLength;
    this.count -= mark.count;
    this.dirty = false;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    openWriters.delete(this);
    closeSync(this.fd);
  }
}
