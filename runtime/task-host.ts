/**
 * The hosts of the task and breakpoint actors.
 *
 * Every task (and breakpoint) is an actor of its machine: it has its own state and
 * changes only through events the machine accepts. What a host saves is the per-actor
 * machinery: measured on Node 20 with XState 5.33, one `createActor` costs ~20 µs and
 * ~3.9 KB and one `send` ~7–10 µs, while stepping the same machine through its
 * transition function costs ~4–6 µs and ~0.7 KB per task. At 100,000 tasks that is the
 * difference between missing and meeting the throughput and memory targets (see
 * docs/ARCHITECTURE.md). A host is the only place that advances its actors, and it
 * does so with the machine's own `transition` — the same function `createActor` runs —
 * over one shared, inert actor scope (what XState's `transition()` helper creates anew
 * on every call, at ~20 µs).
 */
import { createEmptyActor, type ActorScope, type AnyStateMachine, type EventObject } from 'xstate';
import { breakpointMachine, initialBreakpointContext, type BreakpointContext, type BreakpointEvent, type BreakpointInput, type BreakpointState } from '../machines/breakpoint.js';
import { initialTaskContext, taskMachine, type TaskContext, type TaskEvent, type TaskInput, type TaskState } from '../machines/task.js';

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

export class MachineHost<TValue extends string, TContext, TEvent extends EventObject, TInput> {
  private readonly scope: ActorScope<never, TEvent>;

  constructor(
    private readonly machine: AnyStateMachine,
    private readonly initialValue: TValue,
    private readonly initialContext: (input: TInput) => TContext,
  ) {
    const self = createEmptyActor();
    this.scope = {
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
    const snapshot = this.machine.resolveState({ value: actor.value, context: actor.context as never });
    const next = this.machine.transition(snapshot, event, this.scope as never);
    if (next === snapshot) return null;
    return { value: next.value as TValue, context: next.context as TContext };
  }
}

export class TaskHost extends MachineHost<TaskState, TaskContext, TaskEvent, TaskInput> {
  constructor() {
    super(taskMachine, 'pending', initialTaskContext);
  }
}

export class BreakpointHost extends MachineHost<BreakpointState, BreakpointContext, BreakpointEvent, BreakpointInput> {
  constructor() {
    super(breakpointMachine, 'triggered', initialBreakpointContext);
  }
}
