/**
 * The supervisor's side of the BullMQ dispatch mode: a remote executor. The Runner still
 * decides everything — what runs, how many at once, timeouts, cancels, retries — and hands
 * each attempt to `run`, which puts one job on the queue (id `<run id>/<task>@<attempt>`, the
 * task's effective priority, `attempts: 1`: Overseer owns retries) and waits for its outcome
 * through the queue's event stream (read as BullMQ's QueueEvents does): `completed` (the
 * worker's structured outcome), `failed`, `stalled` (the worker died: kind `worker_lost`),
 * `progress` (log lines). The jobs of the attempts started in one tick are added together.
 * Stalled jobs, jobs no worker takes and attempts not heard of are watched (bullmq-watch.ts).
 *
 * `reattach` is for attempts that were running when the supervisor stopped: a job that
 * finished meanwhile is applied once, one still waiting or active is waited for, a lost
 * one fails as `interrupted` (and goes through the retry policy).
 *
 * An outcome for an attempt this dispatcher gave up on (its worker was lost, its cancel
 * was never confirmed) is recorded in `late` and reported, and changes nothing.
 */
import type { Job, Queue } from 'bullmq';
import type { JsonValue } from '../runtime/json.js';
import { ValidationError } from '../runtime/errors.js';
import type { AttemptDispatch } from '../runtime/runner.js';
import type { TaskView } from '../runtime/view.js';
import {
  CANCEL_KEY_TTL_MS, ConnectionReporter, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_QUEUE, EventStreamReader, abandonable, bullmqPriority, cancelChannel, cancelKey,
  checkDatabase, isConnectionError, jobIdFor, loadBullmq, parseRedisUrl, readyWithin, reconnectDelay, unwrapOutcome,
  type JobData, type JobOutcome, type RawRedis,
} from './bullmq-shared.js';
import { dispatchOptionProblems, dispatchSettings, type BullmqDispatchOptions, type DispatchSettings } from './bullmq-dispatch-options.js';
import { QueueWatch, type WatchedAttempt } from './bullmq-watch.js';

export type { BullmqDispatchOptions };
import { isTimeoutReason } from './process.js';
import { ExecutionError, type ExecutionContext, type Executor } from './types.js';

/** An outcome that came after the supervisor gave up on its attempt: recorded, ignored. */
export interface LateOutcome {
  jobId: string;
  taskId: string;
  attempt: number;
  /** Why the supervisor had given up on it. */
  gaveUp: string;
  outcome: JobOutcome;
  at: number;
}

interface Pending extends WatchedAttempt {
  jobId: string;
  taskId: string;
  attempt: number;
  data: JobData;
  priority: number;
  log: (line: string) => void;
  settled: boolean;
  resolve: (outcome: JobOutcome) => void;
  /** Set once the runner aborted the attempt: timeout, cancelled, paused, stopped. */
  cancel: string | null;
  cancelTimer?: NodeJS.Timeout;
  /** Jobs of another run that `place` removed under this id: their `removed` events are not about this attempt. */
  removals: number;
}

const lost = (message: string, kind = 'interrupted'): JobOutcome => ({ ok: false, error: { message, kind, retryable: true } });
const parseJson = (text: string | undefined): unknown => {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return text;
  }
};
const WAITING_STATES = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

export class BullmqDispatch implements AttemptDispatch {
  /** Outcomes that arrived for attempts already given up on, oldest first. */
  readonly late: LateOutcome[] = [];
  readonly queueName: string;
  private readonly pending = new Map<string, Pending>();
  /** New attempts whose jobs are added together at the end of this tick. */
  private readonly toAdd: Pending[] = [];
  /** Jobs given up on without their worker's word, and why (bounded). */
  private readonly gaveUp = new Map<string, { taskId: string; attempt: number; why: string }>();
  private closed = false;
  private readonly watch: QueueWatch;

