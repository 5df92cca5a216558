/** The read-only view of a task that the API hands out. */
import type { BlockedReason, ChangedFile, DependencyFailurePolicy, TaskError, TaskState, TransitionRecord } from '../machines/task.js';
import type { JsonValue } from './json.js';
import type { BoostReason } from './priority.js';
import type { PriorityChange, TaskEntry } from './scheduler.js';

export interface TaskView {
  readonly id: string;
  readonly projectId: string;
  readonly title: string;
  readonly state: TaskState;
  /** The priority given, 1..10. */
  readonly priority: number;
  /** The priority the queue uses now: the given one plus boosts. */
  readonly effectivePriority: number;
  readonly boosts: readonly BoostReason[];
  readonly priorityChanges: readonly PriorityChange[];
  readonly dependencies: readonly string[];
  readonly dependents: readonly string[];
  readonly onDependencyFailure: DependencyFailurePolicy;
  /** Epoch ms, or null. */
  readonly deadline: number | null;
  readonly deadlineMissed: boolean;
  /** How many times it was started. */
  readonly attempts: number;
  readonly retries: number;
  readonly maxRetries: number;
  /** The delay before the first retry (ms); it doubles with each retry after. */
  readonly retryBaseMs: number;
  readonly retryAt: number | null;
  readonly lastError: TaskError | null;
  readonly result: JsonValue | null;
  readonly blockedReason: BlockedReason | null;
  /** Every transition with its time, oldest first. */
  readonly history: readonly TransitionRecord[];
  readonly metadata: JsonValue | null;
  /** Files the work changed while it ran (seen by the workspace watcher), oldest first. */
  readonly changedFiles: readonly ChangedFile[];
}

/**
 * A view is a plain, frozen object: it prints, spreads and serializes like the data it is.
 * The task's own values (history, result, metadata…) are shared, not copied: they are
 * frozen, so a caller cannot change the stored task through a view.
 */
export function toView(entry: TaskEntry, now: number): TaskView {
  const c = entry.task.context;
  const state = entry.task.value;
  const finished = state === 'completed' || state === 'cancelled';
  // A finished task missed its deadline if it finished after it; an open one once the time has passed.
  const decidedAt = finished ? c.history[c.history.length - 1]!.at : now;
  return Object.freeze({
    id: c.id,
    projectId: c.projectId,
    title: c.title,
    state,
    priority: c.priority,
    effectivePriority: entry.effective,
    boosts: entry.boosts,
    priorityChanges: entry.priorityChanges ?? EMPTY,
    dependencies: c.dependencies,
    dependents: entry.dependents.length ? Object.freeze(entry.dependents.map((d) => d.id)) : EMPTY,
    onDependencyFailure: c.onDependencyFailure,
    deadline: c.deadline,
    deadlineMissed: c.deadline !== null && decidedAt > c.deadline,
    attempts: c.attempts,
    retries: c.retries,
    maxRetries: c.maxRetries,
    retryBaseMs: c.retryBaseMs,
    retryAt: c.retryAt,
    lastError: c.lastError,
    result: c.result,
    blockedReason: c.blockedReason,
    history: c.history,
    metadata: c.metadata,
    changedFiles: c.changedFiles ?? EMPTY,
  }) as TaskView;
}

const EMPTY: readonly never[] = Object.freeze([]);
