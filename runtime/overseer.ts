/**
 * `createOverseer()`: the public, embeddable runtime.
 *
 * Its methods mirror the seed's TaskScheduler in camelCase. Each one validates its
 * input first and changes nothing when anything is wrong; then it asks the scheduler,
 * which steps the task actors through their machine. The supervisor actor (a real
 * XState actor, systemId `supervisor`) gates hand-out of work and is the root of the
 * actor system the `inspect` option observes.
 */
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import type { TaskState } from '../machines/task.js';
import { TASK_STATES } from '../machines/task.js';
import { supervisorMachine, type SupervisorMachine } from '../machines/supervisor.js';
import { backoffDelay, classifyFailure, DEFAULT_RETRY_POLICY, shouldRetry, type FailureInput, type RetryPolicy } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { analyzeDeadlock, type DeadlockReport } from './deadlock.js';
import { ClosedError, DependencyCycleError, UnknownTaskError, ValidationError } from './errors.js';
import { Emitter, OVERSEER_EVENT_TYPES, type OverseerEvent, type OverseerEventMap, type OverseerEventType } from './events.js';
import { findCycle, topologicalOrder } from './graph.js';
import { jsonProblems, type JsonValue } from './json.js';
import { Scheduler, type TaskEntry } from './scheduler.js';
import { describe, idProblems, isPlainObject, normalizeTask, type TaskSpec } from './validate.js';
import { toView, type TaskView } from './view.js';

export interface OverseerOptions {
  /** Where time comes from. XState's `SimulatedClock` works; default: the system clock. */
  clock?: Clock;
  /** Retry defaults for every task (a task can override maxRetries and retryBaseMs). */
  retry?: Partial<RetryPolicy>;
  /** XState's inspection observer, passed to the supervisor actor system. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Where errors thrown by event listeners are reported. Default: console.error. */
  onListenerError?: (error: unknown, eventType: string) => void;
}

export interface StateCounts extends Record<TaskState, number> {
  total: number;
}

const OPTION_KEYS = new Set(['clock', 'retry', 'inspect', 'onListenerError']);
const RETRY_KEYS = new Set(['baseDelayMs', 'maxRetries', 'maxDelayMs']);

export class Overseer {
  /** The supervisor actor; `overseer.supervisor.system` is the actor system. */
  readonly supervisor: Actor<SupervisorMachine>;
  readonly clock: Clock;
  readonly retryPolicy: Readonly<RetryPolicy>;
  private readonly scheduler: Scheduler;
  private readonly emitter: Emitter;

