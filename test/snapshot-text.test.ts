/**
 * The file store writes a task's JSON again only when the task changed since the last
 * snapshot (store/snapshot-text.ts); it reuses the rest. A task whose JSON were reused
 * after it changed would be out of date in the file: so under random work, with a
 * compaction every few records, every snapshot must hold exactly the image the runtime
 * handed over, and a restart (from the snapshots alone, and from the snapshot plus
 * journal a crash leaves) must show exactly the world the runtime showed.
 */
import { copyFileSync, existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createOverseer, jsonFileStore, readStoreFile, type Overseer, type Store } from '../runtime/index.js';
import { SnapshotText } from '../store/snapshot-text.js';
import { decodeTask, encodeTask } from '../store/task-codec.js';
import type { StoreImage } from '../store/types.js';
import { tempStorePath } from './helpers/temp.js';

const T0 = 1_700_000_000_000;

/** Everything the API shows, as plain data. */
const picture = (o: Overseer) => ({ tasks: JSON.parse(JSON.stringify(o.getTasks())) as unknown, ready: o.getReadyTasks().map((t) => t.id) });

/**
 * `inner`, with every compaction the runtime starts kept, to wait for them; once each is
 * done, the snapshot file must hold exactly the image the runtime handed over.
 */
function tracked(inner: Store, path: string) {
  const running: { image: StoreImage; done: Promise<void> }[] = [];
  let checked = 0;
  const store: Store = Object.assign(Object.create(inner) as Store, {
    compact: (image: StoreImage) => {
      const done = inner.compact(image);
      running.push({ image, done });
      return done;
    },
  });
  return {
    store,
    /** Waits for every compaction started so far (the runtime starts one in a microtask) and checks each. */
    settled: async () => {
      const tick = () => new Promise((resolve) => setImmediate(resolve));
      await tick();
      for (let next = running.shift(); next; next = running.shift()) {
        await next.done;
        checked++;
        expect(readStoreFile(path).image!.tasks).toEqual(JSON.parse(JSON.stringify(next.image.tasks)));
        await tick();
      }
    },
    checked: () => checked,
  };
}

/** One step of work; each picks its task by `n` among those it applies to, and does nothing if there is none. */
const step = fc.oneof(
  fc.record({ op: fc.constant('schedule' as const), priority: fc.integer({ min: 1, max: 10 }), dep: fc.nat(), deadline: fc.boolean(), ignore: fc.boolean(), maxRetries: fc.constantFrom(0, 1) }),
  fc.record({ op: fc.constantFrom('start', 'complete', 'fail', 'cancel', 'retry', 'block', 'unblock', 'changes' as const), n: fc.nat() }),
  fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 120_000 }) }),
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

function apply(o: Overseer, clock: SimulatedClock, s: Step, added: number): number {
  const pick = (state: string) => {
    const tasks = o.getTasks({ state: state as never });
    return tasks.length === 0 ? null : tasks[(s as { n: number }).n % tasks.length]!.id;
  };
  switch (s.op) {
    case 'schedule': {
      const id = `t${added}`;
      const dependencies = added > 0 && s.dep % 3 === 0 ? [`t${s.dep % added}`] : [];
      o.scheduleTask({
        id, priority: s.priority, dependencies, retryBaseMs: 1_000, maxRetries: s.maxRetries,
        // A failed dependency that is ignored, then retried by hand and completed: the task's ignore list fills and empties.
        onDependencyFailure: s.ignore ? 'ignore' : 'block',
        ...(s.deadline ? { deadline: clock.now() + 300_000 } : {}),
      });
      return added + 1;
    }
    case 'start':
      o.getNextTask();
      break;
    case 'complete': {
      const id = pick('running');
      if (id) o.markComplete(id, { by: s.n });
      break;
    }
    case 'fail': {
      const id = pick('running');
      if (id) o.markFailed(id, `failure ${s.n}`);
      break;
    }
    case 'cancel': {
      const id = pick('ready') ?? pick('pending');
      if (id) o.cancelTask(id, 'not needed');
      break;
    }
    case 'retry': {
      const id = pick('failed');
      if (id) o.retryTask(id);
      break;
    }
    case 'block': {
      const id = pick('ready');
      if (id) o.blockTask(id, `hold ${s.n}`);
      break;
    }
    case 'unblock': {
      const id = pick('blocked');
      if (id && o.getTaskStatus(id)?.blockedReason?.reason !== 'upstream_failed') o.unblockTask(id);
      break;
    }
    case 'changes': {
      // A new context in the same state: no transition, no history record.
      const id = pick('running');
      if (id) o.recordChanges(id, [{ path: `f${s.n}.ts`, kind: 'modified', at: clock.now() }]);
      break;
    }
    case 'wait':
      clock.increment(s.ms); // retries come due, deadlines come near (a boost)
      break;
  }
  return added;
}