  private constructor(
    private readonly queue: Queue,
    private readonly events: EventStreamReader,
    private readonly client: RawRedis,
    private readonly reporter: ConnectionReporter,
    private readonly options: DispatchSettings,
    readonly label: string,
    /** See `BullmqDispatchOptions.runId`; null: ids without one. */
    readonly runId: string | null,
    redisLabel: string,
  ) {
    this.queueName = queue.name;
    this.watch = new QueueWatch(queue, reporter, () => this.pending.values(), (a) => this.place(a as Pending, 'recheck'), { ...options, label: redisLabel });
  }

  /** Connects (waiting at most `connectTimeoutMs` for Redis) and listens for outcomes before any job is added. */
  static async connect(options: BullmqDispatchOptions): Promise<BullmqDispatch> {
    const problems = dispatchOptionProblems(options);
    if (problems.length) throw new ValidationError('BullmqDispatch.connect', problems);
    const target = parseRedisUrl(options.redis, 'BullmqDispatch.connect: redis');
    const report = options.report ?? ((line: string) => void process.stderr.write(`${line}\n`));
    // The timeout bounds the whole connect, loading BullMQ included.
    const deadline = Date.now() + (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    const { Queue } = await loadBullmq();
    const name = options.queue ?? DEFAULT_QUEUE;
    const reporter = new ConnectionReporter(target.label, report);
    const connection = abandonable(target);
    // A longer event stream than BullMQ's ~10,000: a busy supervisor that reads it late still finds its outcomes there.
    const queue = new Queue(name, { connection: connection.options, streams: { events: { maxLen: 100_000 } } });
    queue.on('error', (e) => reporter.error(e));
    const giveUp = () => (connection.abandon(), queue.close());
    await readyWithin(queue.waitUntilReady(), deadline, target.label, giveUp);
    const client = (await queue.client) as unknown as RawRedis;
    await checkDatabase(client, target, giveUp);
    // Read the event stream from its end as it is now, before any job is added ('$' would depend on
    // when the first read happens to be sent, missing what finished before).
    const last = await client.xrevrange(queue.keys.events!, '+', '-', 'COUNT', 1);
    const reader = client.duplicate();
    const events = new EventStreamReader(reader, queue.keys.events!, last[0]?.[0] ?? '0-0', (e) => reporter.error(e));
    reporter.watch(reader);
    await readyWithin(reader.ping(), deadline, target.label, () => Promise.allSettled([giveUp(), events.close()]));
    reporter.watch(client);
    const dispatch = new BullmqDispatch(queue, events, client, reporter, dispatchSettings(options, report), `${target.label} queue "${name}"`, options.runId ?? null, target.label);
    dispatch.listen();
    events.start();
    await dispatch.watch.start();
    return dispatch;
  }

  /** Runs one attempt on a worker. */
  readonly run: Executor = (task, ctx) => this.execute(task, ctx, 'run');

  /** Re-attaches to an attempt that was running when the supervisor stopped. */
  readonly reattach: Executor = (task, ctx) => this.execute(task, ctx, 'reattach');

  /** Attempts waiting for their outcome. */
  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch.stop();
    for (const p of this.pending.values()) this.settle(p, lost('the dispatcher was closed while this attempt ran'), 'the dispatcher was closed');
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }

