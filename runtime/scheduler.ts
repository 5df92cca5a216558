/**
 * The scheduler: the supervisor's working state for every task it hosts.
 *
 * It owns the task actors (through `TaskHost`), the per-project ready queues
 * (indexed binary heaps: highest effective priority first, oldest first among
 * equals), the dependency index (who waits on whom, and how many dependencies each
 * task still waits for), failure propagation and the runtime-owned timers.
 * Every state change goes through the task machine; this module only decides which
 * event to send. Input is validated by the caller (`overseer.ts`).
 */
import type { TaskContext, TaskEvent, TaskInput, TaskState } from '../machines/task.js';
import { deepFreeze } from './json.js';
import { LEGAL_TRANSITIONS } from '../machines/task.js';
import { forgiveness } from './backoff.js';
import { TaskStateError } from './errors.js';
import { IndexedHeap } from './heap.js';
import { deadlineBoostAt, effectivePriority, type BoostReason } from './priority.js';
import { TaskHost } from './task-host.js';
import type { Clock } from './clock.js';
import type { PriorityChange, SchedulerHooks, TaskEntry, TransitionNotice } from './task-entry.js';
import { TimerQueue } from './timers.js';
import type { StoredTask } from '../store/types.js';

export type { PriorityChange, SchedulerHooks, TaskEntry, TransitionNotice } from './task-entry.js';

interface Project {
  readonly id: string;
  readonly ready: IndexedHeap<TaskEntry>;
  readonly byState: Record<TaskState, Set<TaskEntry>>;
}

/** A dependency that failed for good or was cancelled can never complete by itself. */
const isDead = (state: TaskState) => state === 'failed' || state === 'cancelled';
const waitsOnDependencies = (reason: string | undefined) =>
  reason === 'upstream_failed' || reason === 'waiting_for_dependencies';

const byEffectivePriority = (a: TaskEntry, b: TaskEntry) =>
  a.effective > b.effective || (a.effective === b.effective && a.seq < b.seq);

/** Restored contexts come from JSON; freeze what views hand out, as for live tasks. */
function freezeContext(context: TaskContext): TaskContext {
  for (const key of ['dependencies', 'history', 'result', 'metadata', 'lastError', 'blockedReason'] as const) deepFreeze(context[key]);
  return context;
}

const sameReasons = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((r, i) => r === b[i]);

/** The dependencies of a task that has none (shared: nothing adds to it). */
const NO_ENTRIES: readonly TaskEntry[] = Object.freeze([]);

const RETRY = 'retry:';
const BOOST = 'boost:';
const DEADLINE = 'deadline:';

export class Scheduler {
  /**
   * Dependency edges that run against insertion order; a cycle needs one. `add` never makes one
   * (dependencies are scheduled first) and the store refuses a snapshot that holds one, so this
   * stays 0 unless something else builds the table; deadlock analysis then looks for cycles.
   */
  backEdges = 0;
  readonly host = new TaskHost();
  readonly tasks = new Map<string, TaskEntry>();
  readonly projects = new Map<string, Project>();
  /** The project ids in order of appearance, as a list: getNextTask walks it for every task it hands out. */
  readonly projectIds: readonly string[] = [];
  readonly timers: TimerQueue;
  private seq = 0;

  constructor(
    readonly clock: Clock,
    private readonly hooks: SchedulerHooks,
  ) {
    this.timers = new TimerQueue(clock, (key) => this.onTimer(key));
  }

  // ---- queries -------------------------------------------------------------------

  project(projectId: string): Project {
    let project = this.projects.get(projectId);
    if (!project) {
      const byState = {} as Record<TaskState, Set<TaskEntry>>;
      for (const s of Object.keys(LEGAL_TRANSITIONS) as TaskState[]) byState[s] = new Set();
      project = { id: projectId, ready: new IndexedHeap(byEffectivePriority), byState };
      this.projects.set(projectId, project);
      (this.projectIds as string[]).push(projectId);
    }
    return project;
  }

