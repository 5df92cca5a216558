/**
 * The host of the task actors.
 *
 * Every task is an actor of `taskMachine`: it has its own snapshot and changes only
 * through events that the machine accepts. What the host saves is the per-actor
 * machinery: measured on Node 20 with XState 5.33, one `createActor` costs ~20 µs and
 * ~3.9 KB and one `send` ~7–10 µs, while stepping the same machine through its
 * transition function costs ~4–6 µs and ~0.7 KB per task. At 100,000 tasks that is the
 * difference between missing and meeting the throughput and memory targets (see
 * docs/ARCHITECTURE.md). The host is the only place that advances a task, and it does
 * so with the machine's own `transition` — the same function `createActor` runs — over
 * one shared, inert actor scope (what XState's `transition()` helper creates anew on
 * every call, at ~20 µs).
 */
import { createEmptyActor, type ActorScope, type SnapshotFrom } from 'xstate';
import { initialTaskContext, taskMachine, type TaskContext, type TaskEvent, type TaskInput, type TaskState } from '../machines/task.js';

/**
 * A task actor's state at rest: its state value and context, exactly what is
 * persisted. The host keeps tasks in this form and resolves the full machine
 * snapshot only for the moment of a transition: the full snapshot (with its tag set,
 * node list and methods) is ~430 bytes more per task, and keeping 100,000 of them
 * alive made garbage collection the largest cost of a run.
 */
export interface PersistedTask {
  readonly value: TaskState;
  readonly context: TaskContext;
}

export type TaskSnapshot = SnapshotFrom<typeof taskMachine>;

export class TaskHost {
  private readonly scope: ActorScope<TaskSnapshot, TaskEvent>;

  constructor() {
    const self = createEmptyActor();
    this.scope = {
      self: self as never,
      id: 'task-host',
      sessionId: 'task-host',
      system: self.system,
      logger: () => {},
      defer: () => {},
      emit: () => {},
      stopChild: () => {},
      // The task machine has no side-effecting actions (only assign, which XState
      // applies inside the transition), so there is nothing to execute here.
      actionExecutor: () => {},
    };
  }

  /**
   * A new task: the machine's initial state with the context its own context factory
   * builds. `pending` has no entry actions, so this is what `getInitialSnapshot` gives
   * (a test holds it to that), without resolving a snapshot nobody reads yet.
   */
  create(input: TaskInput): PersistedTask {
    return { value: 'pending', context: initialTaskContext(input) };
  }

  /** The task after `event`, or null when the machine does not accept it in this state. */
  send(task: PersistedTask, event: TaskEvent): PersistedTask | null {
    const snapshot = this.resolve(task);
    const next = taskMachine.transition(snapshot, event, this.scope);
    if (next === snapshot) return null;
    return { value: next.value as TaskState, context: next.context };
  }

  /** The full machine snapshot of a task (validates that its state exists). */
  resolve(task: PersistedTask): TaskSnapshot {
    return taskMachine.resolveState({ value: task.value, context: task.context });
  }
}
