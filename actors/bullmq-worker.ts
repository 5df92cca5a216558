/**
 * The worker's side of the BullMQ dispatch mode (`overseer worker`): takes jobs from the
 * queue, runs each with the same executors as the local mode (shell and agent from the
 * task's `metadata.executor`, function executors by name), and returns a structured
 * outcome so a failure keeps its kind, retryability and rate-limit retry-after. Log lines
 * go back as job progress.
 *
 * A worker that dies stops renewing its jobs' locks; with `maxStalledCount: 0` BullMQ's
 * stalled-job check (run by the other workers, and by the supervisor) reports the job as
 * stalled, which the supervisor turns into a `worker_lost` failure for its retry policy. A cancel reaches the
 * worker as a message on the queue's cancel channel and aborts the executor's signal, which
 * stops the work's process group. A message for a job whose processor has not started yet is
 * kept until it starts. The supervisor also leaves a key per cancel: a job starting while the
 * channel is down (or just back) checks its key, and the running jobs check theirs when the
 * channel comes back, so a cancel sent during an outage still arrives.
 */
import type { Job, Worker } from 'bullmq';
import type { JsonValue } from '../runtime/json.js';
import { ValidationError } from '../runtime/errors.js';
import type { ExecutorSpec } from '../runtime/plan.js';
import { agentExecutor } from './agent.js';
import { hostname } from 'node:os';
import {
  ConnectionReporter, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_QUEUE, abandonable, cancelChannel, cancelKey, checkDatabase, failureOutcome, jobDataProblem, loadBullmq,
  msProblem, parseRedisUrl, positiveIntProblem, queueNameProblem, readyWithin, type JobData, type JobOutcome, type RawRedis,
} from './bullmq-shared.js';
import { shellExecutor } from './shell.js';
import { ExecutionError, type Executor } from './types.js';

export interface BullmqWorkerOptions {
  redis: string;
  /** Default `overseer`. */
  queue?: string;
  /** Jobs at once in this worker. Default 1. */
  concurrency?: number;
  /** Function executors, by the name tasks give (`executor: function`, `function: name`). */
  executors?: Record<string, Executor>;
  /** How long a process may take to stop after SIGTERM before SIGKILL (ms). Default 2000. */
  killGraceMs?: number;
  /** BullMQ's job lock (ms): a worker silent for this long counts as dead. Default 30,000. */
  lockDurationMs?: number;
  /** How often this worker checks for stalled jobs (ms). Default half the lock duration. */
  stalledIntervalMs?: number;
  /** Default 10,000. */
  connectTimeoutMs?: number;
  /** Outages and errors, one line each. Default: stderr. */
  report?: (line: string) => void;
  /** Each job as it starts and ends. */
  onJob?: (event: WorkerJobEvent) => void;
}

export interface WorkerJobEvent {
  phase: 'started' | 'finished';
  jobId: string;
  taskId: string;
  attempt: number;
  outcome?: JobOutcome;
}

export interface BullmqWorker {
  readonly label: string;
  /** Jobs running now. */
  readonly running: number;
  /** Stops taking jobs. Without `force`, running jobs finish first; with it, they are stopped and reported as interrupted. */
  close(options?: { force?: boolean }): Promise<void>;
}

const SHUTDOWN = 'the worker is shutting down';
/** BullMQ's words when a job's lock was gone as its outcome was saved (Redis lost it, or the job was failed as stalled). */
const LOST_LOCK = /^(?:Missing lock|Lock mismatch) for job (.+?)\. /;

/** BullMQ's errors as people can act on them; others unchanged. */
export function workerErrorLine(error: unknown): string | null {
  const message = (error as Error)?.message ?? String(error);
  const lock = LOST_LOCK.exec(message);
  if (lock) return `overseer: job ${lock[1]}: its result was not accepted because Redis lost the job's lock (the supervisor decides whether it runs again)`;
  return null;
}
const HEARD_MAX = 10_000;
const CHANNEL_SETTLE_MS = 2_000;

