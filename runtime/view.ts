/** The read-only view of a task that the API hands out. */
import type { BlockedReason, ChangedFile, DependencyFailurePolicy, TaskContext, TaskError, TaskState, TransitionRecord } from '../machines/task.js';
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
 * Views are built on every API call (three per task in a run), so they are cheap
 * wrappers over the task's immutable snapshot taken at that moment; each field is
 * read when asked. `toJSON()` gives the plain object.
 */
class TaskSnapshotView implements TaskView {
  private readonly c: TaskContext;
  readonly state: TaskState;
  readonly effectivePriority: number;
  readonly boosts: readonly BoostReason[];
  readonly deadlineMissed: boolean;

  constructor(
    entry: TaskEntry,
    now: number,
    private readonly entry_: TaskEntry,
    private readonly dependentCount: number,
    private readonly priorityChangeCount: number,
  ) {
    const c = entry.task.context;
    this.c = c;
    this.state = entry.task.value;
    this.effectivePriority = entry.effective;
    this.boosts = entry.boosts;
    const finished = this.state === 'completed' || this.state === 'cancelled';
    // A finished task missed its deadline if it finished after it; an open one once the time has passed.
    const decidedAt = finished ? c.history[c.history.length - 1]!.at : now;
    this.deadlineMissed = c.deadline !== null && decidedAt > c.deadline;
  }

  get id() { return this.c.id; }
  get projectId() { return this.c.projectId; }
  get title() { return this.c.title; }
  get priority() { return this.c.priority; }
  get priorityChanges(): readonly PriorityChange[] {
    return (this.entry_.priorityChanges ?? []).slice(0, this.priorityChangeCount);
  }
  get dependencies() { return this.c.dependencies; }
  get dependents(): readonly string[] {
    return this.entry_.dependents.slice(0, this.dependentCount).map((d) => d.id);
  }
  get onDependencyFailure() { return this.c.onDependencyFailure; }
  get deadline() { return this.c.deadline; }
  get attempts() { return this.c.attempts; }
  get retries() { return this.c.retries; }
  get maxRetries() { return this.c.maxRetries; }
  get retryAt() { return this.c.retryAt; }
  get lastError() { return this.c.lastError; }
  get result() { return this.c.result; }
  get blockedReason() { return this.c.blockedReason; }
  get history() { return this.c.history; }
  get metadata() { return this.c.metadata; }
  get changedFiles(): readonly ChangedFile[] { return this.c.changedFiles ?? []; }

  toJSON(): TaskView {
    const plain = {} as Record<string, unknown>;
    for (const key of VIEW_KEYS) plain[key] = this[key];
    return plain as unknown as TaskView;
  }
}

const VIEW_KEYS: readonly (keyof TaskView)[] = [
  'id', 'projectId', 'title', 'state', 'priority', 'effectivePriority', 'boosts', 'priorityChanges',
  'dependencies', 'dependents', 'onDependencyFailure', 'deadline', 'deadlineMissed', 'attempts', 'retries',
  'maxRetries', 'retryAt', 'lastError', 'result', 'blockedReason', 'history', 'metadata', 'changedFiles',
];

export function toView(entry: TaskEntry, now: number): TaskView {
  return new TaskSnapshotView(entry, now, entry, entry.dependents.length, entry.priorityChanges?.length ?? 0);
}