  constructor(options: OverseerOptions = {}) {
    const problems = optionProblems(options);
    if (problems.length) throw new ValidationError('createOverseer options', problems);
    this.clock = options.clock ?? systemClock;
    this.retryPolicy = Object.freeze({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    const onListenerError =
      options.onListenerError ?? ((error, type) => console.error(`overseer: a "${type}" listener threw`, error));
    this.emitter = new Emitter(onListenerError);
    this.scheduler = new Scheduler(this.clock, {
      onTransition: ({ entry, from, to, at, event, reason }) => {
        if (!this.emitter.wants('task.transition')) return;
        const e: OverseerEventMap['task.transition'] = {
          type: 'task.transition',
          taskId: entry.id,
          projectId: entry.task.context.projectId,
          from,
          to,
          at,
          event,
        };
        if (reason !== undefined) e.reason = reason;
        this.emitter.emit(e);
      },
      onPriority: (entry, change) => {
        if (!this.emitter.wants('task.priority')) return;
        this.emitter.emit({
          type: 'task.priority',
          taskId: entry.id,
          projectId: entry.task.context.projectId,
          ...change,
        });
      },
      onDeadlineMissed: (entry, at) => {
        const context = entry.task.context;
        this.emitter.emit({
          type: 'task.deadline_missed',
          taskId: entry.id,
          projectId: context.projectId,
          state: entry.task.value,
          deadline: context.deadline!,
          at,
        });
      },
    });
    this.supervisor = createActor(supervisorMachine, {
      systemId: 'supervisor',
      clock: this.clock,
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    // An unobserved actor error is rethrown in a timer and kills the process; report it instead.
    this.supervisor.subscribe({ error: (error) => onListenerError(error, 'supervisor') });
    this.supervisor.start();
  }

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
    const single = tasks.length === 1;
    const at = this.clock.now();
    const defaults = { maxRetries: this.retryPolicy.maxRetries, retryBaseMs: this.retryPolicy.baseDelayMs, at };
    const problems: string[] = [];
    const inputs = new Map<string, NonNullable<ReturnType<typeof normalizeTask>['input']>>();
    const batchIds = new Set<string>();
    tasks.forEach((raw, i) => {
      const path = single ? 'task' : `tasks[${i}]`;
      const { input, problems: issues } = normalizeTask(raw, path, defaults);
      problems.push(...issues);
      const id = isPlainObject(raw) && typeof raw.id === 'string' ? raw.id : undefined;
      if (id !== undefined) {
        if (this.scheduler.tasks.has(id)) problems.push(`${path}.id: a task "${id}" is already scheduled`);
        else if (batchIds.has(id)) problems.push(`${path}.id: "${id}" appears twice in this batch`);
        batchIds.add(id);
      }
      if (input && !inputs.has(input.id)) inputs.set(input.id, input);
    });
    tasks.forEach((raw, i) => {
      if (!isPlainObject(raw) || !Array.isArray(raw.dependencies)) return;
      raw.dependencies.forEach((dep, j) => {
        if (typeof dep === 'string' && dep !== raw.id && !this.scheduler.tasks.has(dep) && !batchIds.has(dep)) {
          problems.push(`${single ? 'task' : `tasks[${i}]`}.dependencies[${j}]: unknown task "${dep}"`);
        }
      });
    });
    const ids = [...inputs.keys()];
    const depsOf = (id: string) => inputs.get(id)?.dependencies ?? [];
    const cycle = findCycle(ids, depsOf);
    if (cycle) {
      problems.push(`dependency cycle: ${cycle.join(' -> ')}`);
      throw new DependencyCycleError(cycle, problems, single ? 'scheduleTask' : 'scheduleTasks');
    }
    if (problems.length) throw new ValidationError(single ? 'scheduleTask' : 'scheduleTasks', problems);
    const ordered = topologicalOrder(ids, depsOf).map((id) => inputs.get(id)!);
    const added = this.scheduler.add(ordered);
    const byId = new Map(added.map((entry) => [entry.id, entry]));
    return ids.map((id) => this.view(byId.get(id)!));
  }

  /**
   * The highest-priority ready task (of `projectId`, or of every project), marked
   * running; null when none is ready or scheduling is paused.
   */
  getNextTask(projectId?: string): TaskView | null {
    this.assertOpen('getNextTask');
    if (projectId !== undefined) this.assertId(projectId, 'getNextTask', 'projectId');
    this.scheduler.timers.fireDue();
    const entry = this.scheduler.startNext(this.activeProjects(projectId), this.clock.now());
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
    const stored = result === undefined ? null : (structuredClone(result) as JsonValue);
    this.scheduler.complete(entry, { type: 'COMPLETE', at: this.clock.now(), result: stored });
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
    const failure = classifyFailure(error);
    const context = entry.task.context;
    const allowed = shouldRetry(failure, context.retries, context.maxRetries);
    const at = this.clock.now();
    const delayMs = backoffDelay(context.retries, context.retryBaseMs, this.retryPolicy.maxDelayMs);
    this.scheduler.fail(entry, { type: 'FAIL', at, error: { ...failure, at } }, { allowed, delayMs });
    return this.view(entry);
  }

  /** failed → retrying → ready: a manual retry, after `delayMs` (default 0). */
  retryTask(id: string, options: { delayMs?: number } = {}): TaskView {
    const entry = this.entry(id, 'retryTask');
    const delayMs = options?.delayMs ?? 0;
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new ValidationError('retryTask', [`options.delayMs: must be a number of milliseconds ≥ 0, got ${describe(delayMs)}`]);
    }
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
    const problems: string[] = [];
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
    const project = this.scheduler.projects.get(projectId);
    if (!project) return null;
    const report = analyzeDeadlock(
      this.scheduler.tasks,
      TASK_STATES.flatMap((s) => [...project.byState[s]]),
      projectId,
    );
    if (report) {
      const at = this.clock.now();
      if (!this.closed) {
        this.supervisor.send({
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
    this.supervisor.send(projectId === undefined ? { type: 'PAUSE' } : { type: 'PAUSE', projectId });
  }

  resume(projectId?: string): void {
    this.assertOpen('resume');
    if (projectId !== undefined) this.assertId(projectId, 'resume', 'projectId');
    this.supervisor.send(projectId === undefined ? { type: 'RESUME' } : { type: 'RESUME', projectId });
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

  get closed(): boolean {
    return this.supervisor.getSnapshot().status !== 'active';
  }

  /** Stops every timer and the supervisor; later calls that change state throw `ClosedError`. */
  close(): void {
    if (this.closed) return;
    this.scheduler.timers.stop();
    this.supervisor.send({ type: 'CLOSE' });
  }

  // ---- helpers -------------------------------------------------------------------

  private view(entry: TaskEntry): TaskView {
    return toView(entry, this.clock.now());
  }

  private activeProjects(projectId: string | undefined): string[] {
    const snapshot = this.supervisor.getSnapshot();
    if (snapshot.value !== 'running') return [];
    const paused = snapshot.context.pausedProjects;
    return this.projectIds(projectId).filter((p) => !paused.includes(p));
  }

  private projectIds(projectId: string | undefined): string[] {
    return projectId === undefined ? [...this.scheduler.projects.keys()] : [projectId];
  }

  private entry(id: string, method: string): TaskEntry {
    this.assertOpen(method);
    this.assertId(id, method, 'id');
    const entry = this.scheduler.tasks.get(id);
    if (!entry) throw new UnknownTaskError(id);
    return entry;
  }

  private assertId(value: unknown, method: string, name: string): void {
    const problems = idProblems(value, name);
    if (problems.length) throw new ValidationError(method, problems);
  }

  private assertReason(reason: unknown, method: string): void {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new ValidationError(method, [`reason: must be a non-empty string, got ${describe(reason)}`]);
    }
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new ClosedError(method);
  }
}

function failureProblem(error: unknown): string | null {
  if (typeof error === 'string') return error.trim() === '' ? 'error: must not be empty' : null;
  if (error instanceof Error) return null;
  if (isPlainObject(error) && typeof error.message === 'string' && error.message.trim() !== '') {
    if (error.retryable !== undefined && typeof error.retryable !== 'boolean') {
      return `error.retryable: must be a boolean, got ${describe(error.retryable)}`;
    }
    if (error.kind !== undefined && typeof error.kind !== 'string') return `error.kind: must be a string, got ${describe(error.kind)}`;
    return null;
  }
  return `error: must be a message, an Error or { message, retryable?, kind? }, got ${describe(error)}`;
}

function optionProblems(options: unknown): string[] {
  if (!isPlainObject(options)) return [`options: must be an object, got ${describe(options)}`];
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) problems.push(`options.${key}: unknown option (known: ${[...OPTION_KEYS].join(', ')})`);
  }
  const clock = options.clock as Partial<Clock> | undefined;
  if (clock !== undefined) {
    for (const fn of ['now', 'setTimeout', 'clearTimeout'] as const) {
      if (typeof clock?.[fn] !== 'function') problems.push(`options.clock.${fn}: must be a function`);
    }
  }
  const retry = options.retry;
  if (retry !== undefined) {
    if (!isPlainObject(retry)) problems.push(`options.retry: must be an object, got ${describe(retry)}`);
    else {
      for (const key of Object.keys(retry)) {
        if (!RETRY_KEYS.has(key)) problems.push(`options.retry.${key}: unknown option (known: ${[...RETRY_KEYS].join(', ')})`);
        else {
          const v = retry[key];
          const integer = key === 'maxRetries';
          if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
            problems.push(`options.retry.${key}: must be ${integer ? 'an integer' : 'a number'} ≥ 0, got ${describe(v)}`);
          }
        }
      }
    }
  }
  if (options.inspect !== undefined && typeof options.inspect !== 'function' && !isPlainObject(options.inspect)) {
    problems.push('options.inspect: must be a function or an observer object');
  }
  if (options.onListenerError !== undefined && typeof options.onListenerError !== 'function') {
    problems.push('options.onListenerError: must be a function');
  }
  return problems;
}

export function createOverseer(options: OverseerOptions = {}): Overseer {
  return new Overseer(options);
}