export async function startBullmqWorker(options: BullmqWorkerOptions): Promise<BullmqWorker> {
  const problems = [
    queueNameProblem(options?.queue ?? DEFAULT_QUEUE),
    positiveIntProblem(options?.concurrency, 'concurrency'),
    msProblem(options?.killGraceMs, 'killGraceMs'),
    msProblem(options?.lockDurationMs, 'lockDurationMs', 500),
    msProblem(options?.stalledIntervalMs, 'stalledIntervalMs', 100),
    msProblem(options?.connectTimeoutMs, 'connectTimeoutMs', 1),
    options?.executors !== undefined && (typeof options.executors !== 'object' || options.executors === null) ? 'executors: must be an object of named functions' : null,
    ...Object.entries(options?.executors ?? {}).map(([name, fn]) => (typeof fn === 'function' ? null : `executors.${name}: must be a function`)),
  ].filter((p): p is string => p !== null);
  if (problems.length) throw new ValidationError('startBullmqWorker', problems);
  const target = parseRedisUrl(options.redis, 'startBullmqWorker: redis');
  const name = options.queue ?? DEFAULT_QUEUE;
  const report = options.report ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const reporter = new ConnectionReporter(target.label, report);
  // The timeout bounds the whole connect, loading BullMQ included.
  const deadline = Date.now() + (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  const me = `${hostname()}:${process.pid}`;
  const executors = options.executors ?? {};
  const killGraceMs = options.killGraceMs ?? 2000;
  const lockDuration = options.lockDurationMs ?? 30_000;
  const active = new Map<string, AbortController>();
  /** Cancels heard on the channel, newest last (bounded): one may arrive before its job's processor starts. */
  const heard = new Map<string, string>();
  /** While the cancel channel is down, and for a moment after it is back, jobs look for their cancel key when they start. */
  let channelDown = false;
  let channelBackAt = 0;
  let shuttingDown = false;
  let client: RawRedis | null = null;
  const abortFor = (controller: AbortController, reason: string) =>
    controller.abort(reason === 'timeout' ? Object.assign(new Error('timed out (the supervisor’s limit)'), { name: 'TimeoutError' }) : reason);

  const processor = async (job: Job, _token?: string, bullSignal?: AbortSignal): Promise<JobOutcome> => {
    const problem = jobDataProblem(job.data);
    if (problem) return { ok: false, error: { message: `job ${job.id}: ${problem}`, kind: 'config', retryable: false } };
    const data = job.data as JobData;
    const jobId = job.id!;
    const controller = new AbortController();
    active.set(jobId, controller);
    const onBullAbort = () => controller.abort(bullSignal!.reason);
    bullSignal?.addEventListener('abort', onBullAbort, { once: true });
    options.onJob?.({ phase: 'started', jobId, taskId: data.taskId, attempt: data.attempt });
    let progress: Promise<unknown> = Promise.resolve();
    let outcome: JobOutcome;
    try {
      // A cancel sent before this worker registered the job: heard on the channel, or (when the channel may have missed it) its key.
      const mayHaveMissed = channelDown || Date.now() - channelBackAt < CHANNEL_SETTLE_MS;
      const early = heard.get(jobId);
      if (early !== undefined) heard.delete(jobId);
      const cancelled = early ?? (mayHaveMissed ? await client!.get(cancelKey(name, jobId)) : null);
      if (cancelled) throw new ExecutionError(`${cancelled} before the work started`, { kind: cancelled === 'timeout' ? 'timeout' : 'cancelled', retryable: cancelled === 'timeout' });
      const executor = executorFor(data.task.metadata, executors, killGraceMs, data.taskId);
      const result = await executor(data.task, {
        signal: controller.signal,
        attempt: data.attempt,
        dependencyResults: data.dependencyResults,
        feedback: data.feedback,
        // In order, and all sent before the outcome.
        log: (line) => void (progress = progress.then(() => job.updateProgress({ log: line })).catch(() => {})),
      });
      outcome = { ok: true, result: (result ?? null) as JsonValue, worker: me };
    } catch (error) {
      outcome = { ...failureOutcome(error), worker: me };
      if (shuttingDown && controller.signal.aborted && controller.signal.reason === SHUTDOWN) {
        outcome = { ok: false, error: { message: `interrupted: ${SHUTDOWN}`, kind: 'interrupted', retryable: true }, worker: me };
      }
    } finally {
      bullSignal?.removeEventListener('abort', onBullAbort);
      active.delete(jobId);
    }
    await progress;
    options.onJob?.({ phase: 'finished', jobId, taskId: data.taskId, attempt: data.attempt, outcome });
    return outcome;
  };

  const { Worker } = await loadBullmq();
  const connection = abandonable(target);
  const worker: Worker = new Worker(name, processor, {
    connection: connection.options,
    concurrency: options.concurrency ?? 1,
    lockDuration,
    stalledInterval: options.stalledIntervalMs ?? Math.max(Math.round(lockDuration / 2), 100),
    // A job whose worker died fails (the supervisor retries it as a new attempt); BullMQ never runs it again itself.
    maxStalledCount: 0,
    autorun: false,
  });
  worker.on('error', (e) => {
    const line = workerErrorLine(e);
    if (line) report(line);
    else reporter.error(e);
  });
  let subscriber: RawRedis | null = null;
  const giveUp = () => (connection.abandon(), worker.close(true));
  try {
    await readyWithin(worker.waitUntilReady(), deadline, target.label, giveUp);
    client = (await worker.client) as unknown as RawRedis;
    await checkDatabase(client, target, giveUp);
    reporter.watch(client);
    subscriber = client.duplicate();
    reporter.watch(subscriber);
    subscriber.on('message', (_channel, message) => {
      try {
        const { jobId, reason } = JSON.parse(message) as { jobId?: unknown; reason?: unknown };
        if (typeof jobId !== 'string') return;
        const why = typeof reason === 'string' ? reason : 'cancelled';
        const controller = active.get(jobId);
        if (controller) return abortFor(controller, why);
        heard.set(jobId, why);
        if (heard.size > HEARD_MAX) heard.delete(heard.keys().next().value!);
      } catch {
        report(`overseer: ignored a malformed cancel message: ${message.slice(0, 200)}`);
      }
    });
    await readyWithin(subscriber.subscribe(cancelChannel(name)), deadline, target.label, async () => (connection.abandon(), subscriber?.disconnect()));
    // Messages sent while the channel was down are lost: the running jobs look for their cancel keys once it is back.
    subscriber.on('close', () => (channelDown = true));
    subscriber.on('ready', () => {
      if (!channelDown) return;
      channelDown = false;
      channelBackAt = Date.now();
      const ids = [...active.keys()];
      if (ids.length === 0) return;
      client!.mget(ids.map((id) => cancelKey(name, id))).then(
        (reasons) => reasons.forEach((why, i) => { const controller = why ? active.get(ids[i]!) : undefined; if (controller) abortFor(controller, why!); }),
        (error: unknown) => reporter.error(error),
      );
    });
  } catch (error) {
    connection.abandon();
    subscriber?.disconnect();
    await Promise.race([worker.close(true).catch(() => {}), new Promise((r) => setTimeout(r, 200).unref())]);
    throw error;
  }
  void worker.run().catch((e: unknown) => reporter.error(e));

  let closing: Promise<void> | null = null;
  return {
    label: `${target.label} queue "${name}"`,
    get running() {
      return active.size;
    },
    close({ force = false } = {}) {
      if (force) {
        shuttingDown = true;
        for (const controller of active.values()) controller.abort(SHUTDOWN);
      }
      closing ??= (async () => {
        await worker.close();
        await subscriber!.quit().catch(() => subscriber!.disconnect());
      })();
      return closing;
    },
  };
}

/** The same executors as the runner's, chosen by the task's `metadata.executor`. */
function executorFor(metadata: unknown, executors: Record<string, Executor>, killGraceMs: number, taskId: string): Executor {
  const spec = (metadata as { executor?: ExecutorSpec } | null)?.executor;
  if (!spec) {
    if (executors.default) return executors.default;
    throw new ExecutionError(`task "${taskId}" says nothing about how to run it (no metadata.executor)`, { kind: 'config', retryable: false });
  }
  switch (spec.type) {
    case 'shell':
      return shellExecutor(spec, { killGraceMs });
    case 'agent':
      return agentExecutor(spec, { killGraceMs });
    case 'function': {
      const executor = executors[spec.name];
      if (executor) return executor;
      throw new ExecutionError(`this worker has no executor named "${spec.name}" (known: ${Object.keys(executors).join(', ') || 'none'}; load them with --executors <module>)`, {
        kind: 'config',
        retryable: false,
      });
    }
    default:
      throw new ExecutionError(`task "${taskId}": unknown executor type ${JSON.stringify((spec as { type?: unknown }).type)}`, { kind: 'config', retryable: false });
  }
}
