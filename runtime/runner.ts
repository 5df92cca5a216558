/**
 * The runner: starts ready tasks up to the concurrency limits (global and per
 * project), runs each attempt with its executor, and reports the outcome back through
 * the task actors. It reacts to the runtime's events: a task that becomes ready is
 * started, a running task that is cancelled or paused has its work aborted.
 *
 * Infrastructure failures (timeout, the work's process could not start, the runner
 * stopping under it) are reported with their own `kind`, apart from the work's own
 * failures, so policies can tell them apart.
 */
import { isPlainObject } from './validate.js';
import { describe } from './describe.js';
import { jsonProblems } from './json.js';
import { agentExecutor } from '../actors/agent.js';
import { shellExecutor } from '../actors/shell.js';
import { ExecutionError, type ExecutionContext, type Executor } from '../actors/types.js';
import type { JsonValue } from './json.js';
import type { Overseer, StateCounts } from './overseer.js';
import type { ExecutorSpec, PlanTaskMetadata } from './plan.js';
import type { TaskView } from './view.js';
import { qualityConfigOf } from './judge.js';

export interface RunnerOptions {
  /** Function executors, by the name plans use (`executor: function`, `function: name`). */
  executors?: Record<string, Executor>;
  /** At most this many attempts at once. Default 4. */
  concurrency?: number;
  /** Per-project limits, by project id. */
  perProject?: Record<string, number>;
  /** The limit for projects not named in `perProject`. Default: none. */
  defaultPerProject?: number | null;
  /** Each line an executor logs. */
  onLog?: (taskId: string, line: string) => void;
  /** How long a process may take to stop after SIGTERM before SIGKILL (ms). Default 2000. */
  killGraceMs?: number;
  /**
   * When only a person can move the run on (a breakpoint awaits a decision, or work is
   * paused), keep waiting this long (ms) for one before ending with `waiting`. Default 0.
   */
  waitForPersonMs?: number;
  /** Keep running when there is nothing to do (watch mode: changes bring new work) until `stop()`. */
  keepAlive?: boolean;
  /**
   * Run the shell commands and agents tasks carry in `metadata.executor` (as plan files make
   * them). Default false: a service that passes its clients' metadata through must not run
   * their commands by accident. The CLI runs plans, so it sets it.
   */
  commands?: boolean;
  /**
   * Run every attempt elsewhere (e.g. `BullmqDispatch`: on workers through BullMQ) instead of with the
   * local executors. The runner still decides what runs, how many at once, timeouts and cancels. It also
   * re-attaches, when it starts, to tasks that were running when the supervisor stopped (restore them with
   * `createOverseer({ onRestoreRunning: 'keep' })`).
   */
  dispatch?: AttemptDispatch;
}

/** Where attempts run when they do not run here. */
export interface AttemptDispatch {
  /** Runs one attempt (the executor contract). */
  run: Executor;
  /** Waits for an attempt started before the supervisor stopped; fails it as `interrupted` when it was lost. */
  reattach: Executor;
}

/** How a run ended. */
export interface RunOutcome {
  /** completed: every task completed. failed: some failed, were cancelled or can never run. waiting: only a person can move it on. interrupted: stopped. */
  status: 'completed' | 'failed' | 'waiting' | 'interrupted';
  /** 0, 1, 3 or 130, as the CLI exits. */
  exitCode: 0 | 1 | 3 | 130;
  counts: StateCounts;
}

