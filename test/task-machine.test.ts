/**
 * Tests generated from the task statechart with @xstate/graph: reachability, the exact edge
 * table, every legal edge and every refused (state, event) pair through TaskHost, model-based
 * path tests and the context effect of each event.
 */
import { describe, expect, it } from 'vitest';
import { createActor, type SnapshotFrom } from 'xstate';
import {
  createTestModel, getAdjacencyMap, getShortestPaths, getSimplePaths, toDirectedGraph, type AdjacencyValue,
} from '@xstate/graph';
import {
  LEGAL_TRANSITIONS, TASK_EVENT_TYPES, TASK_STATES, taskMachine,
  type TaskContext, type TaskEvent, type TaskInput, type TaskState,
} from '../machines/task.js';
import { TaskHost, type PersistedTask } from '../runtime/task-host.js';

const input: TaskInput = {
  id: 't1', projectId: 'p', title: 'T', priority: 5, dependencies: ['d1'], deadline: null,
  onDependencyFailure: 'block', maxRetries: 3, retryBaseMs: 1000, metadata: { k: 1 }, at: 0,
};

// One concrete event per type (events carry payloads, so the graph cannot invent them).
// Each type has a distinct `at`, so a history record proves which event produced it.
const EVENTS: TaskEvent[] = [
  { type: 'DEPENDENCIES_MET', at: 1 },
  { type: 'START', at: 2 },
  { type: 'COMPLETE', at: 3, result: { ok: true } },
  { type: 'FAIL', at: 4, error: { message: 'x', retryable: true, at: 4 } },
  { type: 'BLOCK', at: 5, reason: 'paused' },
  { type: 'UNBLOCK', at: 6 },
  { type: 'RECORD_CHANGES', at: 10, files: [{ path: 'src/a.ts', kind: 'modified', at: 10 }] },
  { type: 'RETRY', at: 7, retryAt: 100, manual: false },
  { type: 'RETRY_DUE', at: 8 },
  { type: 'CANCEL', at: 9, reason: 'stop' },
];

// THE REQUIREMENT: the state-changing edges of the lifecycle (self-transitions excluded).
const SPEC: Record<TaskState, readonly TaskState[]> = {
  pending: ['ready', 'blocked', 'cancelled'],
  ready: ['running', 'blocked', 'cancelled'],
  running: ['completed', 'failed', 'blocked', 'cancelled'],
  blocked: ['ready', 'cancelled', 'failed'],
  failed: ['retrying'],
  retrying: ['ready', 'cancelled'],
  completed: [],
  cancelled: [],
};
const ALL_STATES = ['pending', 'ready', 'running', 'blocked', 'completed', 'failed', 'cancelled', 'retrying'];
const FINAL_STATES: TaskState[] = ['completed', 'cancelled'];
// The specified self-transitions: BLOCK while blocked replaces the reason (section 6), and
// RECORD_CHANGES while running notes the files the work changed.
const SELF_LOOPS = [
  { state: 'blocked', event: 'BLOCK' },
  { state: 'running', event: 'RECORD_CHANGES' },
];

const specEdges = Object.entries(SPEC).flatMap(([from, tos]) => tos.map((to) => `${from} → ${to}`)).sort();
const tableEdges = (t: Record<string, readonly string[]>) =>
  Object.entries(t).flatMap(([from, tos]) => tos.map((to) => `${from} → ${to}`)).sort();

// Traverse by state value only: the context (history) grows on every cycle, so serializing it
// would make the state space infinite.
const serializeState = (s: { value: unknown }) => JSON.stringify(s.value);
const traversal = { input, events: EVENTS, serializeState };
const adjacency = getAdjacencyMap(taskMachine, traversal);
const shortestPaths = getShortestPaths(taskMachine, traversal);
const simplePaths = getSimplePaths(taskMachine, traversal);
const pathTo = new Map(shortestPaths.map((p) => [p.state.value as TaskState, p]));
// Caveat of value-only serialization: a path's step snapshots are representatives of their
// state value (the last one the traversal met), so their context need not match the path.
// Tests therefore use the steps' events and values, never their context.
type Snap = SnapshotFrom<typeof taskMachine>;
const transitionsOf = (a: AdjacencyValue<Snap, TaskEvent>) =>
  Object.values(a.transitions) as Array<{ event: TaskEvent; state: Snap }>;

