/**
 * The runtime's core operations: scheduling, transitions, queries and supervision. Each method
 * validates its input first and changes nothing when anything is wrong; then it asks the
 * scheduler, which steps the task actors through their machine. `Overseer` (overseer.ts) adds
 * breakpoints, judging and the workspace; the wiring is in overseer-base.ts.
 */
import { TASK_STATES, type TaskState } from '../machines/task.js';
import type { RunLimits } from '../machines/supervisor.js';
import type { FailureInput } from './backoff.js';
import { analyzeDeadlock, type DeadlockReport } from './deadlock.js';
import { ValidationError } from './errors.js';
import { OVERSEER_EVENT_TYPES, type OverseerEvent, type OverseerEventMap, type OverseerEventType } from './events.js';
import { topologicalOrder } from './graph.js';
import { deepFreeze, jsonProblems, type JsonValue } from './json.js';
import { failureProblem, runOptionProblems, type StateCounts } from './options.js';
import type { Overseer } from './overseer.js';
import { Runner, type RunnerOptions, type RunOutcome } from './runner.js';
import type { TaskEntry } from './scheduler.js';
import { checkBatch, describe, idProblems, isPlainObject, unknownKeyProblems, type TaskSpec } from './validate.js';
import type { TaskView } from './view.js';
import { OverseerBase } from './overseer-base.js';

/** Scheduling, transitions, queries and supervision; `Overseer` (overseer.ts) adds breakpoints, judging and the workspace. */
export class OverseerCore extends OverseerBase {
  // ---- scheduling ----------------------------------------------------------------

  /** Schedules one task. See `scheduleTasks` for the checks. */
  scheduleTask(task: TaskSpec): TaskView {
    return this.scheduleTasks([task])[0]!;
  }

  /**
   * Schedules tasks atomically: either all are added or none. Dependencies may name
   * tasks already scheduled or tasks of the same batch, in any order. Refused, with
   * every problem named: duplicate ids, unknown dependencies, self-dependencies,
   * dependency cycles (`DependencyCycleError` carries the path), priorities outside
   * 1..10, malformed deadlines, unknown fields.
   */
  scheduleTasks(tasks: readonly TaskSpec[]): TaskView[] {
    this.assertOpen('scheduleTasks');
    if (!Array.isArray(tasks)) throw new ValidationError('scheduleTasks', [`tasks: must be an array, got ${describe(tasks)}`]);
    const defaults = { maxRetries: this.retryPolicy.maxRetries, retryBaseMs: this.retryPolicy.baseDelayMs, at: this.clock.now() };
    const { ordered, ids } = checkBatch(tasks, (id) => this.scheduler.tasks.has(id), defaults);
    const added = this.scheduler.add(ordered);
    if (added.length === 1) return [this.view(added[0]!)];
    const byId = new Map(added.map((entry) => [entry.id, entry]));
    return ids.map((id) => this.view(byId.get(id)!));
  }

  /**
   * The highest-priority ready task (of one project, of a list of projects, or of every
   * project), marked running; null when none is ready or scheduling is paused.
   */
  getNextTask(projects?: string | readonly string[]): TaskView | null {
    this.assertOpen('getNextTask');
    let ids: string[] | undefined;
    if (projects !== undefined) {
      const list = typeof projects === 'string' ? [projects] : projects;
      if (!Array.isArray(list)) throw new ValidationError('getNextTask', [`projects: must be a project id or a list of them, got ${describe(projects)}`]);
      list.forEach((id, i) => this.assertId(id, 'getNextTask', typeof projects === 'string' ? 'projectId' : `projects[${i}]`));
      ids = [...list];
    }
    this.scheduler.timers.fireDue();
    const entry = this.scheduler.startNext(this.activeProjects(ids), this.clock.now());
    return entry ? this.view(entry) : null;
  }