interface Attempt {
  task: TaskView;
  controller: AbortController;
  /** Why the work was aborted, when it was. */
  abortedFor: 'timeout' | 'cancelled' | 'paused' | 'stopped' | null;
  timer: unknown;
  done: Promise<void>;
  /** The judge already decided what follows this attempt. */
  judged?: boolean;
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

export class Runner {
  /** The current attempt of each task being worked on. */
  private readonly attempts = new Map<string, Attempt>();
  /** Aborted attempts of tasks that moved on, still winding down (their processes stopping). */
  private readonly stopping_ = new Set<Attempt>();
  private readonly options: Required<Omit<RunnerOptions, 'onLog' | 'defaultPerProject' | 'dispatch'>> & Pick<RunnerOptions, 'onLog' | 'defaultPerProject' | 'dispatch'>;
  private stopping: { drain: boolean } | null = null;
  private pumpQueued = false;
  private finish: ((outcome: RunOutcome) => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  /** While waiting for a person: the timer that ends the wait, and whether it has. */
  private personWait: { timer: unknown; over: boolean } | null = null;

  constructor(
    private readonly overseer: Overseer,
    options: RunnerOptions = {},
  ) {
    this.options = {
      executors: options.executors ?? {},
      concurrency: options.concurrency ?? 4,
      perProject: options.perProject ?? {},
      defaultPerProject: options.defaultPerProject ?? null,
      killGraceMs: options.killGraceMs ?? 2000,
      waitForPersonMs: options.waitForPersonMs ?? 0,
      keepAlive: options.keepAlive ?? false,
      commands: options.commands ?? false,
      onLog: options.onLog,
      dispatch: options.dispatch,
    };
  }

  /** The attempts under way, by task id. */
  get running(): ReadonlyMap<string, { task: TaskView }> {
    return this.attempts;
  }

  /** Runs until nothing more can happen without a person (or until `stop()`). */
  run(): Promise<RunOutcome> {
    if (this.finish) throw new Error('this runner is already running');
    const outcome = new Promise<RunOutcome>((resolve) => (this.finish = resolve));
    const offTransitions = this.overseer.on('task.transition', (e) => {
      const attempt = this.attempts.get(e.taskId);
      if (attempt && e.from === 'running' && e.to !== 'running') {
        // The operator's reason goes with a cancel, so the work (and a worker's report of it) can say why.
        this.abort(attempt, e.to === 'cancelled' ? 'cancelled' : e.to === 'blocked' ? 'paused' : 'stopped', undefined, e.to === 'cancelled' ? e.reason : undefined);
      }
      this.schedulePump();
    });
    // A resolved project breakpoint resumes a project without any task changing state.
    const offResolutions = this.overseer.on('breakpoint.resolved', () => this.schedulePump());
    const offChanges = this.overseer.on('workspace.changed', () => this.schedulePump());
    // A pause lifted (resume) lets ready tasks go without any of them changing state.
    const offSupervisor = this.overseer.on('supervisor.changed', () => this.schedulePump());
    this.unsubscribe = () => {
      offTransitions();
      offResolutions();
      offChanges();
      offSupervisor();
    };
    // Attempts that were running when the supervisor stopped run on elsewhere: wait for them again.
    if (this.options.dispatch && !this.overseer.closed) {
      for (const task of this.overseer.getTasks({ state: 'running' })) if (!this.attempts.has(task.id)) this.launch(task, true);
    }
    this.schedulePump();
    return outcome;
  }

  /**
   * Starts no new work. Without `drain`, running attempts are aborted (their processes
   * stopped) and recorded as interrupted, to be retried on resume; with it, they finish.
   */
  async stop({ drain = false }: { drain?: boolean } = {}): Promise<void> {
    this.stopping = { drain };
    if (!drain) for (const attempt of this.attempts.values()) this.abort(attempt, 'stopped');
    await Promise.all([...this.stopping_, ...this.attempts.values()].map((a) => a.done));
    this.settleIfIdle();
  }

  /**
   * For `close()`: starts nothing more and ends the run, its outcome `interrupted`.
   *
   * Local work is aborted (a process gets SIGTERM, then SIGKILL after `killGraceMs`) and waited
   * for, so that it has stopped, and is recorded as interrupted, before the store is released:
   * a restart must not run it again beside itself. An executor that ignores its signal is given
   * up on after `killGraceMs` + 2.5 s and recorded as interrupted all the same.
   *
   * Dispatched work (BullMQ) runs on in its workers and stays `running` in the store: a
   * supervisor restored with `onRestoreRunning: 'keep'` re-attaches to it instead of starting
   * it again.
   */
  async interrupt(): Promise<void> {
    this.stopping = { drain: false };
    if (!this.options.dispatch) {
      for (const attempt of this.attempts.values()) this.abort(attempt, 'stopped');
      const going = [...this.attempts.values(), ...this.stopping_].map((a) => a.done);
      let timer: NodeJS.Timeout | undefined;
      const givenUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.killGraceMs + 2_500)));
      await Promise.race([Promise.all(going), givenUp]);
      clearTimeout(timer);
      for (const attempt of [...this.attempts.values(), ...this.stopping_]) {
        const current = this.overseer.getTaskStatus(attempt.task.id);
        if (current?.state === 'running' && current.attempts === attempt.task.attempts) {
          this.overseer.markFailed(attempt.task.id, { message: 'interrupted: the overseer was closed during this attempt (its work did not stop when asked)', kind: 'interrupted', retryable: true });
        }
      }
    }
    // What is still out there finds, when it ends, its task moved on (or the overseer closed).
    this.attempts.clear();
    this.stopping_.clear();
    this.settleIfIdle();
  }

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    if (!this.finish) return;
    while (!this.stopping && this.attempts.size < this.options.concurrency && !this.overseer.closed) {
      const task = this.overseer.getNextTask(this.projectsWithRoom());
      if (!task) break;
      this.launch(task);
    }
    this.settleIfIdle();
  }

  private projectsWithRoom(): string[] {
    const busy = new Map<string, number>();
    for (const { task } of this.attempts.values()) busy.set(task.projectId, (busy.get(task.projectId) ?? 0) + 1);
    return this.overseer.getProjects().filter((p) => {
      const limit = this.options.perProject[p] ?? this.options.defaultPerProject;
      return limit === null || limit === undefined || (busy.get(p) ?? 0) < limit;
    });
  }

  private launch(task: TaskView, reattach = false): void {
    const controller = new AbortController();
    const metadata = task.metadata as unknown as Partial<PlanTaskMetadata> | null;
    const attempt: Attempt = { task, controller, abortedFor: null, timer: null, done: Promise.resolve() };
    const timeoutMs = metadata?.timeoutMs ?? null;
    if (timeoutMs !== null) {
      attempt.timer = this.overseer.clock.setTimeout(() => this.abort(attempt, 'timeout', timeoutMs), timeoutMs);
    }
    this.attempts.set(task.id, attempt);
    const context: ExecutionContext = {
      signal: controller.signal,
      attempt: task.attempts,
      log: (line) => this.options.onLog?.(task.id, line),
      dependencyResults: Object.fromEntries(task.dependencies.map((d) => [d, this.overseer.getTaskStatus(d)?.result ?? null])),
      feedback: this.overseer.feedbackFor(task.id),
    };
    attempt.done = (async () => {
      let result: JsonValue | void = undefined;
      // Whether it threw, apart from what: an executor may throw null or undefined.
      let failure: { error: unknown } | null = null;
      try {
        const dispatch = this.options.dispatch;
        // Wherever it runs, a command a task's metadata carries runs only in a run that says so.
        this.checkCommands(task, metadata?.executor);
        const executor = dispatch ? (reattach ? dispatch.reattach : dispatch.run) : this.executorFor(task, metadata?.executor);
        result = await executor(task, context);
        // With quality checks, the result is judged before anything is decided.
        if (qualityConfigOf(task) && !attempt.abortedFor) {
          await this.overseer.judgeAttempt(this.overseer.getTaskStatus(task.id) ?? task, result, controller.signal);
          attempt.judged = true;
        }
      } catch (error) {
        failure = { error };
      }
      this.settle(attempt, result, failure);
    })();
  }

  /** Refuses (as a configuration failure) a shell command or agent from `metadata.executor` unless the run allows commands. */
  private checkCommands(task: TaskView, spec: ExecutorSpec | undefined): void {
    const type = isPlainObject(spec) ? spec.type : undefined;
    if ((type === 'shell' || type === 'agent') && !this.options.commands) {
      throw new ExecutionError(`task "${task.id}" carries a ${type} command in metadata.executor, and this run does not run commands: run({ commands: true }) does (the CLI runs plans that way)`, { kind: 'config', retryable: false });
    }
  }

  private executorFor(task: TaskView, spec: ExecutorSpec | undefined): Executor {
    if (!spec) {
      const fallback = this.options.executors.default;
      if (fallback) return fallback;
      throw new ExecutionError(`task "${task.id}" says nothing about how to run it (no metadata.executor)`, { kind: 'config', retryable: false });
    }
    const config = (message: string) => new ExecutionError(message, { kind: 'config', retryable: false });
    if (!isPlainObject(spec)) throw config(`task "${task.id}": metadata.executor must be { type: shell | agent | function, … }, got ${describe(spec)}`);
    switch (spec.type) {
      case 'shell':
        return shellExecutor(spec, { killGraceMs: this.options.killGraceMs });
      case 'agent':
        return agentExecutor(spec, { killGraceMs: this.options.killGraceMs });
      case 'function': {
        const executor = this.options.executors[spec.name];
        if (!executor) {
          throw new ExecutionError(`no executor named "${spec.name}" is registered (known: ${Object.keys(this.options.executors).join(', ') || 'none'})`, {
            kind: 'config',
            retryable: false,
          });
        }
        return executor;
      }
      default:
        throw config(`task "${task.id}": metadata.executor.type must be shell, agent or function, got ${describe((spec as { type: unknown }).type)}`);
    }
  }

  private abort(attempt: Attempt, reason: NonNullable<Attempt['abortedFor']>, timeoutMs?: number, detail?: string): void {
    if (attempt.abortedFor) return;
    attempt.abortedFor = reason;
    // It no longer counts against the limits once its task moved on, but the run waits for it to end.
    if (reason === 'cancelled' || reason === 'paused') {
      if (this.attempts.get(attempt.task.id) === attempt) this.attempts.delete(attempt.task.id);
      this.stopping_.add(attempt);
    }
    attempt.controller.abort(reason === 'timeout' ? new TimeoutError(`timed out after ${timeoutMs} ms`) : detail && detail !== reason ? `${reason}: ${detail}` : reason);
  }

  private settle(attempt: Attempt, result: JsonValue | void, thrown: { error: unknown } | null): void {
    const { task } = attempt;
    if (attempt.timer !== null) this.overseer.clock.clearTimeout(attempt.timer);
    // A newer attempt of the same task may have started while this aborted one wound down.
    if (this.attempts.get(task.id) === attempt) this.attempts.delete(task.id);
    this.stopping_.delete(attempt);
    try {
      this.record(attempt, result, thrown);
    } catch (error) {
      // Never a crash of the host, nor a run that waits for ever on an attempt it lost: the task fails.
      const current = this.overseer.closed ? null : this.overseer.getTaskStatus(task.id);
      if (current?.state === 'running' && current.attempts === task.attempts) {
        this.overseer.markFailed(task.id, { message: `its outcome could not be recorded: ${(error as Error)?.message ?? String(error)}`, kind: 'internal', retryable: false });
      }
    } finally {
      this.schedulePump();
    }
  }

  /** What the attempt came to, recorded on its task (unless the task moved on meanwhile). */
  private record(attempt: Attempt, result: JsonValue | void, thrown: { error: unknown } | null): void {
    const { task } = attempt;
    const failure = thrown?.error;
    const current = this.overseer.closed ? null : this.overseer.getTaskStatus(task.id);
    // The task moved on while the work ran (cancelled, paused, judged): its late outcome is ignored.
    if (current?.state === 'running' && current.attempts === task.attempts && !attempt.judged) {
      if (attempt.abortedFor === 'timeout') {
        // The time limit, and the executor's own account when it gives one (a shell step's: how it was
        // stopped, and what it printed).
        const limit = (attempt.controller.signal.reason as Error).message;
        const own = failure instanceof ExecutionError && failure.kind === 'timeout' ? failure.message : null;
        const message = own === null ? limit : own.includes(limit) ? own : `${limit}: ${own}`;
        this.overseer.markFailed(task.id, { message, kind: 'timeout', retryable: true });
      } else if (attempt.abortedFor === 'stopped') {
        this.overseer.markFailed(task.id, { message: 'interrupted: the run was stopped during this attempt', kind: 'interrupted', retryable: true });
      } else if (thrown === null) {
        // A result JSON cannot hold (a Date, a Map, a cycle) would fail the same way every time.
        const problems = jsonProblems(result ?? null, 'result');
        if (problems.length) this.overseer.markFailed(task.id, { message: `the executor's result is not JSON: ${problems.join('; ')}`, kind: 'invalid_result', retryable: false });
        // A result unsure of itself waits, with its task, for a person (confidence_too_low).
        else if (!this.overseer.holdIfUnsure(task.id, (result ?? null) as JsonValue)) this.overseer.markComplete(task.id, (result ?? null) as JsonValue);
      } else if (failure instanceof ExecutionError) {
        this.overseer.markFailed(task.id, {
          message: failure.message,
          kind: failure.kind,
          retryable: failure.retryable,
          ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
        });
      } else {
        this.overseer.markFailed(task.id, failure instanceof Error ? failure : typeof failure === 'string' && failure.trim() !== '' ? failure : `the executor threw ${describe(failure)}`);
      }
    }
  }

  private settleIfIdle(): void {
    if (!this.finish || this.attempts.size > 0 || this.stopping_.size > 0) return;
    const counts = this.overseer.getCounts();
    const stopped = this.stopping !== null;
    const readyToHandOut = counts.ready > 0 && this.overseer.getReadyTasks().some((t) => !this.overseer.isPaused(t.projectId));
    const canProgress = !this.overseer.closed && (readyToHandOut || counts.retrying > 0 || this.overseer.hasOpenBreakpoints('auto'));
    if ((canProgress || this.options.keepAlive) && !stopped) {
      this.endPersonWait();
      return;
    }
    if (!stopped && !this.overseer.closed && this.options.waitForPersonMs > 0 && this.waitingForPerson(counts)) {
      this.personWait ??= {
        over: false,
        timer: this.overseer.clock.setTimeout(() => {
          this.personWait!.over = true;
          this.settleIfIdle();
        }, this.options.waitForPersonMs),
      };
      if (!this.personWait.over) return;
    }
    this.endPersonWait();
    const outcome = this.outcome(counts, stopped);
    const finish = this.finish;
    this.finish = null;
    this.unsubscribe?.();
    finish(outcome);
  }

  private waitingForPerson(counts: StateCounts): boolean {
    if (this.overseer.hasOpenBreakpoints('person')) return true;
    return counts.ready > 0 && this.overseer.getReadyTasks().some((t) => this.overseer.isPaused(t.projectId));
  }

  private endPersonWait(): void {
    if (this.personWait && !this.personWait.over) this.overseer.clock.clearTimeout(this.personWait.timer);
    this.personWait = null;
  }

  private outcome(counts: StateCounts, stopped: boolean): RunOutcome {
    if (stopped && counts.completed < counts.total) return { status: 'interrupted', exitCode: 130, counts };
    if (counts.completed === counts.total) return { status: 'completed', exitCode: 0, counts };
    if (this.waitingForPerson(counts)) return { status: 'waiting', exitCode: 3, counts };
    if (counts.failed > 0 || counts.cancelled > 0) return { status: 'failed', exitCode: 1, counts };
    const stuck = this.overseer.getProjects().some((p) => this.overseer.detectDeadlock(p));
    if (stuck) return { status: 'failed', exitCode: 1, counts };
    return { status: 'waiting', exitCode: 3, counts };
  }
}