  private async execute(task: TaskView, ctx: ExecutionContext, mode: 'run' | 'reattach'): Promise<JsonValue> {
    if (this.closed) throw new ExecutionError('the BullMQ dispatcher is closed', { kind: 'config', retryable: true });
    const jobId = jobIdFor(task.id, ctx.attempt, this.runId ?? undefined);
    if (this.pending.has(jobId)) throw new ExecutionError(`attempt ${ctx.attempt} of "${task.id}" is already dispatched`, { kind: 'config', retryable: false });
    let resolve!: (o: JobOutcome) => void;
    const outcome = new Promise<JobOutcome>((r) => (resolve = r));
    const data: JobData = {
      v: 1, taskId: task.id, attempt: ctx.attempt, identity: task.history[0]?.at ?? 0, task,
      dependencyResults: { ...ctx.dependencyResults }, feedback: [...ctx.feedback],
    };
    const p: Pending = { jobId, taskId: task.id, attempt: ctx.attempt, data, priority: bullmqPriority(task.effectivePriority), log: ctx.log, settled: false, resolve, cancel: null, heard: Date.now(), since: Date.now(), active: false, removals: 0 };
    // Registered before the job is added or looked up, so no event about it can be missed.
    this.pending.set(jobId, p);
    const onAbort = () => void this.cancel(p, ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();
    try {
      // A new attempt's job is added with the others added in this tick; one from before a restart is looked up first.
      if (mode === 'run') this.enqueue(p);
      else void this.place(p, mode);
      return unwrapOutcome(await outcome);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      clearTimeout(p.cancelTimer);
      if (this.pending.get(jobId) === p) this.pending.delete(jobId);
    }
  }

  /** Queues the attempt's job for the next batch: the jobs of one tick go to Redis in one round trip. */
  private enqueue(p: Pending): void {
    this.toAdd.push(p);
    if (this.toAdd.length === 1) queueMicrotask(() => void this.addBatch());
  }

  /**
   * Adds the queued jobs with one `addBulk`. A job id already in the queue is not added again
   * (BullMQ reports it as `duplicated`, and `place` then looks it up). When the batch fails,
   * some of its jobs may be in Redis: each is looked up and added on its own, retried while Redis is away.
   */
  private async addBatch(): Promise<void> {
    const batch: Pending[] = [];
    for (const p of this.toAdd.splice(0)) {
      if (p.settled || this.closed) continue;
      if (p.cancel) this.settle(p, this.cancelledBeforeDispatch(p));
      else batch.push(p);
    }
    if (batch.length === 0) return;
    try {
      await this.queue.addBulk(batch.map((p) => ({ name: 'task', data: p.data, opts: this.jobOptions(p) })));
    } catch {
      for (const p of batch) void this.place(p, 'run');
    }
  }

  private jobOptions(p: Pending) {
    const age = Math.ceil(this.options.keepJobsMs / 1000);
    return { jobId: p.jobId, priority: p.priority, attempts: 1, removeOnComplete: { age }, removeOnFail: { age } };
  }

  private cancelledBeforeDispatch(p: Pending): JobOutcome {
    return { ok: false, error: { message: `${p.cancel} before it was dispatched`, kind: 'cancelled', retryable: false } };
  }

  /**
   * Finds the attempt's job (a finished one settles it at once) or adds it; retried with backoff while
   * Redis is away. Resolves true when a recheck had to add the job again (Redis lost it).
   */
  private async place(p: Pending, mode: 'run' | 'reattach' | 'recheck'): Promise<boolean> {
    for (let tries = 1; !p.settled && !this.closed; tries++) {
      try {
        const job = (await this.queue.getJob(p.jobId)) as Job | undefined;
        if (p.settled) return false;
        if (job && (job.data as Partial<JobData>)?.identity === p.data.identity) {
          const state = await job.getState();
          if (state === 'completed' || state === 'failed') {
            // It may have finished after it was read: read it again for its outcome.
            const done = ((await this.queue.getJob(p.jobId)) as Job | undefined) ?? job;
            return this.settled(p, state === 'completed' ? (done.returnvalue as JobOutcome) : this.failedOutcome(done.failedReason));
          }
          // A cancel sent during an outage may have been lost: send it again.
          if (p.cancel && state !== 'unknown') return (await this.cancel(p, p.cancel, true), false);
          if (state !== 'unknown') return false; // waiting or active: its events will tell
        } else if (job) {
          // A job of the same id from a run this store started over (ids without a run id): not ours.
          if (mode === 'reattach') return this.settled(p, lost(`lost: job ${p.jobId} in ${this.label} belongs to another run`));
          // Its `removed` event is about that job, not this attempt's (added next under the same id).
          p.removals++;
          await job.remove().catch((error: unknown) => {
            p.removals--;
            throw new ExecutionError(`job ${p.jobId} in ${this.label} belongs to another run and is still active (${(error as Error).message}); use another --queue`, { kind: 'config', retryable: false });
          });
        } else if (mode === 'reattach') {
          return this.settled(p, lost(`interrupted: job ${p.jobId} of this attempt is not in ${this.label} (lost while the supervisor was down)`));
        }
        if (p.cancel) return this.settled(p, this.cancelledBeforeDispatch(p));
        if (mode === 'recheck') p.log(`[overseer] job ${p.jobId} was missing from Redis (lost in an outage?): added again, so its work runs again`);
        await this.queue.add('task', p.data, this.jobOptions(p));
        p.since = Date.now();
        return mode === 'recheck';
      } catch (error) {
        if (error instanceof ExecutionError) return this.settled(p, { ok: false, error: { message: error.message, kind: error.kind, retryable: error.retryable } });
        if (!isConnectionError(error)) {
          return this.settled(p, { ok: false, error: { message: `could not queue job ${p.jobId} in ${this.label}: ${(error as Error).message}`, kind: 'dispatch', retryable: true } });
        }
        this.reporter.error(error);
        await new Promise((r) => setTimeout(r, reconnectDelay(tries)));
      }
    }
    return false;
  }

  /** `settle` for `place`, which resolves whether it re-added a job: it did not. */
  private settled(p: Pending, outcome: JobOutcome): false {
    this.settle(p, outcome);
    return false;
  }

  private listen(): void {
    const ours = (jobId: string | undefined): jobId is string => jobId !== undefined && (this.pending.has(jobId) || this.gaveUp.has(jobId));
    this.events.on('completed', ({ jobId, returnvalue }) => {
      if (ours(jobId)) this.outcome(jobId, parseJson(returnvalue) as JobOutcome);
    });
    this.events.on('failed', ({ jobId, failedReason }) => {
      if (ours(jobId)) this.outcome(jobId, this.failedOutcome(failedReason));
    });
    this.events.on('stalled', ({ jobId }) => {
      const p = jobId === undefined ? undefined : this.pending.get(jobId);
      if (!p) return;
      this.settle(p, lost(`worker lost: job ${jobId} stalled (its worker stopped renewing the lock: it died or lost Redis)`, 'worker_lost'), 'its worker was lost');
      // A stalled job goes back to waiting with a deferred failure; remove it so no worker picks it up.
      void this.queue.remove(p.jobId).catch(() => {});
    });
    this.events.on('removed', ({ jobId }) => {
      const p = jobId === undefined ? undefined : this.pending.get(jobId);
      if (p && p.removals > 0) return void p.removals--;
      if (p && !p.cancel) this.settle(p, lost(`interrupted: job ${jobId} was removed from ${this.label}`), 'its job was removed');
    });
    this.events.on('progress', ({ jobId, data }) => {
      const p = jobId === undefined ? undefined : this.pending.get(jobId);
      if (!p) return;
      p.heard = Date.now();
      const line = (parseJson(data) as { log?: unknown } | null)?.log;
      if (typeof line === 'string') p.log(line);
    });
    // A job id that was already in the queue (a run this store started over, or an attempt the supervisor
    // lost track of): nothing was added; look the job up and decide as for an attempt from before a restart.
    this.events.on('duplicated', ({ jobId }) => {
      const p = jobId === undefined ? undefined : this.pending.get(jobId);
      if (p) void this.place(p, 'run');
    });
    this.events.on('active', ({ jobId }) => {
      const p = jobId === undefined ? undefined : this.pending.get(jobId);
      if (!p) return;
      p.heard = Date.now();
      p.active = true;
      this.watch.taken();
    });
  }

  private outcome(jobId: string, outcome: JobOutcome): void {
    const p = this.pending.get(jobId);
    if (p) return this.settle(p, outcome);
    const gave = this.gaveUp.get(jobId);
    if (!gave) return; // not one of ours, or already settled by its own outcome
    this.gaveUp.delete(jobId);
    // The lost worker's job failing as stalled is how it was noticed, not a late word from the worker.
    if (!outcome?.ok && outcome?.error?.kind === 'worker_lost') return;
    const late: LateOutcome = { jobId, taskId: gave.taskId, attempt: gave.attempt, gaveUp: gave.why, outcome, at: Date.now() };
    this.late.push(late);
    if (this.late.length > 1000) this.late.shift();
    const what = outcome?.ok ? 'a result' : `a failure (${outcome?.error?.kind ?? 'failed'})`;
    this.options.report(`overseer: ignored a late outcome: ${what} for "${gave.taskId}" attempt ${gave.attempt} (job ${jobId}), which the supervisor gave up on: ${gave.why}`);
  }

  private failedOutcome(reason: string | undefined): JobOutcome {
    if (/stalled/i.test(reason ?? '')) return lost(`worker lost: ${reason}`, 'worker_lost');
    return { ok: false, error: { message: `the worker failed the job: ${reason ?? 'no reason given'}`, kind: 'worker', retryable: true } };
  }

  /** Settles an attempt once. With `gaveUp`, the worker never said how it ended: a later outcome is late. */
  private settle(p: Pending, outcome: JobOutcome, gaveUp?: string): void {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.cancelTimer);
    if (this.pending.get(p.jobId) === p) this.pending.delete(p.jobId);
    if (gaveUp) {
      this.gaveUp.set(p.jobId, { taskId: p.taskId, attempt: p.attempt, why: gaveUp });
      if (this.gaveUp.size > 10_000) this.gaveUp.delete(this.gaveUp.keys().next().value!);
    }
    if (typeof outcome?.worker === 'string') p.log(`[overseer] attempt ${p.attempt} ran on worker ${outcome.worker}`);
    p.resolve(outcome);
  }

