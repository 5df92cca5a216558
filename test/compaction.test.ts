/**
 * Compaction off the main thread (runtime/compactor.ts): a snapshot made from the store's
 * files by replaying them must be the one the live runtime would write, the worker's
 * snapshot is swapped in without losing a record appended meanwhile, and a worker that
 * fails leaves the compaction to the main thread, said once.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { CompactionWorker, SnapshotMaker } from '../runtime/compactor.js';
import { createOverseer, jsonFileStore, memoryStore, readStoreFile, type Overseer, type SnapshotSource, type Store } from '../runtime/index.js';
import { ROOT } from './helpers/cli.js';
import { until } from './helpers/until.js';
import { tempStorePath } from './helpers/temp.js';
import { dirname } from 'node:path';

const T0 = 1_700_000_000_000;
const tempPath = () => tempStorePath('overseer-compaction-');

/** Retries, a failure that blocks, an ignored one, a cancel, a boost, a deadline, a pause, a breakpoint rule: one step each. */
function steps(o: Overseer, clock: SimulatedClock): (() => unknown)[] {
  return [
    () =>
      o.scheduleTasks([
        { id: 'done', priority: 6 },
        { id: 'after', dependencies: ['done'] },
        { id: 'flaky', priority: 9, retryBaseMs: 1_000, maxRetries: 3 },
        { id: 'dead', priority: 10, maxRetries: 0 },
        { id: 'child', dependencies: ['dead'] },
        { id: 'loose', dependencies: ['dead'], onDependencyFailure: 'ignore' },
        { id: 'urgent', deadline: T0 + 60_000 },
        { id: 'gone' },
        { id: 'other', projectId: 'q' },
      ]),
    () => o.markFailed(o.getNextTask()!.id, 'broken'), // dead: fails for good
    () => clock.increment(10),
    () => o.markFailed(o.getNextTask()!.id, 'flaky once'), // flaky: retrying
    () => o.markComplete(o.getNextTask()!.id, { ok: true }),
    () => o.cancelTask('gone', 'not needed'),
    () => o.pause('q'),
    () => o.addCustomRule({ type: 'slow_review', priority: 'low', condition: 'event == "task.completed" && task.id == "after"' }),
    () => clock.increment(2_000), // the retry comes due
  ];
}

