/**
 * The core of the runtime. Each method validates its input first and changes nothing
 * when anything is wrong; then it asks the scheduler, which steps the task actors
 * through their machine. The supervisor actor (a real XState actor, systemId
 * `supervisor`) gates hand-out of work and is the root of the actor system the
 * `inspect` option observes.
 */
import { createActor, type Actor } from 'xstate';
import type { Executor } from '../actors/types.js';
import { TASK_STATES, type TaskState } from '../machines/task.js';
import { supervisorMachine, type SupervisorEvent, type SupervisorMachine } from '../machines/supervisor.js';
import type { JournalEntry, StoredSupervisor } from '../store/types.js';
import { backoffDelay, classifyFailure, DEFAULT_RETRY_POLICY, shouldRetry, type FailureInput, type RetryPolicy } from './backoff.js';
import { BreakpointTriggers } from './breakpoint-facts.js';
import { breakpointPorts, holdIfPaused } from './breakpoint-wiring.js';
import { BreakpointManager } from './breakpoints.js';
import { systemClock, type Clock } from './clock.js';
import { analyzeDeadlock, type DeadlockReport } from './deadlock.js';
import { createDecisionEngine, type DecisionEngine } from './decision.js';
import { Durability } from './durability.js';
import { InspectionHub } from './inspection.js';
import { inspectionPorts } from './inspection-ports.js';
import { ClosedError, UnknownTaskError, ValidationError } from './errors.js';
import { Emitter, OVERSEER_EVENT_TYPES, schedulerHooks, type OverseerEvent, type OverseerEventMap, type OverseerEventType } from './events.js';
import { topologicalOrder } from './graph.js';
import { Judge, qualityRetriesUsed } from './judge.js';
import { deepFreeze, jsonProblems, type JsonValue } from './json.js';
import { failureProblem, optionProblems, type OverseerOptions, type RecoveryReport, type StateCounts } from './options.js';
import type { Overseer } from './overseer.js';
import { createQualityController, type QualityController } from './quality/controller.js';
import { Runner, type RunnerOptions, type RunOutcome } from './runner.js';
import { Scheduler, type TaskEntry } from './scheduler.js';
import { checkBatch, describe, idProblems, isPlainObject, type TaskSpec } from './validate.js';
import { toView, type TaskView } from './view.js';

const INTERRUPTED = 'interrupted: the process stopped while this attempt was running';

/** Wiring, scheduling, transitions, queries and supervision; `Overseer` (overseer.ts) adds breakpoints, judging and the workspace. */
export class OverseerCore {
  /** The supervisor actor; `overseer.supervisor.system` is the actor system. */
  readonly supervisor: Actor<SupervisorMachine>;
  readonly clock: Clock;
  readonly retryPolicy: Readonly<RetryPolicy>;
  /** Set when the runtime was restored from a store that held state. */
  readonly recovery: RecoveryReport | null = null;
  protected readonly scheduler: Scheduler;
  protected readonly breakpointManager: BreakpointManager;
  /** Scores results in stages (syntax, requirements, quality, testing); its history is stored. */
  readonly quality: QualityController;
  /** Chooses what follows a result, and explains it; its learned weights are stored. */
  readonly decisions: DecisionEngine;
  protected readonly judge: Judge;
  protected decisionsLearned = false;
  protected readonly triggers: BreakpointTriggers;
  protected readonly emitter: Emitter;
  /** Inspection records of every actor (`overseer.inspect`); nothing is built while nobody listens. */
  protected readonly inspection: InspectionHub;
  protected readonly durability: Durability | null;
  protected readonly executors: Record<string, Executor>;
  protected readonly onError: (error: unknown, source: string) => void;
  private closing: Promise<void> | null = null;