// Every accepted (state, event) of the traversal. A refused event returns the very same
// snapshot object, which is also what TaskHost.send relies on to return null.
interface Edge { from: TaskState; to: TaskState; event: TaskEvent; name: string }
const acceptedEdges: Edge[] = Object.values(adjacency).flatMap((a) =>
  transitionsOf(a)
    .filter((t) => t.state !== a.state)
    .map((t) => {
      const from = a.state.value as TaskState;
      const to = t.state.value as TaskState;
      return { from, to, event: t.event, name: `${from} → ${to} on ${t.event.type}` };
    }),
);
const stateChangingEdges = acceptedEdges.filter((e) => e.from !== e.to);

const host = new TaskHost();
const realSteps = <S extends { event: { type: string } }>(steps: S[]) => steps.filter((s) => s.event.type !== 'xstate.init');

function expectJsonRoundTrip(ctx: TaskContext): void {
  // toStrictEqual also catches `undefined`-valued keys, which JSON would drop.
  expect(JSON.parse(JSON.stringify(ctx))).toStrictEqual(ctx);
}

/** Replays the shortest path to `state` through TaskHost, checking every step on the way. */
function reach(state: TaskState): PersistedTask {
  const path = pathTo.get(state);
  if (!path) throw new Error(`no path to ${state}`);
  let task = host.create(input);
  for (const step of realSteps(path.steps)) {
    const next = host.send(task, step.event);
    expect(next?.value).toBe(step.state.value);
    task = next!;
    expectJsonRoundTrip(task.context);
  }
  expect(task.value).toBe(state);
  return task;
}

// 1. Reachability, and the input pitfall: without `input` traversals yield 'error' snapshots.
describe('reachability', () => {
  it('reaches each of the 8 states from the initial state, with no error snapshot', () => {
    expect([...TASK_STATES].sort()).toEqual([...ALL_STATES].sort());
    expect(shortestPaths.map((p) => p.state.value).sort()).toEqual([...ALL_STATES].sort());
    expect(shortestPaths[0]?.steps[0]?.state.value).toBe('pending');
    const snapshots = [
      ...Object.values(adjacency).flatMap((a) => [a.state, ...transitionsOf(a).map((t) => t.state)]),
      ...[...shortestPaths, ...simplePaths].flatMap((p) => [p.state, ...p.steps.map((s) => s.state)]),
    ];
    expect(snapshots.length).toBeGreaterThan(8 * EVENTS.length);
    expect(snapshots.filter((s) => s.status === 'error')).toEqual([]);
  });

  it('guard: without input the traversal silently starts from an error snapshot', () => {
    const noInput = getAdjacencyMap(taskMachine, { events: [], serializeState });
    expect(Object.values(noInput).map((a) => a.state.status)).toEqual(['error']);
  });
});

// 2. The edges the machine really has must be exactly the specification table.
describe('edge table', () => {
  it('the traversal finds exactly the specified edges, each triggered by exactly one event type', () => {
    // Compared as sorted lists, not sets: a duplicate would mean two event types per edge.
    expect(stateChangingEdges.map((e) => `${e.from} → ${e.to}`).sort()).toEqual(specEdges);
    expect(specEdges).toHaveLength(16);
    const selfLoops = acceptedEdges.filter((e) => e.from === e.to).map((e) => ({ state: e.from, event: e.event.type }));
    expect(selfLoops).toEqual(SELF_LOOPS);
  });

  it('LEGAL_TRANSITIONS and the static graph (toDirectedGraph) match the table', () => {
    expect(tableEdges(LEGAL_TRANSITIONS)).toEqual(specEdges);
    const graphEdges = toDirectedGraph(taskMachine).children.flatMap((n) =>
      n.edges.filter((e) => e.source !== e.target).map((e) => `${e.source.key} → ${e.target.key}`));
    expect(graphEdges.sort()).toEqual(specEdges);
  });

  it('completed and cancelled are final: status done, every event refused', () => {
    for (const a of Object.values(adjacency)) {
      const value = a.state.value as TaskState;
      expect(a.state.status).toBe(FINAL_STATES.includes(value) ? 'done' : 'active');
      if (FINAL_STATES.includes(value)) {
        expect(transitionsOf(a)).toHaveLength(EVENTS.length);
        for (const t of transitionsOf(a)) expect(t.state).toBe(a.state);
      }
    }
    expect(Object.keys(adjacency)).toHaveLength(8);
  });
});

