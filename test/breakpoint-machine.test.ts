/**
 * Tests generated from the breakpoint statechart with @xstate/graph: every state reachable,
 * the exact table of state-changing edges, every refused (state, event) pair through
 * BreakpointHost, model-based paths, and the audit trail / context effect of every step.
 */
import { describe, expect, it } from 'vitest';
import { createActor, type SnapshotFrom } from 'xstate';
import { createTestModel, getAdjacencyMap, getShortestPaths, getSimplePaths, toDirectedGraph, type AdjacencyValue } from '@xstate/graph';
import {
  BREAKPOINT_STATES, breakpointMachine, isOpenBreakpoint,
  type AuditEntry, type BreakpointContext, type BreakpointEvent, type BreakpointEventType, type BreakpointInput, type BreakpointState,
} from '../machines/breakpoint.js';
import { BreakpointHost, type PersistedBreakpoint } from '../runtime/task-host.js';

const input: BreakpointInput = {
  id: 'bp-1', type: 'milestone_completion', priority: 'medium', projectId: 'p', taskId: 't1',
  message: 'review please', data: { event: 'task.completed', task: { id: 't1' } }, expiresAt: 9_000, at: 1,
};

// One concrete event per type (payloads cannot be invented by the graph). Each type has its
// own `at`, so an audit entry proves which event produced it.
const EVENTS: BreakpointEvent[] = [
  { type: 'AWAIT', at: 10 },
  { type: 'AUTO_RESOLVE', at: 20, resolveAt: 5_000, action: 'retry' },
  { type: 'AUTO_RESOLVED', at: 30 },
  { type: 'ESCALATE', at: 40, reason: 'taking too long' },
  { type: 'RESOLVE', at: 50, action: 'continue', by: 'alice', note: 'looks good' },
  { type: 'REJECT', at: 60, action: 'cancel', by: 'bob', note: 'wrong direction' },
  { type: 'EXPIRE', at: 70 },
];
const EVENT_TYPES = EVENTS.map((e) => e.type) as BreakpointEventType[];
const eventOf = (type: BreakpointEventType) => EVENTS.find((e) => e.type === type)!;

// THE REQUIREMENT: the state-changing edges (the brief's table).
const SPEC: Record<BreakpointState, readonly BreakpointState[]> = {
  triggered: ['awaiting', 'autoResolving'],
  awaiting: ['resolved', 'rejected', 'expired'],
  autoResolving: ['resolved', 'awaiting', 'rejected'],
  resolved: [],
  rejected: [],
  expired: [],
};
const FINAL: BreakpointState[] = ['resolved', 'rejected', 'expired'];
const specEdges = Object.entries(SPEC).flatMap(([from, tos]) => tos.map((to) => `${from} → ${to}`)).sort();

// Traverse by state value only: the audit trail grows on every step, so serializing the
// context would make every path a new state.
const serializeState = (s: { value: unknown }) => JSON.stringify(s.value);
const traversal = { input, events: EVENTS, serializeState };
const adjacency = getAdjacencyMap(breakpointMachine, traversal);
const shortestPaths = getShortestPaths(breakpointMachine, traversal);
const simplePaths = getSimplePaths(breakpointMachine, traversal);
const pathTo = new Map(shortestPaths.map((p) => [p.state.value as BreakpointState, p]));
type Snap = SnapshotFrom<typeof breakpointMachine>;
const transitionsOf = (a: AdjacencyValue<Snap, BreakpointEvent>) => Object.values(a.transitions) as Array<{ event: BreakpointEvent; state: Snap }>;

// Every accepted (state, event) pair the traversal met. A refused event yields the very same
// snapshot object — which is also how BreakpointHost.send decides to return null.
interface Edge { from: BreakpointState; to: BreakpointState; event: BreakpointEvent; name: string }
const acceptedEdges: Edge[] = Object.values(adjacency).flatMap((a) =>
  transitionsOf(a)
    .filter((t) => t.state !== a.state)
    .map((t) => {
      const from = a.state.value as BreakpointState;
      const to = t.state.value as BreakpointState;
      return { from, to, event: t.event, name: `${from} → ${to} on ${t.event.type}` };
    }),
);