  /** The ready task that would be handed out next, across the given projects. */
  peekNext(projectIds: Iterable<string>): TaskEntry | undefined {
    let best: TaskEntry | undefined;
    for (const id of projectIds) {
      const top = this.projects.get(id)?.ready.peek();
      if (top && (!best || byEffectivePriority(top, best))) best = top;
    }
    return best;
  }

  // ---- scheduling ----------------------------------------------------------------

  /** Adds validated tasks; `inputs` must be in dependency order (dependencies first). */
  add(inputs: readonly TaskInput[]): TaskEntry[] {
    const added: TaskEntry[] = [];
    for (const input of inputs) {
      this.hooks.onAdd(input);
      const entry: TaskEntry = {
        id: input.id,
        seq: this.seq++,
        task: this.host.create(input),
        dependents: [],
        // Built at its size: an array grown by push reserves 17 slots (~150 bytes a task at 100,000).
        dependencies: input.dependencies.length ? input.dependencies.map((id) => this.tasks.get(id)!) : NO_ENTRIES,
        unmet: 0,
        ignored: null,
        effective: input.priority,
        boosts: [],
        priorityChanges: null,
        heapIndex: -1,
      };
      this.tasks.set(entry.id, entry);
      this.project(input.projectId).byState.pending.add(entry);
      this.hooks.onTransition({ entry, from: null, to: 'pending', at: input.at, event: 'SCHEDULE' });
      this.refreshPriority(entry, input.at, false);
      if (input.deadline !== null) this.timers.schedule(DEADLINE + entry.id, input.deadline);
      added.push(entry);

      let dead: TaskEntry[] | null = null;
      // Index loops over dependencies: a task without any shares the frozen NO_ENTRIES, and
      // for…of over a frozen array takes the iterator protocol (an object per step) on Node 20.
      for (let d = 0; d < entry.dependencies.length; d++) {
        const dep = entry.dependencies[d]!;
        dep.dependents.push(entry);
        const depState = dep.task.value;
        if (dep.dependents.length === 1 && depState !== 'completed' && depState !== 'cancelled') {
          this.refreshPriority(dep, input.at, true);
        }
        if (depState !== 'completed') entry.unmet++;
        if (isDead(depState)) (dead ??= []).push(dep);
      }
      if (entry.unmet === 0) this.send(entry, { type: 'DEPENDENCIES_MET', at: input.at });
      if (dead) for (const dep of dead) this.onDependencyDead(entry, dep, input.at);
    }
    return added;
  }

  /** Hands out the best ready task of the given projects and marks it running. */
  startNext(projectIds: Iterable<string>, at: number): TaskEntry | null {
    const entry = this.peekNext(projectIds);
    if (!entry) return null;
    this.send(entry, { type: 'START', at });
    return entry;
  }

  /**
   * Rebuilds every index from stored task actors (in scheduling order) and re-arms
   * their timers: retries at their `retryAt`, deadlines, priority boosts.
   */
  load(stored: readonly StoredTask[], now: number): void {
    const loaded: TaskEntry[] = [];
    for (const record of stored) {
      const entry: TaskEntry = {
        id: record.context.id,
        seq: this.seq++,
        task: { value: record.value, context: freezeContext(record.context) },
        dependents: [],
        dependencies: NO_ENTRIES,
        unmet: 0,
        ignored: record.ignored?.length ? new Set(record.ignored) : null,
        effective: record.effective,
        boosts: record.boosts,
        priorityChanges: record.priorityChanges?.length ? deepFreeze(record.priorityChanges) : null,
        heapIndex: -1,
      };
      this.tasks.set(entry.id, entry);
      this.project(record.context.projectId).byState[record.value].add(entry);
      loaded.push(entry);
    }
    for (const entry of loaded) {
      const ids = entry.task.context.dependencies;
      if (ids.length) entry.dependencies = ids.map((id) => this.tasks.get(id)!);
      for (let d = 0; d < entry.dependencies.length; d++) {
        const dep = entry.dependencies[d]!;
        const depId = dep.id;
        if (dep.seq >= entry.seq) this.backEdges++;
        dep.dependents.push(entry);
        if (dep.task.value !== 'completed' && !entry.ignored?.has(depId)) entry.unmet++;
      }
    }
    for (const entry of loaded) {
      const { value, context } = entry.task;
      if (value === 'completed' || value === 'cancelled') continue;
      if (value === 'ready') this.project(context.projectId).ready.push(entry);
      if (value === 'retrying' && context.retryAt !== null) this.timers.schedule(RETRY + entry.id, context.retryAt);
      if (context.deadline !== null) this.timers.schedule(DEADLINE + entry.id, context.deadline);
      // As in a live run: a ready task's priority is brought up to date now, the others'
      // when they become ready (or when their deadline boost comes due).
      if (value === 'ready') this.refreshPriority(entry, now, true);
      else this.armBoost(entry, now);
    }
  }

