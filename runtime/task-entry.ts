/**
 * What the scheduler keeps per task (an entry: the task actor at rest plus its place in the
 * queues and the dependency index), and what it tells the runtime (hooks, transition notices).
 */
import type { TaskEvent, TaskInput, TaskState } from '../machines/task.js';
import type { HeapItem } from './heap.js';
import type { BoostReason } from './priority.js';
import type { PersistedTask } from './task-host.js';

export interface PriorityChange {
  from: number;
  to: number;
  reasons: BoostReason[];
  at: number;
}

export interface TaskEntry extends HeapItem {
  readonly id: string;
  /** Scheduling order: "oldest first among equals". */
  readonly seq: number;
  /** The task actor's state value and context. */
  task: PersistedTask;
  /** Tasks that list this one as a dependency. */
  readonly dependents: TaskEntry[];
  /** Its dependencies' entries, in the task's order: walks over the graph need no id lookups. */
  dependencies: readonly TaskEntry[];
  /** Dependencies not yet satisfied (completed, or failed under an `ignore` policy). */
  unmet: number;
  /** Failed dependencies this task chose to ignore; a later completion must not count twice. */
  ignored: Set<string> | null;
  effective: number;
  boosts: BoostReason[];
  /** Frozen; a change replaces the list (images and views share it). */
  priorityChanges: PriorityChange[] | null;
}

export interface TransitionNotice {
  entry: TaskEntry;
  from: TaskState | null;
  to: TaskState;
  at: number;
  event: TaskEvent['type'] | 'SCHEDULE';
  reason?: string;
}

export interface SchedulerHooks {
  /** A task is being added (before any of its transitions). */
  onAdd(input: TaskInput): void;
  /** The task machine accepted `event`; called before any consequence for other tasks. */
  onEvent(entry: TaskEntry, event: TaskEvent): void;
  /** A dependency was marked ignored (`true`) or its ignore was used up by a completion (`false`). */
  onIgnore(entry: TaskEntry, dependencyId: string, ignored: boolean): void;
  onTransition(notice: TransitionNotice): void;
  onPriority(entry: TaskEntry, change: PriorityChange): void;
  onDeadlineMissed(entry: TaskEntry, at: number): void;
  /** A timer the runtime scheduled under its own key came due. */
  onTimer?(key: string): void;
}