const host = new BreakpointHost();
const realSteps = <S extends { event: { type: string } }>(steps: S[]) => steps.filter((s) => s.event.type !== 'xstate.init');
const expectJsonRoundTrip = (ctx: BreakpointContext) => expect(JSON.parse(JSON.stringify(ctx))).toStrictEqual(ctx);

/** Replays the shortest path to `state` through BreakpointHost, checking every step. */
function reach(state: BreakpointState): PersistedBreakpoint {
  const path = pathTo.get(state);
  if (!path) throw new Error(`no path to ${state}`);
  let bp = host.create(input);
  for (const step of realSteps(path.steps)) {
    const next = host.send(bp, step.event);
    expect(next?.value).toBe(step.state.value);
    bp = next!;
  }
  expect(bp.value).toBe(state);
  return bp;
}

describe('reachability', () => {
  it('reaches each of the 6 states, with no error snapshot', () => {
    expect(shortestPaths.map((p) => p.state.value).sort()).toEqual([...BREAKPOINT_STATES].sort());
    expect(shortestPaths[0]?.steps[0]?.state.value).toBe('triggered');
    const snapshots = Object.values(adjacency).flatMap((a) => [a.state, ...transitionsOf(a).map((t) => t.state)]);
    expect(snapshots.filter((s) => s.status === 'error')).toEqual([]);
  });

  it('guard: without input the traversal silently starts from an error snapshot', () => {
    const noInput = getAdjacencyMap(breakpointMachine, { events: [], serializeState });
    expect(Object.values(noInput).map((a) => a.state.status)).toEqual(['error']);
  });

  it('BreakpointHost.create is the machine\'s initial snapshot', () => {
    const initial = breakpointMachine.getInitialSnapshot(createActor(breakpointMachine, { input }).system as never, input);
    const created = host.create(input);
    expect(created.value).toBe(initial.value);
    expect(created.context).toStrictEqual(initial.context);
    expect(created.context.audit).toStrictEqual([{ at: 1, who: 'overseer', what: 'triggered milestone_completion', note: 'review please' }]);
  });
});

describe('edge table', () => {
  it('the traversal finds exactly the specified state-changing edges', () => {
    expect([...new Set(acceptedEdges.map((e) => `${e.from} → ${e.to}`))].sort()).toEqual(specEdges);
    expect(specEdges).toHaveLength(8);
    // No self-loops: every accepted event changes the state.
    expect(acceptedEdges.filter((e) => e.from === e.to)).toEqual([]);
    // Nine (edge, event) pairs: autoResolving → resolved is reached by the timer and by a person.
    expect(acceptedEdges.map((e) => e.name).sort()).toEqual([
      'autoResolving → awaiting on ESCALATE', 'autoResolving → rejected on REJECT', 'autoResolving → resolved on AUTO_RESOLVED',
      'autoResolving → resolved on RESOLVE', 'awaiting → expired on EXPIRE', 'awaiting → rejected on REJECT',
      'awaiting → resolved on RESOLVE', 'triggered → autoResolving on AUTO_RESOLVE', 'triggered → awaiting on AWAIT',
    ]);
  });

  it('the static graph (toDirectedGraph) agrees with the table', () => {
    const graphEdges = toDirectedGraph(breakpointMachine).children.flatMap((n) => n.edges.map((e) => `${e.source.key} → ${e.target.key}`));
    expect([...new Set(graphEdges)].sort()).toEqual(specEdges);
  });

  it('resolved, rejected and expired are final: status done, every event refused; isOpenBreakpoint agrees', () => {
    for (const a of Object.values(adjacency)) {
      const value = a.state.value as BreakpointState;
      expect(a.state.status).toBe(FINAL.includes(value) ? 'done' : 'active');
      expect(isOpenBreakpoint(value)).toBe(!FINAL.includes(value));
      if (FINAL.includes(value)) for (const t of transitionsOf(a)) expect(t.state).toBe(a.state);
    }
    expect(Object.keys(adjacency)).toHaveLength(6);
  });
});

