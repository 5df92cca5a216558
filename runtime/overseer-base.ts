/**
 * The runtime's wiring. The supervisor actor (a real XState actor, systemId `supervisor`)
 * gates hand-out of work and is the root of the actor system the `inspect` option observes.
 */
import { availableParallelism } from 'node:os';
import { createActor, type Actor } from 'xstate';
import type { Executor } from '../actors/types.js';
import { supervisorMachine, type SupervisorEvent, type SupervisorMachine } from '../machines/supervisor.js';
import type { JournalEntry, StoredSupervisor } from '../store/types.js';
import { backoffDelay, classifyFailure, DEFAULT_RETRY_POLICY, forgiveness, isInterruption, shouldRetry, type FailureInput, type RetryPolicy } from './backoff.js';
import { BreakpointTriggers } from './breakpoint-facts.js';
import { breakpointPorts, holdIfPaused } from './breakpoint-wiring.js';
import { BreakpointManager } from './breakpoints.js';
import { longTimers, systemClock, type Clock } from './clock.js';
import { createDecisionEngine, type DecisionEngine } from './decision.js';
import { defaultInterval, workerByDefault } from './compaction-policy.js';
import { Durability } from './durability.js';
import { InspectionHub } from './inspection.js';
import { inspectionPorts } from './inspection-ports.js';
import { ClosedError, UnknownTaskError, ValidationError } from './errors.js';
import { Emitter, schedulerHooks } from './events.js';
import { Judge, qualityRetriesUsed } from './judge.js';
import { optionProblems, type OverseerOptions, type RecoveryReport } from './options.js';
import type { Overseer } from './overseer.js';
import { createQualityController, DEFAULT_MAX_HISTORY, type QualityController } from './quality/controller.js';
import { Scheduler, type TaskEntry } from './scheduler.js';
import { describe, idProblems } from './validate.js';
import { toView, type TaskView } from './view.js';

const INTERRUPTED = 'interrupted: the process stopped while this attempt was running';

/**
 * The runtime's wiring and the helpers every part shares: options, the supervisor actor, the
 * scheduler, breakpoints, judging, inspection and the store; restore; failing an attempt through
 * the retry policy; closing. The public operations are in OverseerCore (overseer-core.ts).
 */
export class OverseerBase {
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
  /** The run going on (`run()`), if any: `close()` interrupts it. */
  protected activeRunner: { interrupt(): Promise<void> } | null = null;
  /** Closed: set by `close()` once a run going on has stopped. */
  private shut = false;
  /** Inspection records of every actor (`overseer.inspect`); nothing is built while nobody listens. */
  protected readonly inspection: InspectionHub;
  protected readonly durability: Durability | null;
  protected readonly executors: Record<string, Executor>;
  protected readonly onError: (error: unknown, source: string) => void;
  protected closing: Promise<void> | null = null;