function work(o: Overseer, clock: SimulatedClock): void {
  for (const step of steps(o, clock)) step();
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * `inner` with its main-thread compactions counted and `overrides` in place of its own
 * methods (a store's methods and getters are closures, so the rest is inherited).
 */
function counting(inner: Store, overrides: Partial<Store> = {}): { store: Store; inline: () => number } {
  let inline = 0;
  const store: Store = Object.assign(Object.create(inner) as Store, {
    compact: (image: Parameters<Store['compact']>[0]) => (inline++, inner.compact(image)),
    ...overrides,
  });
  return { store, inline: () => inline };
}

const withoutTime = (image: Record<string, unknown>) => ({ ...image, savedAt: 0 });

/** A snapshot of the store at `path` up to record `seq`, from the whole journal written so far (none yet: 0 bytes), into `target`. */
const sourceFor = (path: string, seq: number, target: string): SnapshotSource => ({
  snapshot: path,
  snapshotSeq: 0,
  journal: `${path}.journal`,
  journalBytes: existsSync(`${path}.journal`) ? statSync(`${path}.journal`).size : 0,
  seq,
  target,
});

describe('a snapshot made from the store files', () => {
  it.each([
    ['the journal alone', 1_000_000],
    ['a snapshot and the journal after it', 12],
  ])('from %s equals the one the live runtime writes at close', async (_, compactEvery) => {
    const path = tempPath();
    const clock = new SimulatedClock();
    clock.set(T0);
    const store = jsonFileStore(path);
    const quality = { maxHistory: 2, validators: [{ name: 'v', weight: 1, validate: () => ({ score: 1, issues: [] }) }] };
    const o = createOverseer({ clock, store, compactEvery, backgroundCompaction: false, quality: quality as never });
    work(o, clock);
    // Quality records, more than the controller keeps: the snapshot holds its last 2, as the runtime does.
    for (let i = 0; i < 5; i++) await o.quality.validateOutput({ workdir: dirname(path), response: 'x' }, { id: `t${i}`, projectId: 'p', title: 't' });
    await until('inline compactions to settle', () => compactEvery > 100 || (existsSync(path) && store.journalLength < compactEvery));
    await o.flush();
    if (compactEvery < 100) expect(existsSync(path)).toBe(true);
    const target = `${path}.made`;
    new SnapshotMaker().make(sourceFor(path, store.seq, target), { maxQualityHistory: 2 });
    const seq = store.seq;
    await o.close();
    expect(store.seq).toBe(seq); // close itself journals nothing: the two snapshots cover the same records
    const live = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const made = JSON.parse(readFileSync(target, 'utf8')) as Record<string, unknown>;
    expect((live.tasks as unknown[]).length).toBe(9);
    expect(live.qualityHistory).toHaveLength(2);
    expect(withoutTime(made)).toEqual(withoutTime(live));
  });

  it('refuses a journal that does not reach the sequence number it was promised', async () => {
    const path = tempPath();
    const store = jsonFileStore(path);
    const o = createOverseer({ store });
    o.scheduleTask({ id: 'a' });
    await o.flush();
    expect(() => new SnapshotMaker().make(sourceFor(path, store.seq + 1, `${path}.made`), { maxQualityHistory: 10 })).toThrow(
      `expected records up to ${store.seq + 1}, found up to ${store.seq}`,
    );
    await o.close();
  });
});

describe('a worker that keeps the state it wrote', () => {
  it('starts its next snapshot from it, unless the store has written another since, and the snapshots stay exact', async () => {
    const path = tempPath();
    const inner = jsonFileStore(path);
    const inline: Promise<void>[] = [];
    const store: Store = Object.assign(Object.create(inner) as Store, {
      compact: (image: Parameters<Store['compact']>[0]) => (inline.push(inner.compact(image)), inline.at(-1)!),
    });
    const settled = async () => {
      while (inline.length > 0) await inline.shift();
      await tick();
    };
    const clock = new SimulatedClock();
    clock.set(T0);
    // Compactions of its own on the main thread every 8 records, and some made by `maker` as a worker makes them.
    const o = createOverseer({ clock, store, compactEvery: 8, backgroundCompaction: false });
    const maker = new SnapshotMaker();
    const viaMaker = async () => {
      await o.flush();
      await inner.compactFrom!(async (source) => maker.make(source, { maxQualityHistory: 10 }));
      return maker.reused;
    };
    /** What a process opening a copy of the store now sees. */
    const restartSees = async () => {
      const copy = tempPath();
      for (const suffix of ['', '.journal']) if (existsSync(path + suffix)) copyFileSync(path + suffix, copy + suffix);
      const again = new SimulatedClock();
      again.set(clock.now());
      const restored = createOverseer({ clock: again, store: jsonFileStore(copy) });
      const seen = JSON.parse(JSON.stringify(restored.getTasks())) as unknown;
      await restored.close();
      return seen;
    };
    const [schedule, ...rest] = steps(o, clock);
    schedule!(); // 17 records
    await settled(); // the main thread wrote a snapshot: the maker has none of its own
    expect(await viaMaker()).toBe(false);
    rest[0]!(); // a failure for good: 5 records, fewer than the main thread compacts at
    expect(await viaMaker()).toBe(true);
    rest[2]!(); // a retry and a completion: 6
    rest[3]!();
    expect(await viaMaker()).toBe(true);
    expect(await restartSees()).toEqual(JSON.parse(JSON.stringify(o.getTasks())));
    // Enough records for the main thread to compact: the maker's state is not the store's snapshot now.
    o.scheduleTasks(Array.from({ length: 8 }, (_, i) => ({ id: `more${i}`, dependencies: ['flaky'] })));
    await settled();
    rest[4]!(); // a cancel
    expect(await viaMaker()).toBe(false);
    expect(await restartSees()).toEqual(JSON.parse(JSON.stringify(o.getTasks())));
    await o.close();
  });

  it('in a worker thread, lives from one snapshot to the next; stopped, its successor starts afresh', async () => {
    const path = tempPath();
    const store = jsonFileStore(path);
    const o = createOverseer({ store, compactEvery: 1_000_000, backgroundCompaction: false });
    const worker = new CompactionWorker();
    const limits = { maxQualityHistory: 10 };
    /** A snapshot by the worker; `stop` aborts it once the worker has been asked. */
    const snapshot = async (stop?: AbortController) => {
      await o.flush();
      let reused: boolean | undefined;
      await store.compactFrom!(async (source) => {
        const made = worker.snapshot(source, limits, stop?.signal);
        stop?.abort(new Error('overtaken'));
        ({ reused } = await made);
      });
      return reused;
    };
    try {
      o.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
      expect(await snapshot()).toBe(false);
      o.markComplete(o.getNextTask()!.id);
      expect(await snapshot()).toBe(true);
      o.scheduleTask({ id: 'c' });
      await expect(snapshot(new AbortController())).rejects.toThrow('overtaken');
      expect(existsSync(`${path}.compacting`)).toBe(false);
      expect(await snapshot()).toBe(false); // a new worker: nothing kept
      expect(readStoreFile(path).image!.tasks.map((t) => `${t.context.id}:${t.value}`)).toEqual(['a:completed', 'b:ready', 'c:ready']);
    } finally {
      worker.close();
      await o.close();
    }
  });
});

describe('CompactionWorker', () => {
  /** A store with `n` tasks journaled, and the source of a snapshot of it into `target`. */
  async function journaled(n: number) {
    const path = tempPath();
    const store = jsonFileStore(path);
    const o = createOverseer({ store, backgroundCompaction: false });
    for (let i = 0; i < n; i++) o.scheduleTask({ id: `t${i}` });
    await o.flush();
    const source = (target: string) => sourceFor(path, store.seq, `${path}.${target}`);
    return { path, o, source, limits: { maxQualityHistory: 10 } };
  }

  it('does not let the reply of a worker it stopped settle the next snapshot', async () => {
    const { path, o, source, limits } = await journaled(200);
    const worker = new CompactionWorker();
    const stop = new AbortController();
    const first = worker.snapshot(source('first'), limits, stop.signal);
    await tick(); // its worker thread is started
    // Keep this thread busy until the first worker has written its snapshot and posted its reply;
    // the reply is then waiting in the queue when the worker is stopped and the next one asked.
    const wrote = () => existsSync(`${path}.first`) && statSync(`${path}.first`).size > 0;
    for (const start = Date.now(); !wrote() && Date.now() - start < 20_000; );
    expect(wrote()).toBe(true);
    for (const start = Date.now(); Date.now() - start < 300; );
    stop.abort(new Error('overtaken'));
    const second = worker.snapshot(source('second'), limits);
    await expect(first).rejects.toThrow('overtaken');
    await second;
    expect(existsSync(`${path}.second`)).toBe(true); // resolved by its own worker, once written
    worker.close();
    await o.close();
  });

  it("does not let a stopped snapshot's signal stop the next one", async () => {
    const { path, o, source, limits } = await journaled(20);
    const worker = new CompactionWorker();
    const firstSignal = new AbortController();
    const first = worker.snapshot(source('first'), limits, firstSignal.signal);
    await tick(); // its worker thread is started
    worker.close(); // stops the first: it settles once that thread has exited
    const second = worker.snapshot(source('second'), limits);
    firstSignal.abort(new Error('too late'));
    await expect(first).rejects.toThrow('the compaction worker was closed');
    await expect(second).resolves.toEqual({ reused: false });
    expect(existsSync(`${path}.second`)).toBe(true);
    worker.close();
    await o.close();
  });
});

describe('a process that never closes its overseer', () => {
  it('still exits once its work is done: an idle compaction worker does not hold it', () => {
    const path = tempPath();
    // From source, as vitest runs it: the worker starts through tsx, as in every test here.
    const script = `
      const { createOverseer, jsonFileStore } = await import('./runtime/index.ts');
      const store = jsonFileStore(${JSON.stringify(path)});
      const o = createOverseer({ store, compactEvery: 20, backgroundCompaction: true });
      for (let i = 0; i < 60; i++) o.scheduleTask({ id: 't' + i });
      while (store.journalLength >= 20) await new Promise((resolve) => setTimeout(resolve, 20));
      console.log('compacted in the background, not closed');
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 25_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('compacted in the background, not closed');
    expect({ status: run.status, signal: run.signal }).toEqual({ status: 0, signal: null }); // not killed by the timeout
  });
});

describe('memoryStore keeps images by reference', () => {
  it('and every image stays what it was when taken, while the runtime goes on changing', async () => {
    const inner = memoryStore();
    const taken: { image: unknown; json: string }[] = [];
    const store: Store = Object.assign(Object.create(inner) as Store, {
      compact: (image: Parameters<Store['compact']>[0]) => (taken.push({ image, json: JSON.stringify(image) }), inner.compact(image)),
    });
    const clock = new SimulatedClock();
    clock.set(T0);
    const o = createOverseer({ clock, store, compactEvery: 2 });
    for (const step of steps(o, clock)) {
      step();
      await tick();
    }
    // More of what changes in place: a task with a priority change already (it has a
    // dependent) gets another one after it is retried, with images taken in between.
    o.scheduleTasks([{ id: 'base', priority: 10, retryBaseMs: 1_000, maxRetries: 5 }, { id: 'top', dependencies: ['base'] }]);
    await tick();
    expect(o.getTaskStatus('base')?.priorityChanges).toHaveLength(1);
    for (let i = 0; i < 4; i++) {
      const next = o.getNextTask();
      if (!next) break;
      clock.increment(5);
      o.markFailed(next.id, 'again');
      await tick();
      clock.increment(60_000);
      await tick();
    }
    expect(o.getTaskStatus('base')?.priorityChanges.length).toBeGreaterThan(1);
    expect(taken.length).toBeGreaterThan(5);
    const changed = taken.flatMap(({ image, json }, i) => (JSON.stringify(image) === json ? [] : [`image ${i + 1} of ${taken.length}`]));
    expect(changed, 'images changed after they were taken').toEqual([]);
    await o.flush();
    const live = o.getTasks().map((t) => JSON.stringify(t));
    await inner.close(); // what a crash leaves: the last image and the journal after it
    const restored = createOverseer({ clock, store: inner });
    expect(restored.getTasks().map((t) => JSON.stringify(t))).toEqual(live);
    await restored.close();
  });
});

describe('memoryStore journal', () => {
  it('keeps a context key this build does not know, through a transition and a restart', async () => {
    const store = memoryStore();
    const first = createOverseer({ store });
    first.scheduleTask({ id: 'a' });
    await first.close();
    // What a newer build (or another program) left in the image: a key this build does not know.
    const contents = store.open();
    const task = contents.image!.tasks[0]!;
    task.context = { ...task.context, reviewer: 'ana' } as typeof task.context;
    await store.compact(contents.image!);
    await store.close();
    const second = createOverseer({ store });
    expect(second.getNextTask()?.id).toBe('a');
    await second.close();
    const after = store.open().image!.tasks[0]!;
    expect(after.value).toBe('running');
    expect(after.context).toHaveProperty('reviewer', 'ana');
    await store.close();
  });

  it('numbers records across compactions and refuses an image that does not fit its journal', async () => {
    const store = memoryStore();
    store.open();
    const record = (id: string) => ({ k: 'ign' as const, t: id, d: 'x' });
    for (const id of ['a', 'b', 'c', 'd', 'e']) store.append(record(id));
    const image = (seq: number) => ({ schemaVersion: 3, seq, savedAt: 0, supervisor: { value: 'running' as const, context: { pausedProjects: [], holds: [] } as never }, tasks: [] });
    await store.compact(image(3));
    expect(store.journalLength).toBe(2);
    store.append(record('f'));
    await expect(store.compact(image(2))).rejects.toThrow('an image of record 2 cannot replace a journal of records 4..6');
    await expect(store.compact(image(7))).rejects.toThrow('an image of record 7 cannot replace a journal of records 4..6');
    await store.close();
    const { image: kept, journal } = store.open();
    expect(kept?.seq).toBe(3);
    expect(journal.map((r) => [r.s, (r as { t: string }).t])).toEqual([[4, 'd'], [5, 'e'], [6, 'f']]);
  });
});

describe('background compaction', () => {
  it('runs in a worker, keeps what was appended meanwhile, and restores exactly after a crash', async () => {
    const path = tempPath();
    const errors: unknown[] = [];
    const store = jsonFileStore(path);
    const o = createOverseer({ store, compactEvery: 70, backgroundCompaction: true, onError: (e) => errors.push(e) });
    o.scheduleTasks(Array.from({ length: 30 }, (_, i) => ({ id: `t${i}`, dependencies: i > 0 ? [`t${i - 1}`] : [] })));
    // 30 adds, 29 priority boosts (a dependent each), 1 ready: under 70. Completing tasks
    // crosses it; the worker's snapshot lands while the loop goes on appending (120 records
    // in all: under 140, where the main thread would take over).
    for (let i = 0; i < 20; i++) {
      o.markComplete(o.getNextTask()!.id);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until('a snapshot written by the worker', () => existsSync(path) && !existsSync(`${path}.compacting`), 20_000);
    expect(errors).toEqual([]);
    const snapshot = JSON.parse(readFileSync(path, 'utf8')) as { seq: number; tasks: unknown[] };
    expect(snapshot.seq).toBeGreaterThanOrEqual(70);
    expect(snapshot.tasks).toHaveLength(30);
    // The journal keeps exactly the records after the snapshot, those appended while the worker ran included.
    expect(store.journalLength).toBe(store.seq - snapshot.seq);
    expect(store.journalLength).toBeGreaterThan(0);
    await o.flush();
    const expected = o.getTasks().map((t) => `${t.id}:${t.state}`);

    // What a restart sees if the process died now: the worker's snapshot and the journal after it.
    const copy = tempPath();
    for (const suffix of ['', '.journal']) copyFileSync(path + suffix, copy + suffix);
    const restored = createOverseer({ store: jsonFileStore(copy) });
    expect(restored.recovery?.replayed).toBe(store.journalLength);
    expect(restored.getTasks().map((t) => `${t.id}:${t.state}`)).toEqual(expected);
    await restored.close();
    await o.close();
  });

  it('a worker that falls behind is overtaken: the main thread compacts, and the journal stays under twice compactEvery', async () => {
    const path = tempPath();
    const inner = jsonFileStore(path);
    let longest = 0;
    const { store, inline } = counting(inner, {
      append: (entry) => {
        inner.append(entry);
        longest = Math.max(longest, inner.journalLength);
      },
    });
    const errors: unknown[] = [];
    const o = createOverseer({ store, compactEvery: 100, backgroundCompaction: true, onError: (e) => errors.push(e) });
    // Bursts of 20 records a turn while a worker starts (hundreds of ms): it cannot keep up.
    for (let i = 0; i < 30; i++) {
      o.scheduleTasks(Array.from({ length: 10 }, (_, j) => ({ id: `t${i}-${j}` })));
      await tick();
    }
    await until('compactions to settle', () => !existsSync(`${path}.compacting`) && inner.journalLength < 200);
    expect(errors).toEqual([]);
    expect(inline()).toBeGreaterThanOrEqual(1);
    // It reached twice compactEvery (plus what landed while the overtaken worker stopped:
    // timing, not asserted) and came back down.
    expect(longest).toBeGreaterThanOrEqual(200);
    await o.close();
    const reopened = createOverseer({ store: jsonFileStore(path) });
    expect(reopened.getTasks()).toHaveLength(300);
    await reopened.close();
  });

  it('a worker is overtaken by what comes after it started, not by the records it was given', async () => {
    const path = tempPath();
    const inner = jsonFileStore(path);
    const { store, inline } = counting(inner);
    const o = createOverseer({ store, compactEvery: 50, backgroundCompaction: true });
    o.scheduleTasks(Array.from({ length: 120 }, (_, i) => ({ id: `t${i}` }))); // 240 records in one call
    await Promise.resolve(); // the worker starts with all of them
    o.scheduleTask({ id: 'one-more' });
    await until('the worker’s snapshot', () => existsSync(path) && !existsSync(`${path}.compacting`));
    expect(inline()).toBe(0);
    expect((JSON.parse(readFileSync(path, 'utf8')) as { tasks: unknown[] }).tasks).toHaveLength(120);
    await o.close();
  });

  it('a half-written snapshot a killed process left is removed when the store is opened, and never read', async () => {
    const path = tempPath();
    const first = createOverseer({ store: jsonFileStore(path) });
    first.scheduleTask({ id: 'a' });
    await first.close();
    writeFileSync(`${path}.compacting`, '{"schemaVersion":2,"seq":99,"tas');
    const again = createOverseer({ store: jsonFileStore(path) });
    expect(existsSync(`${path}.compacting`)).toBe(false);
    expect(again.getTasks().map((t) => t.id)).toEqual(['a']);
    await again.close();
  });

  it('close() stops a compaction in flight: its final snapshot supersedes it, nothing is reported', async () => {
    const path = tempPath();
    const errors: unknown[] = [];
    const store = jsonFileStore(path);
    const o = createOverseer({ store, compactEvery: 5, backgroundCompaction: true, onError: (e) => errors.push(e) });
    for (let i = 0; i < 4; i++) o.scheduleTask({ id: `t${i}` });
    await tick(); // the worker is starting
    await o.close();
    expect(errors).toEqual([]);
    expect(existsSync(`${path}.compacting`)).toBe(false);
    expect(readFileSync(`${path}.journal`, 'utf8').trimEnd().split('\n')).toHaveLength(1); // the header: all is in the snapshot
    const reopened = createOverseer({ store: jsonFileStore(path) });
    expect(reopened.getTasks().map((t) => t.state)).toEqual(['ready', 'ready', 'ready', 'ready']);
    await reopened.close();
  });

  /** A file store whose `compactFrom` is `compactFrom` (the calls counted), under a runtime that compacts every 5 records and keeps the errors it reports. */
  function failing(compactFrom: (inner: Store, make: Parameters<NonNullable<Store['compactFrom']>>[0], offered: number) => Promise<void>) {
    const path = tempPath();
    const inner = jsonFileStore(path);
    let offered = 0;
    const { store, inline } = counting(inner, { compactFrom: (make) => compactFrom(inner, make, ++offered) });
    const errors: { error: unknown; source: string }[] = [];
    const o = createOverseer({ store, compactEvery: 5, backgroundCompaction: true, onError: (error, source) => errors.push({ error, source }) });
    return { path, inner, inline, errors, o, offered: () => offered };
  }

  /** Closes `o`; the tasks a runtime opening its store again finds. */
  async function tasksAfterRestart(o: Overseer, path: string): Promise<number> {
    await o.close();
    const reopened = createOverseer({ store: jsonFileStore(path) });
    const n = reopened.getTasks().length;
    await reopened.close();
    return n;
  }

  it('a worker that fails is reported once, and its compaction and the later ones run on the main thread', async () => {
    // The store's own files, but a maker that breaks: what a worker that cannot start does.
    const { path, inner, inline, errors, o, offered } = failing((inner, make) =>
      inner.compactFrom!(async (source) => {
        await make({ ...source, snapshot: `${source.snapshot}.missing-dir/x`, seq: source.seq + 1 });
      }),
    );
    for (let i = 0; i < 8; i++) {
      o.scheduleTask({ id: `t${i}` });
      await until('the compaction to settle', () => !existsSync(`${path}.compacting`) && inner.journalLength < 5);
    }
    expect(offered()).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.source).toMatch(/background store compaction \(compacting on the main thread from now on\)/);
    expect(String(errors[0]!.error)).toMatch(/expected records up to/);
    expect(inline()).toBeGreaterThanOrEqual(2);
    expect(await tasksAfterRestart(o, path)).toBe(8);
  });

  it("a store that fails to swap a worker's snapshot in is reported as a failed compaction; the worker stays in use", async () => {
    // The worker makes its snapshot; the store's own step after it (rename, journal rewrite) fails once.
    const { path, inner, inline, errors, o, offered } = failing((inner, make, n) =>
      n === 1 ? inner.compactFrom!(make).then(() => Promise.reject(new Error('EIO: rename'))) : inner.compactFrom!(make),
    );
    for (let i = 0; i < 6; i++) o.scheduleTask({ id: `t${i}` });
    await until('the failure to be reported', () => errors.length > 0);
    for (let i = 6; i < 12; i++) o.scheduleTask({ id: `t${i}` });
    await until('a second compaction in a worker', () => offered() >= 2 && !existsSync(`${path}.compacting`) && inner.journalLength < 5);
    expect(errors).toEqual([{ error: new Error('EIO: rename'), source: 'store compaction' }]);
    expect(inline()).toBe(0);
    expect(await tasksAfterRestart(o, path)).toBe(12);
  });

  it('is not used by a store that cannot make snapshots from files, and is a boolean option', async () => {
    expect(() => createOverseer({ backgroundCompaction: 'yes' as never })).toThrow(/options\.backgroundCompaction: must be true or false, got "yes"/);
    const store = memoryStore();
    const o = createOverseer({ store, compactEvery: 3, backgroundCompaction: true });
    for (let i = 0; i < 5; i++) o.scheduleTask({ id: `t${i}` });
    await until('a compaction', () => store.journalLength < 3);
    await o.close();
  });

  it('CompactionWorker reports the worker error', async () => {
    const path = tempPath();
    const worker = new CompactionWorker();
    try {
      await expect(worker.snapshot(sourceFor(path, 5, `${path}.made`), { maxQualityHistory: 10 })).rejects.toThrow(/expected records up to 5, found up to 0/);
    } finally {
      worker.close();
    }
  });
});
