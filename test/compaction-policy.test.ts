/**
 * When the journal is folded into a snapshot (runtime/compaction-policy.ts), alone and as the
 * runtime's Durability applies it: `add` records are not counted, the budget scales with the
 * tasks, a worker starts at half of it and is overtaken at all of it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compactionDue, defaultInterval, SCALED, SCALED_IN_MEMORY, scaledBudget, workerByDefault, workerOvertaken, type CompactionInterval, type JournalFacts } from '../runtime/compaction-policy.js';
import { Durability } from '../runtime/durability.js';
import { buildImage, type ImageParts } from '../runtime/persistence.js';
import { TaskHost } from '../runtime/task-host.js';
import { memoryStore } from '../store/memory.js';
import { createOverseer, jsonFileStore } from '../runtime/index.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalEntry, Store, StoreImage } from '../store/types.js';

const facts = (records: number, adds: number, tasks: number): JournalFacts => ({ records, adds, tasks });

describe('a fixed interval (compactEvery)', () => {
  it('is due every `interval` records, adds included, in a worker or not', () => {
    for (const where of ['worker', 'main'] as const) {
      expect(compactionDue(50, facts(49, 49, 1_000_000), where)).toBe(false);
      expect(compactionDue(50, facts(50, 50, 1_000_000), where)).toBe(true);
    }
  });

  it('gives a worker `interval` more records than it started with', () => {
    expect(workerOvertaken(50, facts(99, 0, 10), 50)).toBe(false);
    expect(workerOvertaken(50, facts(100, 0, 10), 50)).toBe(true);
  });
});

describe('the default interval, scaled to the state', () => {
  it('allows 1.5 records per task besides the adds, and 100,000 in all whatever the state', () => {
    // 300,000 tasks: a budget of 450,000 other records.
    expect(compactionDue(SCALED, facts(749_999, 300_000, 300_000), 'main')).toBe(false);
    expect(compactionDue(SCALED, facts(750_000, 300_000, 300_000), 'main')).toBe(true);
    // A few tasks: the floor.
    expect(compactionDue(SCALED, facts(99_999, 0, 10), 'main')).toBe(false);
    expect(compactionDue(SCALED, facts(100_000, 0, 10), 'main')).toBe(true);
  });

  it('starts a worker at half the budget and overtakes it at the budget', () => {
    const at = (other: number) => facts(other + 1_000, 1_000, 200_000); // budget 300,000
    expect(compactionDue(SCALED, at(149_999), 'worker')).toBe(false);
    expect(compactionDue(SCALED, at(150_000), 'worker')).toBe(true);
    expect(workerOvertaken(SCALED, at(299_999), 0)).toBe(false);
    expect(workerOvertaken(SCALED, at(300_000), 0)).toBe(true);
  });

  it('never lets the records a restore replays (adds aside) pass the budget unnoticed', () => {
    fc.assert(
      fc.property(fc.nat(2_000_000), fc.nat(2_000_000), fc.nat(1_000_000), (other, adds, tasks) => {
        const j = facts(other + adds, adds, tasks);
        const budget = scaledBudget(SCALED, tasks);
        expect(budget).toBe(Math.max(100_000, 1.5 * tasks));
        // At or over the budget, the main thread compacts and a worker is overtaken; under it, neither.
        expect(compactionDue(SCALED, j, 'main')).toBe(other >= budget);
        expect(workerOvertaken(SCALED, j, j.records)).toBe(other >= budget);
        // A worker starts no later than the main thread would.
        if (compactionDue(SCALED, j, 'main')) expect(compactionDue(SCALED, j, 'worker')).toBe(true);
      }),
    );
  });
});

it('for memoryStore, counts adds too: its journal entries are objects on the heap', () => {
    expect(defaultInterval('memory')).toBe(SCALED_IN_MEMORY);
    expect(defaultInterval('file')).toBe(SCALED);
    expect(defaultInterval('my-own-store')).toBe(SCALED);
    // 100,000 adds: due in memory, not in a file.
    expect(compactionDue(SCALED_IN_MEMORY, facts(100_000, 100_000, 10), 'main')).toBe(true);
    expect(compactionDue(SCALED, facts(100_000, 100_000, 10), 'main')).toBe(false);
    // A record per task beyond 100,000 tasks.
    expect(compactionDue(SCALED_IN_MEMORY, facts(299_999, 100_000, 300_000), 'main')).toBe(false);
    expect(compactionDue(SCALED_IN_MEMORY, facts(300_000, 100_000, 300_000), 'main')).toBe(true);
});

it('uses a worker by default only with a spare core', () => {
  expect([1, 2, 3, 4, 64].map(workerByDefault)).toEqual([false, false, true, true, true]);
});

describe('Durability under a scaled interval', () => {
  const EMPTY: ImageParts = {
    tasks: [],
    supervisor: { value: 'running', context: { pausedProjects: [], deadlocks: [] } },
    breakpoints: [],
    rules: [],
    disabledBreakpointTypes: [],
    qualityHistory: [],
    decisionState: null,
    failureStreaks: [],
  };
  const add = (id: string): JournalEntry => ({
    k: 'add',
    input: { id, projectId: 'p', title: id, priority: 5, dependencies: [], deadline: null, onDependencyFailure: 'block', maxRetries: 3, retryBaseMs: 60_000, metadata: null, at: 0 },
  });
  const start = (id: string): JournalEntry => ({ k: 'ev', t: id, e: { type: 'START', at: 1 } });

  /** A memory store whose compactions wait until `finish()`; the journal lengths they started at. */
  function heldStore() {
    const inner = memoryStore();
    const started: number[] = [];
    let release: (() => void) | null = null;
    const store: Store = Object.assign(Object.create(inner) as Store, {
      compact: (image: StoreImage) => {
        started.push(inner.journalLength);
        return new Promise<void>((resolve) => {
          release = () => void inner.compact(image).then(resolve);
        });
      },
    });
    const finish = async () => {
      release!();
      release = null;
      await new Promise((resolve) => setImmediate(resolve));
    };
    return { inner, store, started, finish };
  }

  function durability(store: Store, interval: CompactionInterval, tasks: () => number, compactor?: ReturnType<typeof heldWorker>['compactor']) {
    const errors: unknown[] = [];
    const d = new Durability(store, {
      compactEvery: interval,
      taskCount: tasks,
      onError: (error) => errors.push(error),
      image: () => EMPTY,
      background: compactor !== undefined,
      limits: { maxQualityHistory: 10 },
      ...(compactor ? { compactor } : {}),
    });
    d.open(new TaskHost());
    return { d, errors };
  }

  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('does not count adds, and counts the ones a compaction did not cover', async () => {
    const { inner, store, started, finish } = heldStore();
    let tasks = 0;
    const { d, errors } = durability(store, { perTask: 2, floor: 10 }, () => tasks);
    for (let i = 0; i < 30; i++) (tasks++, d.journal(add(`t${i}`)));
    await settle();
    expect(started).toEqual([]); // 30 adds, no other record: nothing to fold
    for (let i = 0; i < 59; i++) d.journal(start(`t${i % 30}`));
    await settle();
    expect(started).toEqual([]);
    d.journal(start('t0')); // the 60th other record: 2 per task
    await settle();
    expect(started).toEqual([90]);
    // While it runs: 10 tasks added, 5 other records. They stay in the journal.
    for (let i = 30; i < 40; i++) (tasks++, d.journal(add(`t${i}`)));
    for (let i = 0; i < 5; i++) d.journal(start(`t${i}`));
    await finish();
    expect(inner.journalLength).toBe(15);
    // 40 tasks: due again at 80 other records, the 5 kept included (not at 80 records in all).
    for (let i = 0; i < 74; i++) d.journal(start('t1'));
    await settle();
    expect(started).toEqual([90]);
    d.journal(start('t1'));
    await settle();
    expect(started).toEqual([90, 90]);
    await finish();
    expect(errors).toEqual([]);
  });

  it('counts the adds of a journal it opens', async () => {
    const { inner, store: held, started } = heldStore();
    for (let i = 0; i < 50; i++) inner.append(add(`t${i}`));
    const again = durability(held, { perTask: 2, floor: 10 }, () => 50);
    for (let i = 0; i < 99; i++) again.d.journal(start('t0'));
    await settle();
    expect(started).toEqual([]); // 149 records, 99 of them not adds: under 2 × 50
    again.d.journal(start('t0'));
    await settle();
    expect(started).toEqual([150]);
  });

  /**
   * A memory store that compacts "in a worker" too: its `compactFrom` waits for the compactor
   * below (held until `finish()`, stopped by its signal), then drops what it covered.
   */
  function heldWorker() {
    const inner = memoryStore();
    const started: { where: 'worker' | 'main'; at: number }[] = [];
    let release: (() => void) | null = null;
    let stopped = 0;
    const compactor = {
      snapshot: (_source: unknown, _limits: unknown, signal?: AbortSignal) =>
        new Promise<{ reused: boolean }>((resolve, reject) => {
          release = () => resolve({ reused: false });
          signal?.addEventListener('abort', () => (stopped++, reject(new Error('stopped'))));
        }),
      close() {},
    };
    const store: Store = Object.assign(Object.create(inner) as Store, {
      compact: (image: StoreImage) => (started.push({ where: 'main', at: inner.journalLength }), inner.compact(image)),
      compactFrom: async (make: NonNullable<Store['compactFrom']> extends (m: infer M) => unknown ? M : never) => {
        started.push({ where: 'worker', at: inner.journalLength });
        const covers = inner.seq;
        await make({ snapshot: '', snapshotSeq: 0, journal: '', journalBytes: 0, seq: covers, target: '' });
        await inner.compact(buildImage(EMPTY, covers));
      },
    });
    const finish = async () => {
      release!();
      release = null;
      await settle();
    };
    return { inner, store, started, finish, compactor, stopped: () => stopped };
  }

  it('starts a worker at half the budget, and counts the adds appended while it runs', async () => {
    const { inner, store, started, finish, compactor } = heldWorker();
    let tasks = 0;
    const { d, errors } = durability(store, { perTask: 2, floor: 10 }, () => tasks, compactor);
    for (let i = 0; i < 30; i++) (tasks++, d.journal(add(`t${i}`)));
    for (let i = 0; i < 29; i++) d.journal(start('t0'));
    await settle();
    expect(started).toEqual([]);
    d.journal(start('t0')); // 30 other records: half of 2 per task
    await settle();
    expect(started).toEqual([{ where: 'worker', at: 60 }]);
    for (let i = 30; i < 40; i++) (tasks++, d.journal(add(`t${i}`)));
    for (let i = 0; i < 5; i++) d.journal(start('t0'));
    await finish();
    expect(inner.journalLength).toBe(15); // 10 adds and 5 others came after it started
    // 40 tasks: the next worker at 40 other records, the 5 kept included.
    for (let i = 0; i < 34; i++) d.journal(start('t1'));
    await settle();
    expect(started).toHaveLength(1);
    d.journal(start('t1'));
    await settle();
    expect(started).toEqual([{ where: 'worker', at: 60 }, { where: 'worker', at: 50 }]);
    await finish();
    expect(errors).toEqual([]);
  });

  it('overtakes a worker at the whole budget: the main thread compacts everything then', async () => {
    const { inner, store, started, compactor, stopped } = heldWorker();
    const { d, errors } = durability(store, { perTask: 2, floor: 10 }, () => 30, compactor);
    for (let i = 0; i < 30; i++) d.journal(add(`t${i}`));
    for (let i = 0; i < 30; i++) d.journal(start('t0'));
    await settle();
    expect(started).toEqual([{ where: 'worker', at: 60 }]);
    for (let i = 0; i < 29; i++) d.journal(start('t0'));
    await settle();
    expect(stopped()).toBe(0);
    d.journal(start('t0')); // 60 other records: the budget
    await settle();
    expect(stopped()).toBe(1);
    expect(started).toEqual([{ where: 'worker', at: 60 }, { where: 'main', at: 90 }]);
    expect(inner.journalLength).toBe(0);
    // Nothing left counted: the next compaction (main thread, after an overtaken worker) at 60 other records.
    for (let i = 0; i < 59; i++) d.journal(start('t0'));
    await settle();
    expect(started).toHaveLength(2);
    d.journal(start('t0'));
    await settle();
    expect(started.at(-1)).toEqual({ where: 'main', at: 60 });
    expect(errors).toEqual([]);
  });

  it.each([
    ['fails before dropping anything: its adds still count', false],
    ['fails after dropping its records (a rename that failed, say): its adds no longer count', true],
  ])('a compaction that %s', async (_, dropped) => {
    const inner = memoryStore();
    const started: number[] = [];
    let failures = 1;
    const store: Store = Object.assign(Object.create(inner) as Store, {
      compact: async (image: StoreImage) => {
        started.push(inner.journalLength);
        if (dropped) await inner.compact(image);
        if (failures-- > 0) throw new Error('EIO');
        if (!dropped) await inner.compact(image);
      },
    });
    let tasks = 30;
    const { d, errors } = durability(store, { perTask: 2, floor: 10 }, () => tasks);
    for (let i = 0; i < 30; i++) d.journal(add(`t${i}`));
    for (let i = 0; i < 60; i++) d.journal(start('t0'));
    await settle();
    expect(started).toEqual([90]);
    expect(errors).toHaveLength(1);
    expect(inner.journalLength).toBe(dropped ? 0 : 90);
    tasks = 45; // a budget of 90 other records from now on
    if (dropped) {
      // Nothing is left but what comes now: due at 90 other records, not 30 sooner (as if its 30 adds were still there).
      for (let i = 0; i < 89; i++) d.journal(start('t0'));
      await settle();
      expect(started).toEqual([90]);
      d.journal(start('t0'));
    } else {
      // 30 adds and 61 others: not due until 90 others (it would be now if the failure had let its adds go).
      d.journal(start('t0'));
      await settle();
      expect(started).toEqual([90]);
      for (let i = 0; i < 29; i++) d.journal(start('t0'));
    }
    await settle();
    expect(started).toEqual([90, dropped ? 90 : 120]);
  });
});

describe('the runtime under the default policy', () => {
  it('gives a large state a larger budget: 120,000 tasks added and made ready (120,000 other records) are not compacted', async () => {
    // With a fixed 100,000 (or a budget blind to the tasks) this would compact; 1.5 per task allows 180,000.
    const store = jsonFileStore(join(mkdtempSync(join(tmpdir(), 'overseer-policy-')), 'state.json'));
    const o = createOverseer({ store, backgroundCompaction: false });
    o.scheduleTasks(Array.from({ length: 120_000 }, (_, i) => ({ id: `t${i}` })));
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.journalLength).toBe(240_000);
    // 60,000 more records (each task started) reach the budget: compacted.
    for (let i = 0; i < 60_000; i++) o.getNextTask();
    for (let i = 0; i < 2_000 && store.journalLength >= 1_000; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(store.journalLength).toBeLessThan(1_000);
    await o.close();
  });
});