// 3. Every legal edge, driven through TaskHost from a real path to its source state.
describe('every legal edge through TaskHost', () => {
  it.each(stateChangingEdges.map((e) => [e.name, e] as const))('%s', (_name, { from, to, event }) => {
    const before = reach(from);
    const after = host.send(before, event);
    expect(after?.value).toBe(to);
    expect(after!.context.history).toHaveLength(before.context.history.length + 1);
    expect(after!.context.history.at(-1)).toMatchObject({ from, to, at: event.at });
  });
});

// 4. Every (state, event type) without a transition is refused and leaves the task untouched.
// The legal pairs come from the statechart definition, and the traversal must agree.
const legalTypes = new Map(toDirectedGraph(taskMachine).children.map(
  (n) => [n.stateNode.key as TaskState, new Set(n.edges.map((e) => e.label.text))]));
const illegalPairs = TASK_STATES.flatMap((state) =>
  TASK_EVENT_TYPES.filter((type) => !legalTypes.get(state)?.has(type)).map((type) => ({ state, type })));

describe('illegal (state, event) pairs', () => {
  it('count equals what the table implies (each edge has one event type, plus the two self-loops)', () => {
    expect(illegalPairs).toHaveLength(TASK_STATES.length * TASK_EVENT_TYPES.length - specEdges.length - SELF_LOOPS.length);
    expect(illegalPairs).toHaveLength(8 * 10 - 16 - 2);
    const refusedInTraversal = Object.values(adjacency).flatMap((a) =>
      transitionsOf(a).filter((t) => t.state === a.state).map((t) => ({ state: a.state.value, type: t.event.type })));
    expect(refusedInTraversal).toEqual(expect.arrayContaining(illegalPairs));
    expect(refusedInTraversal).toHaveLength(illegalPairs.length);
  });

  it.each(illegalPairs.map((p) => [`${p.state} refuses ${p.type}`, p] as const))('%s', (_name, { state, type }) => {
    const task = reach(state);
    const copy = structuredClone(task);
    const contextRef = task.context;
    expect(host.send(task, EVENTS.find((e) => e.type === type)!)).toBeNull();
    expect(task.context).toBe(contextRef);
    expect(task).toStrictEqual(copy);
  });
});

// 5. Model-based tests: every shortest path (one per state) drives a TaskHost-backed SUT and
// asserts its state value in every visited state. Its context is checked against a real
// xstate actor fed the same events (the path snapshots' context is only representative).
class TaskSut {
  task = host.create(input);
  readonly oracle = createActor(taskMachine, { input }).start();
  send(event: TaskEvent): void {
    const next = host.send(this.task, event);
    if (!next) throw new Error(`TaskHost refused ${event.type} in ${this.task.value}`);
    this.task = next;
    this.oracle.send(event);
    expectJsonRoundTrip(next.context);
  }
}
const model = createTestModel(taskMachine, { events: EVENTS, input, serializeState });
const modelPaths = model.getShortestPaths({ allowDuplicatePaths: true });

describe('model-based paths', () => {
  it('there is one path per state and together they visit all 8 states', () => {
    expect(modelPaths.map((p) => p.state.value).sort()).toEqual([...ALL_STATES].sort());
    expect(new Set(modelPaths.flatMap((p) => p.steps.map((s) => s.state.value))).size).toBe(8);
  });

  it.each(modelPaths.map((p) => [`${p.state.value}: ${realSteps(p.steps).map((s) => s.event.type).join(' → ') || '(initial)'}`, p] as const))(
    '%s',
    async (_name, path) => {
      const sut = new TaskSut();
      const visited: string[] = [];
      await path.test({
        states: Object.fromEntries(TASK_STATES.map((s) => [s, () => {
          visited.push(s);
          expect(sut.task.value).toBe(s);
          expect(sut.oracle.getSnapshot().value).toBe(s);
          expect(sut.task.context).toStrictEqual(sut.oracle.getSnapshot().context);
        }])),
        events: Object.fromEntries(TASK_EVENT_TYPES.map((t) => [t, (step: { event: unknown }) => sut.send(step.event as TaskEvent)])),
      });
      expect(visited).toEqual(path.steps.map((s) => s.state.value));
    },
  );
});

