/**
 * When the journal is folded into a new snapshot: a pure policy, tested alone
 * (test/compaction-policy.test.ts).
 *
 * A compaction writes every task, so its cost grows with the state, and a restore after a
 * crash reads the snapshot and replays the journal. With a fixed interval (`compactEvery`)
 * a large state is rewritten over and over: at 1,000,000 tasks, ~180 MB after every
 * 100,000 records. By default the journal's budget scales with the state instead, which
 * keeps a compaction's cost per record, and a restore's cost per task, the same at any size:
 *
 * - A restore costs ~11 µs per task in the snapshot and ~4 µs per journal record (the
 *   machine of docs/benchmarks.md). An `add` record costs about what a task in the snapshot
 *   does (replaying it makes that task), so it is not counted.
 * - The journal may hold `perTask` other records per task, and `floor` records whatever the
 *   state, so a restore after a crash stays under ~(11 + 1.5 × 4) µs per task: ~1.7 s at
 *   100,000 tasks (the bench measures it: "restore at the journal's budget").
 * - A compaction on the main thread starts when the budget is reached. A worker thread
 *   starts at half of it and is overtaken by the main thread at the full budget (it had no
 *   spare core). Either way the journal passes the budget only by what arrives while a
 *   compaction runs.
 */

/** Records between compactions: a fixed number, or scaled to the state. */
export type CompactionInterval = number | Scaled;

/** A budget of `perTask` records per task besides its `add` (adds too with `countAdds`), and at least `floor`. */
export interface Scaled {
  perTask: number;
  floor: number;
  countAdds?: boolean;
}

/** The default. */
export const SCALED: Readonly<Scaled> = Object.freeze({ perTask: 1.5, floor: 100_000 });

/**
 * The default for `memoryStore()`: its compaction serializes nothing (it keeps the image by
 * reference), while every journal entry it holds, adds included, is an object on the heap,
 * which the garbage collector walks. Measured with W1 at 100,000 tasks: SCALED ran 8% slower
 * there than a compaction every 100,000 records (2.61 s against 2.42 s, medians of 5). This
 * compacts every 100,000 records, adds counted, up to 100,000 tasks, and scales beyond.
 */
export const SCALED_IN_MEMORY: Readonly<Scaled> = Object.freeze({ perTask: 1, floor: 100_000, countAdds: true });

/** The default interval for a store of this kind. */
export const defaultInterval = (storeKind: string): Readonly<Scaled> => (storeKind === 'memory' ? SCALED_IN_MEMORY : SCALED);

/** What the policy looks at. */
export interface JournalFacts {
  /** Records in the journal. */
  records: number;
  /** Of those, `add` records. */
  adds: number;
  /** Tasks the runtime holds. */
  tasks: number;
}

/**
 * Whether a compaction is due now, in a worker thread or on the main thread. A fixed
 * interval starts either after `interval` records.
 */
export function compactionDue(interval: CompactionInterval, j: JournalFacts, where: 'worker' | 'main'): boolean {
  if (typeof interval === 'number') return j.records >= interval;
  const budget = scaledBudget(interval, j.tasks);
  return held(interval, j) >= (where === 'worker' ? budget / 2 : budget);
}

/**
 * Whether a worker still at work should be stopped and the main thread compact instead.
 * A fixed interval gives it `interval` more records than it was started with
 * (`recordsAtStart`); a scaled one, until the journal reaches its budget.
 */
export function workerOvertaken(interval: CompactionInterval, j: JournalFacts, recordsAtStart: number): boolean {
  if (typeof interval === 'number') return j.records - recordsAtStart >= interval;
  return held(interval, j) >= scaledBudget(interval, j.tasks);
}

/** The records a scaled budget counts. */
const held = (interval: Scaled, j: JournalFacts): number => (interval.countAdds ? j.records : j.records - j.adds);

/** The records, adds aside, a journal may hold. */
export function scaledBudget(interval: Scaled, tasks: number): number {
  return Math.max(interval.floor, interval.perTask * tasks);
}

/**
 * Whether compactions run in a worker thread when the options do not say: only with a spare
 * core. On 2 cores a worker competes with the main thread (and its garbage collector) for
 * one: W1 with the file store at 100,000 tasks took 4.05 s with it against 3.74 s without
 * (medians of 5 interleaved runs, 2026-11-29).
 */
export const workerByDefault = (cores: number): boolean => cores > 2;
