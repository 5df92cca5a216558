/**
 * When the journal is folded into a snapshot (runtime/compaction-policy.ts), alone and as the
 * runtime's Durability applies it: `add` records are not counted, the budget scales with the
 * tasks, a worker starts at half of it and is overtaken at all of it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compactionDue, SCALED, scaledBudget, workerByDefault, workerOvertaken, type CompactionInterval, type JournalFacts } from '../runtime/compaction-policy.js';
import { Durability } from '../runtime/durability.js';
import type { ImageParts } from '../runtime/persistence.js';
import { TaskHost } from '../runtime/task-host.js';
import { memoryStore } from '../store/memory.js';
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

  function durability(store: Store, interval: CompactionInterval, tasks: () => number) {
    const errors: unknown[] = [];
    const d = new Durability(store, {
      compactEvery: interval,
      taskCount: tasks,
      onError: (error) => errors.push(error),
      image: () => EMPTY,
      background: false,
      limits: { maxQualityHistory: 10 },
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
});