// Every (state, event type) without a transition, from the statechart's own definition.
const legalTypes = new Map(toDirectedGraph(breakpointMachine).children.map((n) => [n.stateNode.key as BreakpointState, new Set(n.edges.map((e) => e.label.text))]));
const illegalPairs = BREAKPOINT_STATES.flatMap((state) => EVENT_TYPES.filter((type) => !legalTypes.get(state)?.has(type)).map((type) => ({ state, type })));

describe('illegal (state, event) pairs', () => {
  it('there are 6 × 7 − 9 = 33, and the traversal refused exactly those', () => {
    expect(illegalPairs).toHaveLength(BREAKPOINT_STATES.length * EVENT_TYPES.length - acceptedEdges.length);
    expect(illegalPairs).toHaveLength(33);
    const refused = Object.values(adjacency).flatMap((a) => transitionsOf(a).filter((t) => t.state === a.state).map((t) => ({ state: a.state.value, type: t.event.type })));
    expect(refused).toEqual(expect.arrayContaining(illegalPairs));
    expect(refused).toHaveLength(illegalPairs.length);
  });

  it.each(illegalPairs.map((p) => [`${p.state} refuses ${p.type}`, p] as const))('%s', (_name, { state, type }) => {
    const bp = reach(state);
    const copy = structuredClone(bp);
    expect(host.send(bp, eventOf(type))).toBeNull();
    expect(bp).toStrictEqual(copy);
  });
});

// What each accepted event records: one audit entry (who, when, what[, note]) and its fields.
function expected(e: BreakpointEvent): { entry: AuditEntry; changes: Partial<BreakpointContext> } {
  switch (e.type) {
    case 'AWAIT':
      return { entry: { at: e.at, who: 'overseer', what: 'awaiting a person' }, changes: {} };
    case 'AUTO_RESOLVE':
      return { entry: { at: e.at, who: 'overseer', what: `auto-resolving: retry at ${new Date(5_000).toISOString()}` }, changes: { autoResolveAt: e.resolveAt, autoAction: e.action } };
    case 'AUTO_RESOLVED':
      return { entry: { at: e.at, who: 'auto', what: 'resolved: retry' }, changes: { resolution: { action: 'retry', by: 'auto', note: null, at: e.at, auto: true } } };
    case 'ESCALATE':
      return { entry: { at: e.at, who: 'overseer', what: 'escalated to a person', note: e.reason }, changes: { autoResolveAt: null } };
    case 'RESOLVE':
    case 'REJECT':
      return {
        entry: { at: e.at, who: e.by, what: `${e.type === 'RESOLVE' ? 'approved' : 'rejected'}: ${e.action}`, note: e.note! },
        changes: { autoResolveAt: null, resolution: { action: e.action, by: e.by, note: e.note, at: e.at, auto: false } },
      };
    case 'EXPIRE':
      return { entry: { at: e.at, who: 'overseer', what: 'expired unanswered' }, changes: {} };
  }
}

describe('every legal edge through BreakpointHost: one audit entry and the context effect', () => {
  it.each(acceptedEdges.map((e) => [e.name, e] as const))('%s', (_name, { from, to, event }) => {
    const before = reach(from);
    const after = host.send(before, event);
    expect(after?.value).toBe(to);
    const { entry, changes } = expected(event);
    expect(after!.context.audit).toStrictEqual([...before.context.audit, entry]);
    expect({ ...after!.context, audit: null }).toStrictEqual({ ...before.context, ...changes, audit: null });
    expectJsonRoundTrip(after!.context);
  });

  it('a decision without a note leaves no note key in the audit entry (JSON keeps it equal)', () => {
    const after = host.send(reach('awaiting'), { type: 'RESOLVE', at: 99, action: 'skip', by: 'carol', note: null })!;
    expect(after.context.audit.at(-1)).toStrictEqual({ at: 99, who: 'carol', what: 'approved: skip' });
    expectJsonRoundTrip(after.context);
  });
});