  /**
   * After a load: pending tasks whose dependencies are all met, which a whole journal never
   * leaves (the call that completes the last dependency also makes its dependents ready), are
   * made ready now. Returns their ids.
   */
  releaseMet(now: number): string[] {
    const released: string[] = [];
    for (const project of this.projects.values()) {
      for (const entry of [...project.byState.pending]) {
        if (entry.unmet === 0 && this.send(entry, { type: 'DEPENDENCIES_MET', at: now })) released.push(entry.id);
      }
    }
    return released;
  }

  /** Every task as stored: scheduling order, the actor's state and the facts not derivable from it. */
  storedTasks(): StoredTask[] {
    const out: StoredTask[] = [];
    for (const entry of this.tasks.values()) {
      const record: StoredTask = { value: entry.task.value, context: entry.task.context, effective: entry.effective, boosts: entry.boosts };
      // Shared: the list is replaced, never changed, so the image stays as it was taken (memoryStore keeps it by reference).
      if (entry.priorityChanges) record.priorityChanges = entry.priorityChanges;
      if (entry.ignored?.size) record.ignored = [...entry.ignored];
      out.push(record);
    }
    return out;
  }

  // ---- transitions requested through the API --------------------------------------

  /** `settles`: the start only settles the task (see the START event), without another attempt. */
  start(entry: TaskEntry, at: number, settles?: 'held_result' | 'skip'): void {
    this.require(entry, 'running', settles ? { type: 'START', at, settles } : { type: 'START', at });
  }

  complete(entry: TaskEntry, result: TaskEvent & { type: 'COMPLETE' }): void {
    this.require(entry, 'completed', result);
    for (const dependent of entry.dependents) this.dependencySatisfied(dependent, entry.id, result.at);
  }

  /** Marks a running (or blocked) task failed; retries it or propagates the failure. */
  fail(entry: TaskEntry, event: TaskEvent & { type: 'FAIL' }, retry: { allowed: boolean; delayMs: number }): void {
    this.require(entry, 'failed', event);
    if (retry.allowed) this.retry(entry, event.at, retry.delayMs, false);
    else this.propagateFailure(entry, event.at);
  }

  retry(entry: TaskEntry, at: number, delayMs: number, manual: boolean): void {
    const retryAt = at + delayMs;
    this.require(entry, 'retrying', { type: 'RETRY', at, retryAt, manual });
    this.timers.schedule(RETRY + entry.id, retryAt);
    if (delayMs <= 0) this.timers.fireDue();
  }

  cancel(entry: TaskEntry, at: number, reason: string): void {
    this.require(entry, 'cancelled', { type: 'CANCEL', at, reason });
    this.propagateFailure(entry, at);
  }

  block(entry: TaskEntry, at: number, reason: string, breakpoint?: string): void {
    this.require(entry, 'blocked', breakpoint === undefined ? { type: 'BLOCK', at, reason } : { type: 'BLOCK', at, reason, breakpoint });
  }

