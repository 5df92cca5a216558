/**
 * `memoryStore()`: the store contract without a disk. Useful to embed Overseer
 * without persistence, and in tests: close one runtime and open another on the same
 * store to see exactly what a restart sees (everything passes through JSON, as on disk).
 */
import { StoreLockedError } from './errors.js';
import type { JournalEntry, JournalRecord, Store, StoreContents, StoreImage } from './types.js';

export function memoryStore(): Store {
  let image: string | null = null;
  let journal: JournalRecord[] = [];
  let seq = 0;
  let open = false;
  return {
    kind: 'memory',
    location: 'memory store',
    open(): StoreContents {
      if (open) throw new StoreLockedError('memory store', process.pid, ' (this process: it is already open)');
      open = true;
      const parsed = image === null ? null : (JSON.parse(image) as StoreImage);
      return { image: parsed, journal: JSON.parse(JSON.stringify(journal)) as JournalRecord[], warnings: [] };
    },
    append(entry: JournalEntry): void {
      journal.push({ ...entry, s: ++seq } as JournalRecord);
    },
    get seq() {
      return seq;
    },
    get journalLength() {
      return journal.length;
    },
    async flush() {},
    async compact(next: StoreImage) {
      image = JSON.stringify(next);
      journal = journal.filter((r) => r.s > next.seq);
    },
    async close() {
      open = false;
    },
  };
}