  constructor(options: OverseerOptions = {}) {
    const problems = optionProblems(options);
    if (problems.length) throw new ValidationError('createOverseer options', problems);
    this.clock = options.clock ?? systemClock;
    this.retryPolicy = Object.freeze({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.executors = { ...options.executors };
    const onListenerError =
      options.onListenerError ?? ((error, type) => console.error(`overseer: a "${type}" listener threw`, error));
    this.onError = options.onError ?? ((error, source) => console.error(`overseer: ${source} failed`, error));
    this.emitter = new Emitter(onListenerError);
    this.inspection = new InspectionHub(
      inspectionPorts(this.clock, () => this.scheduler, () => this.breakpointManager, () => this.supervisor),
      (error) => onListenerError(error, 'inspect'),
    );
    this.durability = options.store
      ? new Durability(options.store, {
          compactEvery: options.compactEvery ?? 100_000,
          onError: this.onError,
          image: () => {
            const b = this.breakpointManager.stored();
            return {
              tasks: this.scheduler.storedTasks(),
              supervisor: this.storedSupervisor(),
              breakpoints: b.breakpoints,
              rules: b.rules,
              disabledBreakpointTypes: b.disabledTypes,
              qualityHistory: this.quality.history(),
              decisionState: this.decisionsLearned ? this.decisions.state() : null,
            };
          },
        })
      : null;
    const durability = this.durability;
    // Tapped: what the journal records (each machine's input and accepted events) is also what inspection shows.
    const journal = this.inspection.tap(durability ? (entry: JournalEntry) => durability.journal(entry) : null);
    this.scheduler = new Scheduler(
      this.clock,
      schedulerHooks(this.emitter, journal, {
        onTransition: (n) => {
          if (n.to === 'running') this.triggers.onStart(n.entry, n.at);
          if (n.to === 'ready') {
            const { projectId } = n.entry.task.context;
            holdIfPaused(this.scheduler, n.entry, this.breakpointManager.openIdFor(projectId, n.entry.id), n.at);
          }
        },
        onTimer: (key) => {
          if (!this.breakpointManager.onTimer(key)) this.triggers.onTimer(key, this.clock.now());
        },
      }),
    );
    this.breakpointManager = new BreakpointManager(
      breakpointPorts({
        scheduler: this.scheduler,
        clock: this.clock,
        emitter: this.emitter,
        journal,
        onError: this.onError,
        pauseProject: (projectId, holder) => this.sendSupervisor({ type: 'PAUSE', projectId, holder }),
        resumeProject: (projectId, holder) => this.sendSupervisor({ type: 'RESUME', projectId, holder }),
      }),
      options.breakpoints?.notifyBatchMs === undefined ? {} : { notifyBatchMs: options.breakpoints.notifyBatchMs },
    );
    this.triggers = new BreakpointTriggers(this.scheduler, this.breakpointManager, options.breakpoints?.timeThresholdMs ?? null);

    // Restore before anything is journaled: opening takes the store's lock and reads it,
    // and throws (changing nothing) when the store is locked, corrupt or too new.
    const opened = this.durability?.open(this.scheduler.host) ?? null;
    this.supervisor = createActor(supervisorMachine, {
      systemId: 'supervisor',
      clock: this.clock,
      ...(opened ? { snapshot: supervisorMachine.resolveState(opened.restored.supervisor) } : {}),
      inspect: this.inspection.observer(options.inspect),
    });
    // An unobserved actor error is rethrown in a timer and kills the process; report it instead.
    this.supervisor.subscribe({ error: (error) => this.onError(error, 'the supervisor actor') });
    this.supervisor.start();
    this.quality = createQualityController({
      ...(opened ? { history: opened.restored.qualityHistory } : {}),
      ...(options.quality ?? {}),
      now: () => this.clock.now(),
      onRecord: (r) => this.durability?.journal({ k: 'quality', r }),
    });
    this.decisionsLearned = opened?.restored.decisionState != null;
    this.decisions = createDecisionEngine({ now: () => this.clock.now(), ...(opened?.restored.decisionState ? { history: opened.restored.decisionState } : {}) });
    this.judge = new Judge(this as unknown as Overseer, this.quality, this.decisions);
    if (opened) {
      const { breakpoints, rules, disabledBreakpointTypes } = opened.restored;
      this.breakpointManager.load({ breakpoints, rules, disabledTypes: disabledBreakpointTypes });
    }
    if (opened && (opened.restored.tasks.length > 0 || opened.restored.breakpoints.length > 0 || opened.warnings.length > 0)) {
      this.scheduler.load(opened.restored.tasks, this.clock.now());
      this.recovery = {
        store: this.durability!.store.location,
        tasks: opened.restored.tasks.length,
        replayed: opened.restored.replayed,
        interrupted: options.onRestoreRunning === 'keep' ? [] : this.interruptRunning(),
        warnings: opened.warnings,
      };
    }
  }

  /** Attempts that were running when the process stopped: each fails as interrupted and goes through the retry policy. */
  private interruptRunning(): string[] {
    const interrupted: string[] = [];
    for (const project of this.scheduler.projects.values()) {
      for (const entry of [...project.byState.running]) {
        interrupted.push(entry.id);
        this.failEntry(entry, { message: INTERRUPTED, kind: 'interrupted', retryable: true });
      }
    }
    return interrupted;
  }

  private storedSupervisor(): StoredSupervisor {
    const snapshot = this.supervisor.getSnapshot();
    return { value: snapshot.value === 'paused' ? 'paused' : 'running', context: snapshot.context };
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
    const defaults = { maxRetries: this.retryPolicy.maxRetries, retryBaseMs: this.retryPolicy.baseDelayMs, at: this.clock.now() };
    const { ordered, ids } = checkBatch(tasks, (id) => this.scheduler.tasks.has(id), defaults);
    const added = this.scheduler.add(ordered);
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

  protected failEntry(entry: TaskEntry, error: FailureInput): void {
    const failure = classifyFailure(error);
    const context = entry.task.context;
    // Two budgets: poor results (kind quality) and everything else never use up each other's retries.
    const isQuality = failure.kind === 'quality' || failure.kind === 'quality_gate';
    const qualityUsed = qualityRetriesUsed(context);
    const meta = context.metadata as { quality?: { maxRetries?: number } } | null;
    const allowed =
      isQuality
        ? shouldRetry(failure, qualityUsed, meta?.quality?.maxRetries ?? context.maxRetries)
        : shouldRetry(failure, context.retries - qualityUsed, context.maxRetries);
    const at = this.clock.now();
    // An interrupted attempt (the process, or with BullMQ its worker, stopped under it) was not the work's fault: no backoff.
    // A rate limit's retry-after is a floor under the backoff.
    const delayMs =
      failure.kind === 'interrupted' || failure.kind === 'worker_lost'
        ? 0
        : Math.max(failure.retryAfterMs ?? 0, backoffDelay(context.retries, context.retryBaseMs, this.retryPolicy.maxDelayMs));
    const { retryAfterMs: _, ...recorded } = failure;
    this.scheduler.fail(entry, { type: 'FAIL', at, error: Object.freeze({ ...recorded, at }) }, { allowed, delayMs });
    this.triggers.afterFailure(entry, failure);
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
    if (!this.scheduler.projects.has(projectId)) return null;
    const report = analyzeDeadlock(this.scheduler.tasks, projectId);
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

  resume(projectId?: string): void {
    this.assertOpen('resume');
    if (projectId !== undefined) this.assertId(projectId, 'resume', 'projectId');
    this.sendSupervisor(projectId === undefined ? { type: 'RESUME' } : { type: 'RESUME', projectId });
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

  get closed(): boolean {
    return this.closing !== null || this.supervisor.getSnapshot().status !== 'active';
  }

  /**
   * Runs the work: starts ready tasks with their executors up to the concurrency limits
   * and reports each outcome, until nothing more can happen without a person or
   * `stop()` is called on the returned runner.
   */
  run(options: Omit<RunnerOptions, 'executors'> = {}): { outcome: Promise<RunOutcome>; runner: Runner } {
    this.assertOpen('run');
    const runner = new Runner(this as unknown as Overseer, { ...options, executors: this.executors });
    return { outcome: runner.run(), runner };
  }

  /** Resolves once every change so far is durable in the store (at once without a store). */
  async flush(): Promise<void> {
    await this.durability?.flush();
  }

  /**
   * Stops every timer and the supervisor, then writes a final snapshot and releases the
   * store. Later calls that change state throw `ClosedError`.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.scheduler.timers.stop();
    this.closing = (async () => {
      await this.durability?.close();
      // After the final image: it must record the supervisor as running or paused, not closed.
      this.supervisor.send({ type: 'CLOSE' });
      // After CLOSE, the last record: listeners that write somewhere (a trace) finish now.
      this.inspection.end();
    })();
    return this.closing;
  }

  // ---- helpers -------------------------------------------------------------------

  protected sendSupervisor(event: SupervisorEvent): void {
    this.supervisor.send(event);
    this.durability?.journal({ k: 'sup', e: event });
  }

  protected view(entry: TaskEntry): TaskView {
    return toView(entry, this.clock.now());
  }

  private activeProjects(projectIds: string[] | undefined): string[] {
    const snapshot = this.supervisor.getSnapshot();
    if (snapshot.value !== 'running') return [];
    const paused = snapshot.context.pausedProjects;
    return (projectIds ?? [...this.scheduler.projects.keys()]).filter((p) => !paused.includes(p));
  }

  private projectIds(projectId: string | undefined): string[] {
    return projectId === undefined ? [...this.scheduler.projects.keys()] : [projectId];
  }

  protected entry(id: string, method: string): TaskEntry {
    this.assertOpen(method);
    this.assertId(id, method, 'id');
    const entry = this.scheduler.tasks.get(id);
    if (!entry) throw new UnknownTaskError(id);
    return entry;
  }

  protected assertId(value: unknown, method: string, name: string): void {
    const problems = idProblems(value, name);
    if (problems.length) throw new ValidationError(method, problems);
  }

  private assertReason(reason: unknown, method: string): void {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new ValidationError(method, [`reason: must be a non-empty string, got ${describe(reason)}`]);
    }
  }

  protected assertOpen(method: string): void {
    if (this.closed) throw new ClosedError(method);
  }
}