describe('snapshots that reuse the JSON of unchanged tasks', () => {
  it('restart to the world the runtime showed, after close and after a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 60 }), async (steps) => {
        const path = tempStorePath('overseer-snapshot-text-');
        const clock = new SimulatedClock();
        clock.set(T0);
        const tracker = tracked(jsonFileStore(path), path);
        const o = createOverseer({ clock, store: tracker.store, compactEvery: 4, backgroundCompaction: false });
        let added = 0;
        for (const s of steps) {
          added = apply(o, clock, s, added);
          await tracker.settled();
        }
        // A task still running at a restart comes back as an interrupted attempt: none is left running.
        for (const t of o.getTasks({ state: 'running' })) o.markComplete(t.id);
        await tracker.settled();
        await o.flush();
        const before = picture(o);
        // What a crash leaves: the last snapshot and the journal since.
        const crash = tempStorePath('overseer-snapshot-text-crash-');
        for (const suffix of ['', '.journal']) if (existsSync(path + suffix)) copyFileSync(path + suffix, crash + suffix);
        if (tracker.store.seq >= 8) expect(tracker.checked()).toBeGreaterThan(0); // compactEvery is 4
        await o.close(); // the final snapshot, which reuses the most

        for (const copy of [path, crash]) {
          const again = new SimulatedClock();
          again.set(clock.now());
          const restored = createOverseer({ clock: again, store: jsonFileStore(copy) });
          expect(picture(restored)).toEqual(before);
          await restored.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('writes again a task whose ignore list empties (the ignored dependency retried and completed), though nothing else of it changed', async () => {
    const path = tempStorePath('overseer-snapshot-text-');
    const clock = new SimulatedClock();
    clock.set(T0);
    const tracker = tracked(jsonFileStore(path), path);
    const o = createOverseer({ clock, store: tracker.store, compactEvery: 1, backgroundCompaction: false });
    o.scheduleTasks([{ id: 'up', maxRetries: 0 }, { id: 'down', dependencies: ['up'], onDependencyFailure: 'ignore' }]);
    o.markFailed(o.getNextTask()!.id, 'broken'); // down ignores it and becomes ready
    await tracker.settled();
    expect(readStoreFile(path).image!.tasks.find((t) => t.context.id === 'down')?.ignored).toEqual(['up']);
    o.retryTask('up');
    clock.increment(60_000);
    o.markComplete(o.getNextTask('default')!.id === 'up' ? 'up' : o.getNextTask()!.id);
    await tracker.settled(); // each snapshot is checked against its image
    expect(readStoreFile(path).image!.tasks.find((t) => t.context.id === 'down')?.ignored).toBeUndefined();
    await o.close();
  });

  it('writes what a fresh serialization writes, image after image', () => {
    const text = new SnapshotText();
    const context = (id: string, attempts: number) => ({
      id, projectId: 'p', title: id, priority: 5, dependencies: [], deadline: null, onDependencyFailure: 'block' as const, maxRetries: 3, retryBaseMs: 60_000,
      attempts, retries: 0, lastError: null, result: null, retryAt: null, blockedReason: null, history: [{ from: null, to: 'pending' as const, at: T0 }], metadata: null,
    });
    const a = { value: 'ready' as const, context: context('a', 0), effective: 5, boosts: [] };
    const b = { value: 'ready' as const, context: context('b', 0), effective: 5, boosts: [] };
    const image = (tasks: StoreImage['tasks'], seq: number): StoreImage => ({ schemaVersion: 3, seq, savedAt: 0, supervisor: { value: 'running', context: { pausedProjects: [], deadlocks: [] } }, tasks });
    // Each image changes one part of a task (a part is replaced, never changed in place, as in the runtime).
    const boosted = { ...a, effective: 7, boosts: ['deadline_within_1h' as const] };
    const images = [
      image([a, b], 1),
      image([a, { ...b, context: context('b', 1) }], 2), // a new context
      image([{ ...a, value: 'running' }, b], 3), // a new state, the same context object
      image([boosted, b], 4), // a boost
      image([{ ...boosted, effective: 8 }, b], 5), // another priority, the same boosts
      image([{ ...boosted, effective: 8, boosts: ['has_dependents'] }, b], 6), // other boosts, the same priority
      image([{ ...boosted, effective: 8, priorityChanges: [{ from: 5, to: 7, reasons: ['deadline_within_1h'], at: T0 }] }, b], 7),
      image([{ ...boosted, effective: 8, priorityChanges: [] }, { ...b, ignored: ['x'] }], 8),
    ];
    for (const next of images) {
      const json = JSON.parse(text.serialize(next)) as StoreImage;
      expect(json.tasks.map(decodeTask)).toEqual(next.tasks);
      expect(json).toEqual({ ...next, tasks: next.tasks.map(encodeTask) });
    }
  });
});
