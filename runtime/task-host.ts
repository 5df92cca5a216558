/**
 * The hosts of the task and breakpoint actors.
 *
 * Every task (and breakpoint) is an actor of its machine: it has its own state and
 * changes only through events the machine accepts. What a host saves is the per-actor
 * machinery: measured on Node 20 with XState 5.33, one `createActor` costs ~20 µs and
 * ~3.9 KB and one `send` ~7–10 µs; stepping the same machine through
 * `machine.transition` costs ~4–6 µs, and through its compiled table
 * (runtime/flat-machine.ts: the machine's own transitions and assign functions, checked
 * equal to XState's step by test/flat-machine.test.ts) well under 1 µs. At 100,000
 * tasks that is the difference between missing and meeting the throughput and memory
 * targets (see docs/benchmarks.md). A host is the only place that advances its actors.
 * When a machine leaves the compiled subset, the host runs `machine.transition` over one
 * shared, inert actor scope (what XState's `transition()` helper creates anew on every
 * call, at ~20 µs).
 */
import { compileFlatMachine, type ContextUpdate, type FlatStep } from './flat-machine.js';
import { createEmptyActor, type ActorScope, type AnyStateMachine, type EventObject } from 'xstate';
import { breakpointContextUpdates, breakpointMachine, initialBreakpointContext, type BreakpointContext, type BreakpointEvent, type BreakpointInput, type BreakpointState } from '../machines/breakpoint.js';
import { initialTaskContext, mergeTaskContext, taskContextUpdates, taskMachine, type TaskContext, type TaskEvent, type TaskInput, type TaskState } from '../machines/task.js';

/**
 * An actor's state at rest: its state value and context, exactly what is persisted.
 * Hosts keep actors in this form and resolve the full machine snapshot only for the
 * moment of a transition: the full snapshot (with its tag set, node list and methods)
 * is ~430 bytes more per task, and keeping 100,000 of them alive made garbage
 * collection the largest cost of a run.
 */
export interface AtRest<TValue extends string, TContext> {
  readonly value: TValue;
  readonly context: TContext;
}

export type PersistedTask = AtRest<TaskState, TaskContext>;
export type PersistedBreakpoint = AtRest<BreakpointState, BreakpointContext>;

export interface MachineHostOptions {
  /**
   * Step through the machine's compiled table (runtime/flat-machine.ts) when the machine
   * allows it. Default true; false always runs XState's `machine.transition` (the tests
   * compare the two).
   */
  compiled?: boolean;
}

/** One actor scope for every step: what XState's `transition()` helper creates anew on every call. */
function inertScope<TEvent extends EventObject>(): ActorScope<never, TEvent> {
  const self = createEmptyActor();
  return {
    self: self as never,
    id: 'host',
    sessionId: 'host',
    system: self.system,
    logger: () => {},
    defer: () => {},
    emit: () => {},
    stopChild: () => {},
    // The hosted machines have no side-effecting actions (only assign, which XState
    // applies inside the transition), so there is nothing to execute here.
    actionExecutor: () => {},
  };
}

export class MachineHost<TValue extends string, TContext, TEvent extends EventObject, TInput> {
  /** For `machine.transition`, made when first needed (never, for a compiled machine). */
  private scope: ActorScope<never, TEvent> | null = null;
  private readonly step: FlatStep<TValue, TContext, TEvent> | null;
  /** Why the compiled step is not used (null when it is). */
  readonly uncompiledReason: string | null;

  constructor(
    private readonly machine: AnyStateMachine,
    private readonly initialValue: TValue,
    private readonly initialContext: (input: TInput) => TContext,
    updates: Readonly<Record<string, ContextUpdate<TContext, TEvent, never>>>,
    options: MachineHostOptions = {},
    merge?: (context: TContext, changes: Partial<TContext>) => TContext,
  ) {
    const compiled = options.compiled === false ? { ok: false as const, reason: 'compiled: false' } : compileFlatMachine<TValue, TContext, TEvent>(machine, updates, merge);
    this.step = compiled.ok ? compiled.step : null;
    this.uncompiledReason = compiled.ok ? null : compiled.reason;
  }

  /**
   * A new actor: the machine's initial state with the context its own context factory
   * builds. The initial states have no entry actions, so this is what
   * `getInitialSnapshot` gives (a test holds it to that), without resolving a snapshot
   * nobody reads yet.
   */
  create(input: TInput): AtRest<TValue, TContext> {
    return { value: this.initialValue, context: this.initialContext(input) };
  }

  /** The actor after `event`, or null when the machine does not accept it in this state. */
  send(actor: AtRest<TValue, TContext>, event: TEvent): AtRest<TValue, TContext> | null {
    if (this.step) return this.step(actor.value, actor.context, event);
    const snapshot = this.machine.resolveState({ value: actor.value, context: actor.context as never });
    const next = this.machine.transition(snapshot, event, (this.scope ??= inertScope<TEvent>()) as never);
    if (next === snapshot) return null;
    return { value: next.value as TValue, context: next.context as TContext };
  }
}

export class TaskHost extends MachineHost<TaskState, TaskContext, TaskEvent, TaskInput> {
  constructor(options: MachineHostOptions = {}) {
    super(taskMachine, 'pending', initialTaskContext, taskContextUpdates, options, mergeTaskContext);
  }
}

export class BreakpointHost extends MachineHost<BreakpointState, BreakpointContext, BreakpointEvent, BreakpointInput> {
  constructor(options: MachineHostOptions = {}) {
    super(breakpointMachine, 'triggered', initialBreakpointContext, breakpointContextUpdates, options);
  }
}