describe('simple paths: audit trail and JSON after every step', () => {
  it('there are simple paths to every final state, including via escalation', () => {
    const names = simplePaths.map((p) => realSteps(p.steps).map((s) => s.event.type).join(' → '));
    expect(names).toEqual(expect.arrayContaining(['AUTO_RESOLVE → ESCALATE → EXPIRE', 'AUTO_RESOLVE → AUTO_RESOLVED', 'AWAIT → REJECT']));
  });

  it.each(simplePaths.map((p) => [realSteps(p.steps).map((s) => s.event.type).join(' → ') || '(initial)', p] as const))('%s', (_name, path) => {
    let bp = host.create(input);
    expectJsonRoundTrip(bp.context);
    for (const step of realSteps(path.steps)) {
      const before = bp;
      // What a restart would see (the JSON of the actor) must step exactly like the live actor.
      const fromJson = host.send(JSON.parse(JSON.stringify(bp)) as PersistedBreakpoint, step.event);
      bp = host.send(bp, step.event)!;
      expect(fromJson).toStrictEqual(bp);
      expect(bp?.value).toBe(step.state.value);
      expect(bp.context.audit).toHaveLength(before.context.audit.length + 1);
      const last = bp.context.audit.at(-1)!;
      expect(last.at).toBe(step.event.at);
      expect(typeof last.who === 'string' && last.who.length > 0 && typeof last.what === 'string' && last.what.length > 0).toBe(true);
      expectJsonRoundTrip(bp.context);
    }
    expect(bp.context.audit).toHaveLength(realSteps(path.steps).length + 1);
  });
});

// Model-based: each shortest path drives a BreakpointHost-backed SUT, checked against a real
// xstate actor fed the same events (path snapshots' context is only representative).
class Sut {
  bp = host.create(input);
  readonly oracle = createActor(breakpointMachine, { input }).start();
  send(event: BreakpointEvent): void {
    const next = host.send(this.bp, event);
    if (!next) throw new Error(`BreakpointHost refused ${event.type} in ${this.bp.value}`);
    this.bp = next;
    this.oracle.send(event);
  }
}
const modelPaths = createTestModel(breakpointMachine, { events: EVENTS, input, serializeState }).getShortestPaths({ allowDuplicatePaths: true });

describe('model-based paths', () => {
  it('one path per state, together visiting all 6', () => {
    expect(modelPaths.map((p) => p.state.value).sort()).toEqual([...BREAKPOINT_STATES].sort());
  });

  it.each(modelPaths.map((p) => [`${p.state.value}: ${realSteps(p.steps).map((s) => s.event.type).join(' → ') || '(initial)'}`, p] as const))('%s', async (_name, path) => {
    const sut = new Sut();
    const visited: string[] = [];
    await path.test({
      states: Object.fromEntries(BREAKPOINT_STATES.map((s) => [s, () => {
        visited.push(s);
        expect(sut.bp.value).toBe(s);
        expect(sut.oracle.getSnapshot().value).toBe(s);
        expect(sut.bp.context).toStrictEqual(sut.oracle.getSnapshot().context);
        expectJsonRoundTrip(sut.bp.context);
      }])),
      events: Object.fromEntries(EVENT_TYPES.map((t) => [t, (step: { event: unknown }) => sut.send(step.event as BreakpointEvent)])),
    });
    expect(visited).toEqual(path.steps.map((s) => s.state.value));
  });
});
