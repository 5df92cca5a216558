/**
 * The runtime's side of a store: opening and replaying it, journaling every change,
 * compacting the journal into a snapshot now and then, and the final snapshot at close.
 */
import type { JournalEntry, Store, StoreWarning } from '../store/types.js';
import { compactionDue, workerOvertaken, type CompactionInterval, type JournalFacts } from './compaction-policy.js';
import { CompactionWorker, type SnapshotLimits } from './compactor.js';
import { buildImage, replay, type ImageParts, type ReplayResult } from './persistence.js';
import type { TaskHost } from './task-host.js';

export interface DurabilityOptions {
  /** Journal records between automatic compactions (runtime/compaction-policy.ts). */
  compactEvery: CompactionInterval;
  /** How many tasks the runtime holds (called as records are journaled: must be cheap). */
  taskCount: () => number;
  /** Where a failed background compaction is reported. */
  onError: (error: unknown, source: string) => void;
  /** The state to write at a compaction: every task and breakpoint, and the supervisor. */
  image: () => ImageParts;
  /**
   * Make automatic compactions in a worker thread from the store's files, when the store
   * can (`compactFrom`). The final compaction at close stays on the main thread: nothing
   * else runs then, and it needs no replay.
   */
  background: boolean;
  /** What the runtime trims that a replay in the worker must trim too. */
  limits: SnapshotLimits;
  /** Makes the background snapshots (tests give one they control). Default: a worker thread. */
  compactor?: Pick<CompactionWorker, 'snapshot' | 'close'>;
}

export class Durability {
  private compacting: Promise<void> | null = null;
  private compactionQueued = false;
  private closing = false;
  private background: boolean;
  /** Started at the first background compaction; it keeps the state it wrote for the next one. */
  private readonly compactor: Pick<CompactionWorker, 'snapshot' | 'close'>;
  /** Stops the background compaction in flight, if any. */
  private worker: AbortController | null = null;
  /** The last worker was overtaken (no spare core now): the next compaction runs here, the one after tries a worker again. */
  private overtaken = false;
  /** `add` records in the journal (the policy does not count them). */
  private addsInJournal = 0;
  /** Records journaled by this runtime so far. */
  private appended = 0;
  /**
   * What the compaction in flight covers, from the journal's length when it started: its adds
   * leave the count when its records have left the journal (told by the journal's length, not
   * by whether the store reported success: a store may fail after dropping them).
   */
  private covered: { adds: number; length: number; appended: number } | null = null;

  constructor(
    readonly store: Store,
    private readonly options: DurabilityOptions,
  ) {
    this.background = options.background && typeof store.compactFrom === 'function';
    this.compactor = options.compactor ?? new CompactionWorker();
  }

  /**
   * Takes the store's lock and replays what it holds. Throws, changing nothing and
   * releasing the lock, when the store is locked, corrupt or too new.
   */
  open(host: TaskHost): { restored: ReplayResult; warnings: StoreWarning[] } {
    const contents = this.store.open();
    for (const record of contents.journal) if (record.k === 'add') this.addsInJournal++;
    const journalName = this.store.kind === 'file' ? `${this.store.location}.journal` : `${this.store.location} journal`;
    try {
      return { restored: replay(contents, host, journalName), warnings: contents.warnings };
    } catch (error) {
      void this.store.close();
      throw error;
    }
  }

  journal(entry: JournalEntry): void {
    const store = this.store;
    store.append(entry);
    this.appended++;
    if (entry.k === 'add') this.addsInJournal++;
    // A worker still at work when the journal reaches its budget (no spare core) is
    // overtaken: the main thread compacts instead, so the journal, and a restore after a
    // crash, stay bounded.
    // (While a worker runs, `covered` holds the journal's length when it started.)
    if (this.worker && !this.worker.signal.aborted && workerOvertaken(this.options.compactEvery, this.facts(), this.covered!.length)) this.worker.abort();
    this.compactIfDue();
  }

  private facts(): JournalFacts {
    return { records: this.store.journalLength, adds: this.addsInJournal, tasks: this.options.taskCount() };
  }

  private compactIfDue(): void {
    if (this.compactionQueued || this.compacting || this.closing) return;
    if (!compactionDue(this.options.compactEvery, this.facts(), this.background && !this.overtaken ? 'worker' : 'main')) return;
    // Not now: an API call is half-way through its records (an "add" comes before its
    // task exists). Once the call has returned, the image is whole.
    this.compactionQueued = true;
    queueMicrotask(() => {
      this.compactionQueued = false;
      if (this.compacting || this.closing) return;
      const inWorker = this.background && !this.overtaken;
      this.overtaken = false;
      this.compacting = (inWorker ? this.compactInBackground() : this.compact())
        .then(
          () => true,
          (error: unknown) => (this.options.onError(error, 'store compaction'), false),
        )
        .then((ok) => {
          this.compacting = null;
          this.settleCovered();
          // What came while it ran may be due already: not left waiting for the next record
          // (after a failure it is: the next record tries again, not a loop of failures).
          if (ok) this.compactIfDue();
        });
    });
  }

  private cover(): void {
    this.covered = { adds: this.addsInJournal, length: this.store.journalLength, appended: this.appended };
  }

  private settleCovered(): void {
    const c = this.covered;
    this.covered = null;
    if (c && this.store.journalLength < c.length + (this.appended - c.appended)) this.addsInJournal -= c.adds;
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  /** Writes the final snapshot and releases the store. */
  async close(): Promise<void> {
    this.closing = true;
    this.worker?.abort(); // the final snapshot below supersedes it
    if (this.compacting) await this.compacting;
    this.compactor.close();
    await this.compact();
    await this.store.close();
  }

  /**
   * A compaction made by a worker thread. If the worker fails (it could not start, or
   * disagrees with the journal), that is reported and this compaction, and every later
   * one, runs on the main thread instead. If the store fails to swap the worker's snapshot
   * in (a rename or the journal rewrite), that is the store's failure, not the worker's: it
   * is reported as any failed compaction is, and the next one tries a worker again.
   */
  private async compactInBackground(): Promise<void> {
    const worker = new AbortController();
    this.worker = worker;
    this.cover();
    let workerFailed = false;
    try {
      await this.store.compactFrom!(async (source) => {
        try {
          await this.compactor.snapshot(source, this.options.limits, worker.signal);
        } catch (error) {
          workerFailed = true;
          throw error;
        }
      });
    } catch (error) {
      // Stopped (overtaken, see journal(), or superseded by close()) is not a failure of the worker.
      if (worker.signal.aborted) this.overtaken = true;
      else if (workerFailed) {
        this.background = false;
        this.compactor.close();
        this.options.onError(error, 'background store compaction (compacting on the main thread from now on)');
      } else throw error;
      if (!this.closing) await this.compact();
    } finally {
      this.worker = null;
    }
  }

  /** Writes a snapshot of everything into the store and shortens its journal. */
  private compact(): Promise<void> {
    this.cover();
    return this.store.compact(buildImage(this.options.image(), this.store.seq));
  }
}