  /** The given tasks in an order that puts every dependency first (Kahn). */
  resolveDependencies(taskIds: readonly string[]): string[] {
    if (!Array.isArray(taskIds)) {
      throw new ValidationError('resolveDependencies', [`taskIds: must be an array, got ${describe(taskIds)}`]);
    }
    const problems: string[] = [];
    const seen = new Set<string>();
    taskIds.forEach((id, i) => {
      const issues = idProblems(id, `taskIds[${i}]`);
      if (issues.length) return problems.push(...issues);
      if (!this.scheduler.tasks.has(id)) problems.push(`taskIds[${i}]: unknown task "${id}"`);
      else if (seen.has(id)) problems.push(`taskIds[${i}]: "${id}" is listed twice`);
      seen.add(id);
    });
    if (problems.length) throw new ValidationError('resolveDependencies', problems);
    return topologicalOrder(taskIds, (id) => this.scheduler.tasks.get(id)!.task.context.dependencies);
  }

  // ---- transitions ---------------------------------------------------------------

  /** running → completed. Dependents whose dependencies are all complete become ready. */
  markComplete(id: string, result?: JsonValue): TaskView {
    const entry = this.entry(id, 'markComplete');
    const issues = result === undefined ? [] : jsonProblems(result, 'result');
    if (issues.length) throw new ValidationError('markComplete', issues);
    const stored = result === undefined ? null : deepFreeze(structuredClone(result) as JsonValue);
    this.scheduler.complete(entry, { type: 'COMPLETE', at: this.clock.now(), result: stored });
    this.triggers.afterCompletion(entry);
    return this.view(entry);
  }

  /**
   * running (or blocked) → failed. A retryable failure with retries left goes on to
   * retrying, back to ready after base × 2^retries ms; otherwise the task stays failed
   * and its dependents follow their `onDependencyFailure` policy.
   */
  markFailed(id: string, error: FailureInput): TaskView {
    const entry = this.entry(id, 'markFailed');
    const problem = failureProblem(error);
    if (problem) throw new ValidationError('markFailed', [problem]);
    this.failEntry(entry, error);
    return this.view(entry);
  }


