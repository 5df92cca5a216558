/**
 * The compiled step (runtime/flat-machine.ts) must be XState's `machine.transition`,
 * only cheaper: same accepted events, same next state, same context, for every state
 * and event and along random event sequences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { BREAKPOINT_STATES, type BreakpointEvent, type BreakpointInput } from '../machines/breakpoint.js';
import { markIfExtended, TASK_EVENT_TYPES, TASK_STATES, taskMachine, type TaskEvent, type TaskInput } from '../machines/task.js';
import { compileFlatMachine } from '../runtime/flat-machine.js';
import { decodeTask, encodeTask } from '../store/task-codec.js';
import { BreakpointHost, TaskHost, type AtRest } from '../runtime/task-host.js';

const at = fc.integer({ min: 0, max: 2_000_000_000_000 });
const text = fc.string({ maxLength: 12 });
const json = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<never>;

const taskEvent: fc.Arbitrary<TaskEvent> = fc.oneof(
  fc.record({ type: fc.constant('DEPENDENCIES_MET' as const), at }),
  fc.record({ type: fc.constant('START' as const), at }),
  fc.record({ type: fc.constant('COMPLETE' as const), at, result: fc.option(json, { nil: null }) }),
  fc.record({
    type: fc.constant('FAIL' as const),
    at,
    error: fc.record({ message: text, retryable: fc.boolean(), kind: fc.constantFrom('exit', 'timeout', 'quality'), at }, { requiredKeys: ['message', 'retryable', 'at'] }),
  }),
  fc.record({ type: fc.constant('BLOCK' as const), at, reason: text, upstream: text, breakpoint: text }, { requiredKeys: ['type', 'at', 'reason'] }),
  fc.record({ type: fc.constant('UNBLOCK' as const), at }),
  fc.record({ type: fc.constant('RETRY' as const), at, retryAt: at, manual: fc.boolean() }),
  fc.record({ type: fc.constant('RETRY_DUE' as const), at }),
  fc.record({ type: fc.constant('CANCEL' as const), at, reason: text }),
  fc.record({
    type: fc.constant('RECORD_CHANGES' as const),
    at,
    files: fc.array(fc.record({ path: text, kind: fc.constantFrom('created' as const, 'modified' as const, 'deleted' as const), at }), { maxLength: 3 }),
  }),
);

const action = fc.constantFrom('continue' as const, 'retry' as const, 'skip' as const, 'cancel' as const);
const breakpointEvent: fc.Arbitrary<BreakpointEvent> = fc.oneof(
  fc.record({ type: fc.constant('AWAIT' as const), at }),
  fc.record({ type: fc.constant('AUTO_RESOLVE' as const), at, resolveAt: at, action }),
  fc.record({ type: fc.constant('AUTO_RESOLVED' as const), at }),
  fc.record({ type: fc.constant('ESCALATE' as const), at, reason: text }),
  fc.record({ type: fc.constant('RESOLVE' as const), at, action, by: text, note: fc.option(text, { nil: null }) }),
  fc.record({ type: fc.constant('REJECT' as const), at, action, by: text, note: fc.option(text, { nil: null }) }),
  fc.record({ type: fc.constant('EXPIRE' as const), at }),
);

const taskInput: TaskInput = {
  id: 't1',
  projectId: 'p',
  title: 'T',
  priority: 5,
  dependencies: ['t0'],
  deadline: null,
  onDependencyFailure: 'block',
  maxRetries: 3,
  retryBaseMs: 1000,
  metadata: { a: 1 },
  at: 1,
};
const breakpointInput: BreakpointInput = {
  id: 'b1',
  type: 'confidence_too_low',
  priority: 'high',
  projectId: 'p',
  taskId: 't1',
  message: 'low',
  data: { confidence: 0.2 },
  expiresAt: null,
  at: 1,
};

interface Host<E> {
  send(actor: AtRest<string, unknown>, event: E): AtRest<string, unknown> | null;
}

/** Feeds both hosts the same events; they must agree at every step, refusals included. */
function agree<E>(compiled: Host<E>, reference: Host<E>, start: AtRest<string, unknown>, events: E[]): number {
  let a = start;
  let b = start;
  let accepted = 0;
  for (const event of events) {
    const nextA = compiled.send(a, event);
    const nextB = reference.send(b, event);
    expect(nextA).toStrictEqual(nextB);
    expect(JSON.stringify(nextA)).toBe(JSON.stringify(nextB)); // the same keys in the same order
    if (nextA && nextB) {
      a = nextA;
      b = nextB;
      accepted++;
    }
  }
  return accepted;
}

