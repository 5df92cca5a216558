/**
 * The runtime's side of a store: opening and replaying it, journaling every change,
 * compacting the journal into a snapshot now and then, and the final snapshot at close.
 */
import type { JournalEntry, Store, StoreWarning } from '../store/types.js';
import { buildImage, replay, type ImageParts, type ReplayResult } from './persistence.js';
import type { TaskHost } from './task-host.js';

export interface DurabilityOptions {
  /** Journal records between automatic compactions. */
  compactEvery: number;
  /** Where a failed background compaction is reported. */
  onError: (error: unknown, source: string) => void;
  /** The state to write at a compaction: every task and breakpoint, and the supervisor. */
  image: () => ImageParts;
}

export class Durability {
  private compacting: Promise<void> | null = null;
  private compactionQueued = false;
  private closing = false;

  constructor(
    readonly store: Store,
    private readonly options: DurabilityOptions,
  ) {}

  /**
   * Takes the store's lock and replays what it holds. Throws, changing nothing and
   * releasing the lock, when the store is locked, corrupt or too new.
   */
  open(host: TaskHost): { restored: ReplayResult; warnings: StoreWarning[] } {
    const contents = this.store.open();
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
    if (store.journalLength < this.options.compactEvery || this.compactionQueued || this.compacting || this.closing) return;
    // Not now: an API call is half-way through its records (an "add" comes before its
    // task exists). Once the call has returned, the image is whole.
    this.compactionQueued = true;
    queueMicrotask(() => {
      this.compactionQueued = false;
      if (this.compacting || this.closing) return;
      this.compacting = this.compact()
        .catch((error) => this.options.onError(error, 'store compaction'))
        .finally(() => {
          this.compacting = null;
        });
    });
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  /** Writes the final snapshot and releases the store. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.compacting) await this.compacting;
    await this.compact();
    await this.store.close();
  }

  /** Writes a snapshot of everything into the store and shortens its journal. */
  private compact(): Promise<void> {
    return this.store.compact(buildImage(this.options.image(), this.store.seq));
  }
}