  /** failed → retrying → ready: a manual retry, after `delayMs` (default 0). */
  retryTask(id: string, options: { delayMs?: number } = {}): TaskView {
    const entry = this.entry(id, 'retryTask');
    if (!isPlainObject(options)) throw new ValidationError('retryTask', [`options: must be an object, got ${describe(options)}`]);
    const delayMs = options.delayMs ?? 0;
    const problems = unknownKeyProblems(options, ['delayMs'], 'options');
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
      problems.push(`options.delayMs: must be a number of milliseconds ≥ 0, got ${describe(delayMs)}`);
    }
    if (problems.length) throw new ValidationError('retryTask', problems);
    this.scheduler.retry(entry, this.clock.now(), delayMs, true);
    return this.view(entry);
  }

  /** Cancels a task that is not finished; its dependents follow their failure policy. */
  cancelTask(id: string, reason = 'cancelled'): TaskView {
    const entry = this.entry(id, 'cancelTask');
    this.assertReason(reason, 'cancelTask');
    this.scheduler.cancel(entry, this.clock.now(), reason);
    return this.view(entry);
  }

  /** pending | ready | running → blocked, with a reason (running means paused). */
  blockTask(id: string, reason = 'paused'): TaskView {
    const entry = this.entry(id, 'blockTask');
    this.assertReason(reason, 'blockTask');
    this.scheduler.block(entry, this.clock.now(), reason);
    return this.view(entry);
  }

  /** blocked → ready, or keeps waiting (`waiting_for_dependencies`) until its dependencies complete. */
  unblockTask(id: string): TaskView {
    const entry = this.entry(id, 'unblockTask');
    this.scheduler.unblock(entry, this.clock.now());
    return this.view(entry);
  }

  // ---- queries -------------------------------------------------------------------

  /** Ready tasks, in the order `getNextTask` would hand them out. */
  getReadyTasks(projectId?: string): TaskView[] {
    if (projectId !== undefined) this.assertId(projectId, 'getReadyTasks', 'projectId');
    if (!this.closed) this.scheduler.timers.fireDue();
    const entries: TaskEntry[] = [];
    for (const pid of this.projectIds(projectId)) entries.push(...(this.scheduler.projects.get(pid)?.ready.values() ?? []));
    entries.sort((a, b) => b.effective - a.effective || a.seq - b.seq);
    return entries.map((e) => this.view(e));
  }

  getBlockedTasks(projectId?: string): TaskView[] {
    return this.getTasks({ state: 'blocked', ...(projectId === undefined ? {} : { projectId }) });
  }

  /** Tasks, oldest first, optionally of one project and/or in one state. */
  getTasks(filter: { projectId?: string; state?: TaskState } = {}): TaskView[] {
    if (!isPlainObject(filter)) throw new ValidationError('getTasks', [`filter: must be an object, got ${describe(filter)}`]);
    const problems = unknownKeyProblems(filter, ['projectId', 'state'], 'filter');
    if (filter.projectId !== undefined) problems.push(...idProblems(filter.projectId, 'filter.projectId'));
    if (filter.state !== undefined && !TASK_STATES.includes(filter.state)) {
      problems.push(`filter.state: must be one of ${TASK_STATES.join(', ')}, got ${describe(filter.state)}`);
    }
    if (problems.length) throw new ValidationError('getTasks', problems);
    const entries: TaskEntry[] = [];
    for (const pid of this.projectIds(filter.projectId)) {
      const project = this.scheduler.projects.get(pid);
      if (!project) continue;
      for (const state of filter.state ? [filter.state] : TASK_STATES) entries.push(...project.byState[state]);
    }
    entries.sort((a, b) => a.seq - b.seq);
    return entries.map((e) => this.view(e));
  }

  /** The task's full status, or null when no task has this id. */
  getTaskStatus(id: string): TaskView | null {
    this.assertId(id, 'getTaskStatus', 'id');
    const entry = this.scheduler.tasks.get(id);
    return entry ? this.view(entry) : null;
  }

  /** How many tasks are in each state (of one project, or all). */
  getCounts(projectId?: string): StateCounts {
    if (projectId !== undefined) this.assertId(projectId, 'getCounts', 'projectId');
    const counts = { total: 0 } as StateCounts;
    for (const s of TASK_STATES) counts[s] = 0;
    for (const pid of this.projectIds(projectId)) {
      const project = this.scheduler.projects.get(pid);
      if (!project) continue;
      for (const s of TASK_STATES) counts[s] += project.byState[s].size;
    }
    for (const s of TASK_STATES) counts.total += counts[s];
    return counts;
  }

  /**
   * Null when every open task of the project can still run; otherwise the cycle path
   * (if any) and each task that can never run, with why. Emits `deadlock.detected`.
   */
  detectDeadlock(projectId = 'default'): DeadlockReport | null {
    this.assertId(projectId, 'detectDeadlock', 'projectId');
    if (!this.scheduler.projects.has(projectId)) return null;
    let deadTasks = 0;
    for (const project of this.scheduler.projects.values()) deadTasks += project.byState.failed.size + project.byState.cancelled.size;
    const report = analyzeDeadlock(this.scheduler.tasks, projectId, { deadTasks, backEdges: this.scheduler.backEdges });
    if (report) {
      const at = this.clock.now();
      if (!this.closed) {
        this.sendSupervisor({
          type: 'DEADLOCK_DETECTED',
          deadlock: { projectId, cycle: report.cycle, stuck: report.stuck.length, at },
        });
      }
      this.emitter.emit({ type: 'deadlock.detected', at, ...report });
    }
    return report;
  }

  // ---- supervision ---------------------------------------------------------------

  /** Stops handing out work (of one project, or all). Running tasks are not touched. */
  pause(projectId?: string): void {
    this.assertOpen('pause');
    if (projectId !== undefined) this.assertId(projectId, 'pause', 'projectId');
    this.sendSupervisor(projectId === undefined ? { type: 'PAUSE' } : { type: 'PAUSE', projectId });
  }

  /**
   * Lets go of a pause made with `pause` (of one project, or all). A project an open breakpoint
   * pauses stays paused until the breakpoint is resolved (`isPaused` says so).
   */
  resume(projectId?: string): void {
    this.assertOpen('resume');
    if (projectId !== undefined) this.assertId(projectId, 'resume', 'projectId');
    this.sendSupervisor(projectId === undefined ? { type: 'RESUME' } : { type: 'RESUME', projectId });
  }

  /**
   * Remembers how much may run at once (`concurrency`, `perProject`, `defaultPerProject`), in the
   * store: a run started without its own limits uses them, and so does `overseer resume`. The CLI
   * records a plan's here, so a project limited to 1 (deploys, migrations) stays so after a restart.
   */
  setRunLimits(limits: RunLimits): void {
    this.assertOpen('setRunLimits');
    if (!isPlainObject(limits)) throw new ValidationError('setRunLimits', [`limits: must be an object, got ${describe(limits)}`]);
    const keys = ['concurrency', 'perProject', 'defaultPerProject'];
    const picked = Object.fromEntries(keys.filter((k) => limits[k as keyof RunLimits] !== undefined).map((k) => [k, limits[k as keyof RunLimits]]));
    const problems = [...unknownKeyProblems(limits, keys, 'limits'), ...runOptionProblems(picked).map((p) => p.replace(/^options\./, 'limits.'))];
    if (problems.length) throw new ValidationError('setRunLimits', problems);
    const next = picked as RunLimits;
    if (next.perProject) next.perProject = { ...next.perProject }; // the caller's object is not kept
    if (JSON.stringify(next) === JSON.stringify(this.runLimits ?? {})) return; // nothing new to journal
    this.sendSupervisor({ type: 'SET_LIMITS', limits: next });
  }

  /** The limits `setRunLimits` stored, or null. */
  get runLimits(): RunLimits | null {
    const limits = this.supervisor.getSnapshot().context.limits;
    return limits ? structuredClone(limits) : null;
  }

  /** True when handing out work is paused for everything, or (given a project) for that project. */
  isPaused(projectId?: string): boolean {
    if (projectId !== undefined) this.assertId(projectId, 'isPaused', 'projectId');
    const snapshot = this.supervisor.getSnapshot();
    if (snapshot.value === 'paused') return true;
    return projectId !== undefined && snapshot.context.pausedProjects.includes(projectId);
  }

  /** The ids of every project that has tasks, in the order they first appeared. */
  getProjects(): string[] {
    return [...this.scheduler.projects.keys()];
  }

  /** Subscribes to runtime events (`'*'` for all); returns the unsubscribe function. */
  on<T extends OverseerEventType | '*'>(
    type: T,
    handler: (event: T extends OverseerEventType ? OverseerEventMap[T] : OverseerEvent) => void,
  ): () => void {
    if (type !== '*' && !OVERSEER_EVENT_TYPES.includes(type as OverseerEventType)) {
      throw new ValidationError('on', [`type: unknown event type ${describe(type)} (known: ${OVERSEER_EVENT_TYPES.join(', ')}, *)`]);
    }
    if (typeof handler !== 'function') throw new ValidationError('on', [`handler: must be a function, got ${describe(handler)}`]);
    return this.emitter.on(type, handler);
  }


  /**
   * Runs the work: starts ready tasks with their executors up to the concurrency limits
   * and reports each outcome, until nothing more can happen without a person or
   * `stop()` is called on the returned runner.
   */
  run(options: Omit<RunnerOptions, 'executors'> = {}): { outcome: Promise<RunOutcome>; runner: Runner } {
    this.assertOpen('run');
    const problems = runOptionProblems(options);
    if (problems.length) throw new ValidationError('run options', problems);
    // Two runs would each keep their own limits: together they would run more at once than either allows.
    if (this.activeRunner) throw new ValidationError('run', ['a run is already going on this overseer: await its outcome (or stop() its runner) first']);
    // Limits the run does not give are the ones stored (setRunLimits), if any.
    const stored = this.runLimits ?? {};
    const runner = new Runner(this as unknown as Overseer, { ...stored, ...options, executors: this.executors });
    this.activeRunner = runner;
    const outcome = runner.run().finally(() => {
      if (this.activeRunner === runner) this.activeRunner = null;
    });
    return { outcome, runner };
  }
}