// 6. Context effects. Each event changes exactly the fields below (history aside).
function expectedChanges(c: TaskContext, e: TaskEvent, from: TaskState): Partial<TaskContext> {
  switch (e.type) {
    case 'DEPENDENCIES_MET': return {};
    case 'START': return { attempts: c.attempts + 1 };
    case 'COMPLETE': return { result: e.result };
    case 'FAIL': return { lastError: e.error, blockedReason: null };
    case 'BLOCK': return { blockedReason: { reason: e.reason, at: e.at } };
    case 'UNBLOCK': return { blockedReason: null };
    case 'RETRY': return { retries: c.retries + 1, retryAt: e.retryAt };
    case 'RETRY_DUE': return { retryAt: null };
    case 'CANCEL': return from === 'retrying' ? { retryAt: null } : {};
    case 'RECORD_CHANGES': return { changedFiles: [...(c.changedFiles ?? []), ...e.files] };
  }
}

describe('context effects', () => {
  it.each(stateChangingEdges.map((e) => [e.name, e] as const))('%s', (_name, { from, event }) => {
    const before = reach(from);
    // Make the "clears" effects observable rather than vacuous.
    if (event.type === 'UNBLOCK') expect(before.context.blockedReason).not.toBeNull();
    if (event.type === 'RETRY_DUE') expect(before.context.retryAt).not.toBeNull();
    const after = host.send(before, event)!;
    expect({ ...after.context, history: null })
      .toStrictEqual({ ...before.context, ...expectedChanges(before.context, event, from), history: null });
    expectJsonRoundTrip(after.context);
  });

  it('BLOCK while blocked replaces the reason without adding a history record', () => {
    const blocked = reach('blocked');
    const again = host.send(blocked, { type: 'BLOCK', at: 50, reason: 'upstream_failed', upstream: 'd1' });
    expect(again?.value).toBe('blocked');
    expect(blocked.context.blockedReason).toStrictEqual({ reason: 'paused', at: 5 });
    expect(again!.context.blockedReason).toStrictEqual({ reason: 'upstream_failed', upstream: 'd1', at: 50 });
    expect(again!.context.history).toStrictEqual(blocked.context.history);
  });

  it('a START that settles the task (a held result accepted, a skip) is no attempt; anything else in settles is ignored', () => {
    const ready = reach('ready');
    for (const settles of ['held_result', 'skip'] as const) {
      const after = host.send(ready, { type: 'START', at: 60, settles })!;
      expect(after.context.attempts).toBe(ready.context.attempts);
      expect(after.context.history.at(-1)).toMatchObject({ from: 'ready', to: 'running', reason: settles === 'skip' ? 'skipped' : 'held result accepted' });
    }
    // A journal or trace written by something else: only the two values settle.
    const odd = host.send(ready, { type: 'START', at: 60, settles: null } as unknown as TaskEvent)!;
    expect(odd.context.attempts).toBe(ready.context.attempts + 1);
    expect(odd.context.history.at(-1)!.reason).toBeUndefined();
  });

  it('a full retry cycle accumulates attempts and retries', () => {
    let task = reach('running');
    for (const type of ['FAIL', 'RETRY', 'RETRY_DUE', 'START'] as const) {
      task = host.send(task, EVENTS.find((e) => e.type === type)!)!;
    }
    expect(task.value).toBe('running');
    expect(task.context).toMatchObject({ attempts: 2, retries: 1, retryAt: null, lastError: { message: 'x' } });
    expect(task.context.history.map((h) => h.to)).toEqual(['pending', 'ready', 'running', 'failed', 'retrying', 'ready', 'running']);
  });

  it.each(simplePaths.map((p) => [realSteps(p.steps).map((s) => s.event.type).join(' → ') || '(initial)', p] as const))(
    'JSON round-trip and history after every step of simple path %s',
    (_name, path) => {
      let task = host.create(input);
      expectJsonRoundTrip(task.context);
      for (const step of realSteps(path.steps)) {
        const before = task;
        task = host.send(task, step.event)!;
        expect(task?.value).toBe(step.state.value);
        expectJsonRoundTrip(task.context);
        const added = before.value === task.value ? 0 : 1;
        expect(task.context.history).toHaveLength(before.context.history.length + added);
      }
    },
  );
});