describe('the compiled task and breakpoint machines', () => {
  it('are compiled (a machine that leaves the flat subset falls back to XState, with its reason)', () => {
    expect(new TaskHost().uncompiledReason).toBeNull();
    expect(new BreakpointHost().uncompiledReason).toBeNull();
    expect(new TaskHost({ compiled: false }).uncompiledReason).toBe('compiled: false');
  });

  it('task: every state × every event gives what XState gives', () => {
    const compiled = new TaskHost();
    const reference = new TaskHost({ compiled: false });
    const base = compiled.create(taskInput);
    const samples = fc.sample(taskEvent, { numRuns: 400, seed: 7 });
    let accepted = 0;
    for (const value of TASK_STATES) {
      for (const type of TASK_EVENT_TYPES) {
        for (const event of samples.filter((e) => e.type === type).slice(0, 3)) {
          const actor = { value, context: base.context };
          const a = compiled.send(actor, event);
          expect(a).toStrictEqual(reference.send(actor, event));
          expect(JSON.stringify(a)).toBe(JSON.stringify(reference.send(actor, event)));
          if (a) accepted++;
        }
      }
    }
    // Each (state, event) pair the statechart lists was accepted for all 3 samples, and nothing else.
    const listed = TASK_STATES.reduce((n, s) => n + taskMachine.states[s]!.transitions.size, 0);
    expect(listed).toBe(18);
    expect(accepted).toBe(listed * 3);
  });

  it('task: random event sequences from a new task agree step by step', () => {
    const compiled = new TaskHost();
    const reference = new TaskHost({ compiled: false });
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(taskEvent, { maxLength: 40 }), (events) => {
        accepted += agree(compiled as Host<TaskEvent>, reference as Host<TaskEvent>, compiled.create(taskInput), events);
      }),
      { numRuns: 300, seed: 11 },
    );
    expect(accepted).toBeGreaterThan(300);
  });

  it('task: a context with keys this build does not know (from the store codec, or a trace) keeps them, as XState does', () => {
    const compiled = new TaskHost();
    const reference = new TaskHost({ compiled: false });
    const created = compiled.create(taskInput);
    // What a newer build's snapshot holds: a context key and a history it does not know.
    const encoded = encodeTask({ value: created.value, context: { ...created.context, reviewer: 'ana', changedFiles: [] } as never, effective: 5, boosts: [] });
    const decoded = decodeTask(JSON.parse(JSON.stringify(encoded)));
    expect(decoded.context).toHaveProperty('reviewer', 'ana');
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(taskEvent, { maxLength: 30 }), (events) => {
        accepted += agree(compiled as Host<TaskEvent>, reference as Host<TaskEvent>, { value: decoded.value, context: decoded.context }, events);
      }),
      { numRuns: 200, seed: 5 },
    );
    expect(accepted).toBeGreaterThan(150);
    // And a context read from an older schema, or from a trace, once marked.
    const older = { ...created.context, seq: 3 };
    markIfExtended(older);
    expect(compiled.send({ value: 'pending', context: older }, { type: 'DEPENDENCIES_MET', at: 2 })?.context).toHaveProperty('seq', 3);
  });

  it('breakpoint: random event sequences agree step by step, from every state', () => {
    const compiled = new BreakpointHost();
    const reference = new BreakpointHost({ compiled: false });
    const base = compiled.create(breakpointInput);
    let accepted = 0;
    fc.assert(
      fc.property(fc.constantFrom(...BREAKPOINT_STATES), fc.array(breakpointEvent, { maxLength: 12 }), (value, events) => {
        accepted += agree(compiled as Host<BreakpointEvent>, reference as Host<BreakpointEvent>, { value, context: base.context }, events);
      }),
      { numRuns: 300, seed: 13 },
    );
    expect(accepted).toBeGreaterThan(100);
  });
});

describe('compileFlatMachine declines what it does not implement', () => {
  const update = { bump: ({ context }: { context: { n: number } }) => ({ n: context.n + 1 }) };
  const base = setup({ types: {} as { context: { n: number }; events: { type: 'GO' } }, actions: { bump: assign(update.bump) }, guards: { never: () => false } });

  it('compiles a flat machine with named assign actions', () => {
    const machine = base.createMachine({ context: { n: 0 }, initial: 'a', states: { a: { on: { GO: { target: 'b', actions: 'bump' } } }, b: {} } });
    const result = compileFlatMachine<'a' | 'b', { n: number }, { type: 'GO' }>(machine, update);
    expect(result.ok && result.step('a', { n: 1 }, { type: 'GO' })).toEqual({ value: 'b', context: { n: 2 } });
    expect(result.ok && result.step('b', { n: 1 }, { type: 'GO' })).toBeNull();
  });

  it.each([
    ['a guard', { a: { on: { GO: { target: 'b', guard: 'never' } } }, b: {} }, 'state "a" on GO: a guard'],
    ['entry actions', { a: { entry: 'bump', on: { GO: 'b' } }, b: {} }, 'state "a" has entry or exit actions'],
    ['nested states', { a: { initial: 'x', states: { x: {} } }, b: {} }, 'state "a" is compound'],
    ['a delay', { a: { after: { 100: 'b' } }, b: {} }, 'state "a" has entry or exit actions'],
    ['an inline action', { a: { on: { GO: { target: 'b', actions: () => {} } } }, b: {} }, 'an inline action'],
    ['an action with no context update', { a: { on: { GO: { target: 'b', actions: 'unknown' } } }, b: {} }, 'action "unknown" is not a known context update'],
  ])('declines %s, naming it', (_, states, reason) => {
    const machine = base.createMachine({ context: { n: 0 }, initial: 'a', states: states as never });
    const result = compileFlatMachine(machine as never, update as never);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain(reason);
  });
});