  /** Lets a blocked task go: ready when its dependencies are met, otherwise it keeps waiting for them. */
  unblock(entry: TaskEntry, at: number): void {
    const state = entry.task.value;
    if (state !== 'blocked') throw new TaskStateError(entry.id, state, 'ready', LEGAL_TRANSITIONS[state]);
    if (entry.unmet === 0) {
      this.send(entry, { type: 'UNBLOCK', at });
      return;
    }
    const deadDep = this.deadDependency(entry);
    if (deadDep) {
      throw new TaskStateError(
        entry.id,
        'blocked',
        'ready',
        LEGAL_TRANSITIONS.blocked,
        `its dependency "${deadDep.id}" is ${deadDep.task.value}; retry it first, or cancel this task`,
      );
    }
    this.send(entry, { type: 'BLOCK', at, reason: 'waiting_for_dependencies' });
  }

  // ---- internals -----------------------------------------------------------------

  /** Sends an event the API asked for; an event the machine refuses becomes a TaskStateError. */
  private require(entry: TaskEntry, requested: TaskState, event: TaskEvent): void {
    if (!this.send(entry, event)) {
      const state = entry.task.value;
      throw new TaskStateError(entry.id, state, requested, LEGAL_TRANSITIONS[state]);
    }
  }

  /** Advances the task actor and keeps every index in step. False when the machine refused. */
  send(entry: TaskEntry, event: TaskEvent): boolean {
    const before = entry.task;
    const next = this.host.send(before, event);
    if (next === null) return false;
    entry.task = next;
    this.hooks.onEvent(entry, event);
    const from = before.value;
    const to = next.value;
    if (from === to) return true;
    const project = this.project(next.context.projectId);
    project.byState[from].delete(entry);
    project.byState[to].add(entry);
    if (from === 'ready') project.ready.remove(entry);
    if (to === 'ready') {
      this.refreshPriority(entry, event.at, true);
      project.ready.push(entry);
    }
    if (to === 'completed' || to === 'cancelled') {
      this.timers.cancel(DEADLINE + entry.id);
      this.timers.cancel(BOOST + entry.id);
    }
    if (from === 'retrying') this.timers.cancel(RETRY + entry.id);
    const notice: TransitionNotice = { entry, from, to, at: event.at, event: event.type };
    const reason = next.context.history[next.context.history.length - 1]?.reason;
    if (reason !== undefined) notice.reason = reason;
    this.hooks.onTransition(notice);
    return true;
  }

  /**
   * A task that became ready again by retry while a dependency is not complete (it was
   * failed from blocked) goes back to blocked: waiting for its dependencies, or
   * `upstream_failed` when one of them failed for good.
   */
  private holdIfWaiting(entry: TaskEntry, at: number): void {
    if (entry.unmet === 0) return;
    const dead = this.deadDependency(entry);
    if (dead) this.send(entry, { type: 'BLOCK', at, reason: 'upstream_failed', upstream: dead.id });
    else this.send(entry, { type: 'BLOCK', at, reason: 'waiting_for_dependencies' });
  }

  private deadDependency(entry: TaskEntry): TaskEntry | undefined {
    return entry.dependencies.find((dep) => isDead(dep.task.value) && !entry.ignored?.has(dep.id));
  }

  private dependencySatisfied(entry: TaskEntry, depId: string, at: number): void {
    if (entry.ignored?.delete(depId)) {
      this.hooks.onIgnore(entry, depId, false);
      return; // already counted when it failed
    }
    entry.unmet--;
    if (entry.unmet > 0) return;
    const state = entry.task.value;
    if (state === 'pending') this.send(entry, { type: 'DEPENDENCIES_MET', at });
    else if (state === 'blocked' && waitsOnDependencies(entry.task.context.blockedReason?.reason)) {
      this.send(entry, { type: 'UNBLOCK', at });
    }
  }