  constructor(options: OverseerOptions = {}) {
    const problems = optionProblems(options);
    if (problems.length) throw new ValidationError('createOverseer options', problems);
    // Any clock gets timers of any length (a Node.js timer holds ~24.8 days; a user's clock may be built on one).
    this.clock = options.clock ? longTimers(options.clock) : systemClock;
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
          compactEvery: options.compactEvery ?? defaultInterval(options.store.kind),
          taskCount: () => this.scheduler.tasks.size,
          background: options.backgroundCompaction ?? workerByDefault(availableParallelism()),
          limits: { maxQualityHistory: options.quality?.maxHistory ?? DEFAULT_MAX_HISTORY },
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
              failureStreaks: this.triggers.streaks.stored(),
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
          this.triggers.observe(n.from, n.to, n.entry);
          if (n.to === 'running') this.triggers.onStart(n.entry, n.at);
          if (n.to === 'cancelled') this.breakpointManager.closeForTask(n.entry.id, `the task was cancelled${n.reason ? `: ${n.reason}` : ''}`);
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
      this.triggers.streaks.load(opened.restored.failureStreaks);
    }
    if (opened && (opened.restored.tasks.length > 0 || opened.restored.breakpoints.length > 0 || opened.warnings.length > 0)) {
      this.scheduler.load(opened.restored.tasks, this.clock.now());
      // Stores from before a cancelled task's breakpoints were closed with it may still hold one open.
      for (const b of this.breakpointManager.getPendingBreakpoints()) {
        if (b.taskId !== null && this.scheduler.tasks.get(b.taskId)?.task.value === 'cancelled') this.breakpointManager.closeForTask(b.taskId, 'the task was cancelled');
      }
      const released = this.scheduler.releaseMet(this.clock.now());
      if (released.length) {
        opened.warnings.push({
          kind: 'released_pending',
          message: `${this.durability!.store.location}: the journal ended between a completion and its consequences (a write cut short); ${released.length} task(s) whose dependencies are all complete were pending and are ready now: ${released.join(', ')}`,
        });
      }
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

  protected failEntry(entry: TaskEntry, error: FailureInput): void {
    const failure = classifyFailure(error);
    const context = entry.task.context;
    // Two budgets: poor results (kind quality) and everything else never use up each other's retries.
    const isQuality = failure.kind === 'quality' || failure.kind === 'quality_gate';
    const qualityUsed = qualityRetriesUsed(context);
    // Interruptions (the process or worker stopped under the attempt) and rate limits use none of the retries, up to a limit each.
    const { forgiven, forgivesThis } = forgiveness(context.history, failure.kind);
    const interrupted = isInterruption(failure.kind);
    const meta = context.metadata as { quality?: { maxRetries?: number } } | null;
    const allowed =
      isQuality
        ? shouldRetry(failure, qualityUsed, meta?.quality?.maxRetries ?? context.maxRetries)
        : forgivesThis
          ? failure.retryable
          : shouldRetry(failure, context.retries - qualityUsed - forgiven, context.maxRetries);
    const at = this.clock.now();
    // An interrupted attempt (the process, or with BullMQ its worker, stopped under it) was not the work's fault: no backoff.
    // A forgiven rate limit waits what it was told to; otherwise its retry-after is a floor under the backoff.
    const delayMs =
      interrupted
        ? 0
        : forgivesThis && failure.retryAfterMs !== undefined
          ? failure.retryAfterMs
          : Math.max(failure.retryAfterMs ?? 0, backoffDelay(context.retries - forgiven, context.retryBaseMs, this.retryPolicy.maxDelayMs));
    const { retryAfterMs: _, ...recorded } = failure;
    this.scheduler.fail(entry, { type: 'FAIL', at, error: Object.freeze({ ...recorded, at }) }, { allowed, delayMs });
    this.triggers.afterFailure(entry, failure);
  }

  get closed(): boolean {
    return this.shut || this.supervisor.getSnapshot().status !== 'active';
  }

  /** Resolves once every change so far is durable in the store (at once without a store). */
  async flush(): Promise<void> {
    // After close everything is durable already; the store is released, so there is nothing to flush.
    if (this.closing !== null) {
      await this.closing;
      return;
    }
    await this.durability?.flush();
  }

  /**
   * Stops every timer and the supervisor, then writes a final snapshot and releases the
   * store. Later calls that change state throw `ClosedError`.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const runner = this.activeRunner;
    this.closing = (async () => {
      // A run going on is stopped first, its work waited for and recorded as interrupted (retried
      // on the next run) while the store still takes it; its outcome says so. Only then is this
      // closed (at once when no run goes: this part runs before close() returns).
      if (runner) await runner.interrupt();
      this.shut = true;
      this.scheduler.timers.stop();
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
    const before = this.supervisor.getSnapshot();
    this.supervisor.send(event);
    this.durability?.journal({ k: 'sup', e: event });
    const after = this.supervisor.getSnapshot();
    // A resume lets work go without any task changing state: a run waiting on it must hear of it.
    if (after.value !== before.value || after.context.pausedProjects.join('\n') !== before.context.pausedProjects.join('\n')) {
      this.emitter.emit({ type: 'supervisor.changed', paused: after.value === 'paused', pausedProjects: [...after.context.pausedProjects], at: this.clock.now() });
    }
  }

  protected view(entry: TaskEntry): TaskView {
    return toView(entry, this.clock.now());
  }

  protected activeProjects(projectIds: string[] | undefined): Iterable<string> {
    const snapshot = this.supervisor.getSnapshot();
    if (snapshot.value !== 'running') return [];
    const paused = snapshot.context.pausedProjects;
    // The common case (every project, none paused) copies nothing: getNextTask runs once per task.
    if (projectIds === undefined && paused.length === 0) return this.scheduler.projectIds;
    return (projectIds ?? [...this.scheduler.projects.keys()]).filter((p) => !paused.includes(p));
  }

  protected projectIds(projectId: string | undefined): string[] {
    return projectId === undefined ? [...this.scheduler.projects.keys()] : [projectId];
  }

  protected entry(id: string, method: string): TaskEntry {
    this.assertOpen(method);
    // A scheduled task's id was checked when it was scheduled: only a miss needs the checks.
    const entry = typeof id === 'string' ? this.scheduler.tasks.get(id) : undefined;
    if (entry) return entry;
    this.assertId(id, method, 'id');
    throw new UnknownTaskError(id);
  }

  protected assertId(value: unknown, method: string, name: string): void {
    const problems = idProblems(value, name);
    if (problems.length) throw new ValidationError(method, problems);
  }

  protected assertReason(reason: unknown, method: string): void {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new ValidationError(method, [`reason: must be a non-empty string, got ${describe(reason)}`]);
    }
  }

  protected assertOpen(method: string): void {
    if (this.closed) throw new ClosedError(method);
  }
}