  /**
   * The runner aborted the attempt. A job still waiting is removed; an active one is told to
   * stop (a message on the queue's cancel channel, and a key for a worker whose channel was down);
   * the worker's outcome then settles the attempt, or after `cancelGraceMs` we give up.
   */
  private async cancel(p: Pending, reason: unknown, again = false): Promise<void> {
    if (p.settled || (p.cancel && !again)) return;
    p.cancel = isTimeoutReason(reason) ? 'timeout' : typeof reason === 'string' ? reason : 'cancelled';
    const notStarted: JobOutcome = { ok: false, error: { message: `${p.cancel}: the job was removed before a worker took it`, kind: p.cancel === 'timeout' ? 'timeout' : 'cancelled', retryable: p.cancel === 'timeout' } };
    p.cancelTimer ??= setTimeout(
      () => this.settle(p, { ok: false, error: { message: `${p.cancel}: the worker did not confirm within ${this.options.cancelGraceMs} ms that the work stopped`, kind: 'cancelled', retryable: true } }, `${p.cancel}, unconfirmed by the worker`),
      this.options.cancelGraceMs,
    );
    try {
      const job = (await this.queue.getJob(p.jobId)) as Job | undefined;
      if (job && WAITING_STATES.has(await job.getState())) {
        const removed = await job.remove().then(() => true, () => false);
        if (removed) return this.settle(p, notStarted);
      }
      if (p.settled) return;
      await this.client.set(cancelKey(this.queueName, p.jobId), p.cancel, 'PX', CANCEL_KEY_TTL_MS);
      await this.client.publish(cancelChannel(this.queueName), JSON.stringify({ jobId: p.jobId, reason: p.cancel }));
    } catch (error) {
      this.reporter.error(error);
    }
  }
}
