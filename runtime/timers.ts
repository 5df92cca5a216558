/**
 * Runtime-owned timers: many deadlines, one clock timer.
 *
 * XState does not re-arm `after` timers when a snapshot is restored
 * (statelyai/xstate#5331), so retry and deadline times live in task context as
 * epoch milliseconds and are kept here, where a restore simply schedules them again.
 * Only the earliest entry holds a real timer, so 100,000 deadlines cost one timer.
 */
import type { Clock } from './clock.js';
import { IndexedHeap } from './heap.js';

interface Entry {
  key: string;
  at: number;
  heapIndex: number;
}

export class TimerQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly heap = new IndexedHeap<Entry>((a, b) => a.at < b.at);
  private armed: { handle: unknown; at: number } | null = null;
  private firing = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: string) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Schedules (or moves) `key` to fire at `at` (epoch ms); a past time fires on the next timer turn. */
  schedule(key: string, at: number): void {
    const existing = this.entries.get(key);
    if (existing) {
      existing.at = at;
      this.heap.update(existing);
    } else {
      const entry: Entry = { key, at, heapIndex: -1 };
      this.entries.set(key, entry);
      this.heap.push(entry);
    }
    this.rearm();
  }

  cancel(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.heap.remove(entry);
    this.rearm();
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  dueAt(key: string): number | undefined {
    return this.entries.get(key)?.at;
  }

  /** Fires every entry that is due now. Also what the armed timer calls. */
  fireDue(): void {
    if (this.firing) return;
    this.firing = true;
    try {
      const now = this.clock.now();
      for (let top = this.heap.peek(); top !== undefined && top.at <= now; top = this.heap.peek()) {
        this.heap.pop();
        this.entries.delete(top.key);
        this.onDue(top.key);
      }
    } finally {
      this.firing = false;
    }
    this.rearm();
  }

  /** Clears the real timer; entries stay, so nothing fires until `resume()`. */
  stop(): void {
    if (this.armed) this.clock.clearTimeout(this.armed.handle);
    this.armed = null;
  }

  private rearm(): void {
    if (this.firing) return;
    const top = this.heap.peek();
    if (this.armed && top && this.armed.at === top.at) return;
    if (this.armed) {
      this.clock.clearTimeout(this.armed.handle);
      this.armed = null;
    }
    if (!top) return;
    const delay = Math.max(0, top.at - this.clock.now());
    this.armed = {
      at: top.at,
      handle: this.clock.setTimeout(() => {
        this.armed = null;
        this.fireDue();
      }, delay),
    };
  }
}