  /** A dependency of `entry` failed for good or was cancelled: apply the dependent's policy. */
  private onDependencyDead(entry: TaskEntry, dep: TaskEntry, at: number): void {
    const state = entry.task.value;
    if (state === 'completed' || state === 'cancelled' || state === 'failed') return;
    // A result that failed its quality gate blocks every dependent, whatever its policy.
    const policy = dep.task.context.lastError?.kind === 'quality_gate' && dep.task.value === 'failed' ? 'block' : entry.task.context.onDependencyFailure;
    switch (policy) {
      case 'ignore':
        if (entry.ignored?.has(dep.id)) return; // failed again after a retry: already counted
        (entry.ignored ??= new Set()).add(dep.id);
        this.hooks.onIgnore(entry, dep.id, true);
        entry.unmet--;
        if (entry.unmet === 0) {
          if (state === 'pending') this.send(entry, { type: 'DEPENDENCIES_MET', at });
          else if (state === 'blocked' && waitsOnDependencies(entry.task.context.blockedReason?.reason)) {
            this.send(entry, { type: 'UNBLOCK', at });
          }
        }
        return;
      case 'cancel':
        if (this.send(entry, { type: 'CANCEL', at, reason: `upstream_failed: ${dep.id}` })) {
          this.propagateFailure(entry, at);
        }
        return;
      case 'block':
        if (state === 'pending' || state === 'ready') {
          this.send(entry, { type: 'BLOCK', at, reason: 'upstream_failed', upstream: dep.id });
        } else if (state === 'blocked' && entry.task.context.blockedReason?.reason === 'waiting_for_dependencies') {
          this.send(entry, { type: 'BLOCK', at, reason: 'upstream_failed', upstream: dep.id });
        }
        return;
    }
  }

  private propagateFailure(entry: TaskEntry, at: number): void {
    for (const dependent of entry.dependents) this.onDependencyDead(dependent, entry, at);
  }

  /** Recomputes the effective priority; records and announces a change. */
  refreshPriority(entry: TaskEntry, at: number, announce: boolean): void {
    const context = entry.task.context;
    const now = this.clock.now();
    const next = effectivePriority(
      // Retries forgiven (an interrupted attempt, a rate limit waited out) were not the work's failing: no penalty for them.
      { priority: context.priority, deadline: context.deadline, dependents: entry.dependents.length, retries: context.retries === 0 ? 0 : Math.max(0, context.retries - forgiveness(context.history, undefined).forgiven) },
      now,
    );
    this.armBoost(entry, now);
    if (next.value === entry.effective && sameReasons(next.reasons, entry.boosts)) return;
    const change: PriorityChange = Object.freeze({ from: entry.effective, to: next.value, reasons: next.reasons, at });
    entry.effective = next.value;
    entry.boosts = Object.freeze(next.reasons) as BoostReason[];
    if (!announce) return;
    // A new frozen list, not a push: images and views share the list instead of copying it.
    entry.priorityChanges = Object.freeze([...(entry.priorityChanges ?? []), change]) as PriorityChange[];
    if (entry.heapIndex >= 0) this.project(context.projectId).ready.update(entry);
    this.hooks.onPriority(entry, change);
  }

  /** Schedules the deadline boost of a task, if it has one still to come. */
  private armBoost(entry: TaskEntry, now: number): void {
    const boostAt = deadlineBoostAt(entry.task.context.deadline);
    if (boostAt !== null && boostAt > now && !this.timers.has(BOOST + entry.id)) this.timers.schedule(BOOST + entry.id, boostAt);
  }

  private onTimer(key: string): void {
    const at = this.clock.now();
    if (key.startsWith(RETRY)) {
      const entry = this.tasks.get(key.slice(RETRY.length));
      if (entry && this.send(entry, { type: 'RETRY_DUE', at })) this.holdIfWaiting(entry, at);
    } else if (key.startsWith(BOOST)) {
      const entry = this.tasks.get(key.slice(BOOST.length));
      if (entry) this.refreshPriority(entry, at, true);
    } else if (!key.startsWith(DEADLINE)) {
      this.hooks.onTimer?.(key);
    } else {
      const entry = this.tasks.get(key.slice(DEADLINE.length));
      if (entry && entry.task.value !== 'completed' && entry.task.value !== 'cancelled') {
        this.hooks.onDeadlineMissed(entry, at);
      }
    }
  }
}
