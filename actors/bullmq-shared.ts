/**
 * What the BullMQ dispatcher (the supervisor's side) and the BullMQ worker share: the
 * Redis URL and queue name checks, the job id of an attempt, the job's data and the
 * structured outcome a worker returns, and the report of connection outages.
 *
 * BullMQ is loaded lazily (`loadBullmq()`), so the local mode never pays for it.
 */
import type { JsonValue } from '../runtime/json.js';
import { OverseerError, ValidationError } from '../runtime/errors.js';
import type { TaskView } from '../runtime/view.js';
import { ExecutionError } from './types.js';

export const DEFAULT_QUEUE = 'overseer';
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Redis could not be reached when starting (bad input for the CLI: exit 2). */
export class RedisUnreachableError extends OverseerError {
  override name = 'RedisUnreachableError';
}

/** Connection options for ioredis as BullMQ takes them, from a redis:// or rediss:// URL. */
export interface RedisTarget {
  /** host:port/db, without credentials: safe to print. */
  label: string;
  connection: {
    host: string;
    port: number;
    username?: string;
    password?: string;
    db?: number;
    tls?: Record<string, never>;
    maxRetriesPerRequest: null;
    enableOfflineQueue: true;
    retryStrategy: (times: number) => number;
  };
}

/** Reconnect delays: 200 ms, doubling, at most 5 s. Commands wait while disconnected (no request limit). */
export function reconnectDelay(times: number): number {
  return Math.min(100 * 2 ** Math.min(Math.max(times, 1), 10), 5_000);
}

export function parseRedisUrl(url: unknown, what = 'redis'): RedisTarget {
  const bad = (why: string) => new ValidationError(what, [`${why}, got ${typeof url === 'string' ? JSON.stringify(url) : typeof url}; expected e.g. redis://127.0.0.1:6379`]);
  if (typeof url !== 'string' || url.trim() === '') throw bad('must be a redis:// URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('is not a URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw bad('must start with redis:// or rediss://');
  if (!parsed.hostname) throw bad('names no host');
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('has no valid port');
  const path = parsed.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw bad('may only name a database number after the host');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    label: `${parsed.protocol}//${parsed.hostname}:${port}${path ? `/${path}` : ''}`,
    connection: {
      host,
      port,
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(path ? { db: Number(path) } : {}),
      ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      retryStrategy: reconnectDelay,
    },
  };
}

/** BullMQ's queue names may not contain ':'; keep them to a safe, printable set. */
export function queueNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
    return `queue: must be 1 to 100 letters, digits, '.', '_' or '-' (no ':'), got ${typeof name === 'string' ? JSON.stringify(name) : typeof name}`;
  }
  return null;
}

/**
 * The job id of one attempt: `<run id>/<task id>@<attempt>` (without a run id, `<task id>@<attempt>`).
 * BullMQ refuses ':' in custom ids (and ids that are integers, which these never are), so '%' and
 * ':' are escaped. The run id keeps the jobs of stores sharing a queue, or of a store started over, apart.
 */
export function jobIdFor(taskId: string, attempt: number, runId?: string): string {
  if (typeof taskId !== 'string' || !Number.isInteger(attempt) || (runId !== undefined && runIdProblem(runId))) {
    throw new ValidationError('jobIdFor', [`needs a task id, a whole attempt number and an optional run id (${RUN_ID})`]);
  }
  return `${runId === undefined ? '' : `${runId}/`}${taskId.replace(/%/g, '%25').replace(/:/g, '%3A')}@${attempt}`;
}

const RUN_ID = '1 to 40 letters, digits, _ or -';
export function runIdProblem(runId: unknown): string | null {
  return typeof runId === 'string' && /^[A-Za-z0-9_-]{1,40}$/.test(runId) ? null : `runId: must be ${RUN_ID}, got ${JSON.stringify(runId)}`;
}

/** Overseer's effective priority (0..13, higher first) → BullMQ's (1 is its highest; 0 would mean none). */
export function bullmqPriority(effectivePriority: number): number {
  return Math.min(Math.max(14 - Math.round(effectivePriority), 1), 14);
}

/** What a job carries: everything an executor receives, and who the attempt belongs to. */
export interface JobData {
  v: 1;
  taskId: string;
  attempt: number;
  /** When the task was added (ms): tells this run's job from one a store started over left in the queue. */
  identity: number;
  task: TaskView;
  dependencyResults: Record<string, JsonValue | null>;
  feedback: string[];
}

export interface OutcomeError {
  message: string;
  kind: string;
  retryable: boolean;
  retryAfterMs?: number;
  output?: string;
  exitCode?: number | null;
}

/** A worker's return value: work failures travel as data, keeping kind, retryable and retry-after. */
export type JobOutcome = ({ ok: true; result: JsonValue } | { ok: false; error: OutcomeError }) & {
  /** Who ran it (`host:pid`), when a worker did. */
  worker?: string;
};

export function jobDataProblem(data: unknown): string | null {
  const d = data as Partial<JobData> | null;
  if (typeof d !== 'object' || d === null || d.v !== 1) return 'not an Overseer job (no version 1 data)';
  if (typeof d.taskId !== 'string' || !Number.isInteger(d.attempt) || typeof d.task !== 'object' || d.task === null) return 'malformed job data (taskId, attempt, task)';
  if (!Array.isArray(d.feedback) || typeof d.dependencyResults !== 'object' || d.dependencyResults === null) return 'malformed job data (feedback, dependencyResults)';
  return null;
}

/** Any thrown value as an outcome. */
export function failureOutcome(error: unknown): JobOutcome {
  if (error instanceof ExecutionError) {
    return {
      ok: false,
      error: {
        message: error.message,
        kind: error.kind,
        retryable: error.retryable,
        ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
        ...(error.output !== undefined ? { output: error.output.slice(-8192) } : {}),
        ...(error.exitCode !== undefined ? { exitCode: error.exitCode } : {}),
      },
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  const retryable = (error as { retryable?: unknown } | null)?.retryable === false ? false : true;
  return { ok: false, error: { message: message || 'the work failed', kind: 'failed', retryable } };
}

/** A job's return value back into the executor contract: the result, or a thrown ExecutionError. */
export function unwrapOutcome(outcome: unknown): JsonValue {
  const o = outcome as Partial<JobOutcome> | null;
  if (o && o.ok === true) return (o as { result: JsonValue }).result ?? null;
  if (o && o.ok === false && typeof o.error?.message === 'string') {
    const e = o.error;
    throw new ExecutionError(e.message, {
      kind: typeof e.kind === 'string' ? e.kind : 'failed',
      retryable: e.retryable !== false,
      ...(typeof e.retryAfterMs === 'number' ? { retryAfterMs: e.retryAfterMs } : {}),
      ...(typeof e.output === 'string' ? { output: e.output } : {}),
      ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
    });
  }
  throw new ExecutionError(`the worker returned something that is not an Overseer outcome: ${JSON.stringify(outcome)?.slice(0, 200)}`, { kind: 'worker', retryable: true });
}

/** The Redis keys and channel Overseer adds next to BullMQ's: cancel requests, per queue. */
export const cancelChannel = (queue: string) => `overseer:${queue}:cancel`;
export const cancelKey = (queue: string, jobId: string) => `overseer:${queue}:cancel:${jobId}`;
export const CANCEL_KEY_TTL_MS = 24 * 3_600_000;

/** The part of an ioredis client used here (BullMQ's adapter forwards these to ioredis). */
export interface RawRedis {
  on(event: 'reconnecting', listener: (delayMs: number) => void): unknown;
  on(event: 'ready' | 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  status: string;
  duplicate(): RawRedis;
  get(key: string): Promise<string | null>;
  mget(keys: string[]): Promise<(string | null)[]>;
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  select(db: number): Promise<unknown>;
  xrevrange(key: string, end: '+', start: '-', count: 'COUNT', n: number): Promise<[string, string[]][]>;
  xread(block: 'BLOCK', ms: number, streams: 'STREAMS', key: string, id: string): Promise<[string, [string, string[]][]][] | null>;
  ping(): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

export function isConnectionError(error: unknown): boolean {
  const text = `${(error as NodeJS.ErrnoException)?.code ?? ''} ${(error as Error)?.message ?? error}`;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|Connection is closed|Stream isn't writeable|connect|socket/i.test(text);
}

/**
 * Reports a Redis outage once — `redis connection lost (…); retrying in N ms` — however
 * many clients notice it and however many reconnects it takes, and the recovery once.
 */
export class ConnectionReporter {
  private readonly down = new Set<RawRedis>();
  private since = 0;
  private lastError = 'connection closed';
  private readonly backListeners: (() => void)[] = [];

  constructor(
    private readonly label: string,
    private readonly report: (line: string) => void,
  ) {}

  get outage(): boolean {
    return this.down.size > 0;
  }

  /** Called once every client is connected again after an outage. */
  onBack(listener: () => void): void {
    this.backListeners.push(listener);
  }

  /** An error from a BullMQ object or a client: connection errors feed the outage report, others are printed. */
  error(error: unknown): void {
    const message = (error as Error)?.message ?? String(error);
    if (DB_PROBLEM.test(message)) return; // refused when connecting (checkDatabase), said once there
    if (isConnectionError(error)) this.lastError = message;
    else this.report(`overseer: redis/BullMQ error: ${message}`);
  }

  watch(client: RawRedis): void {
    client.on('error', (error) => this.error(error));
    client.on('reconnecting', (delayMs) => {
      if (this.down.size === 0) {
        this.since = Date.now();
        this.report(`overseer: redis connection lost (${this.label}: ${this.lastError}); retrying in ${delayMs} ms, with backoff`);
      }
      this.down.add(client);
    });
    client.on('ready', () => {
      if (!this.down.delete(client) || this.down.size > 0) return;
      this.report(`overseer: redis connection back (${this.label}) after ${((Date.now() - this.since) / 1000).toFixed(1)} s`);
      for (const listener of this.backListeners) listener();
    });
    client.on('end', () => this.down.delete(client));
  }
}

/** One event of a queue's event stream: its name (`completed`, `failed`, `active`, ...) and fields, as BullMQ wrote them. */
export type StreamEvent = Record<string, string>;

/**
 * Reads a queue's event stream from `lastId` on its own connection, as BullMQ's QueueEvents does,
 * but leaves the events nobody listens to (`added`, `waiting`, ...) unparsed and lets the events
 * of a moment gather before the next read (`gatherMs`): one wake-up for many events. A read that
 * fails is sent again once the client has reconnected; nothing is skipped.
 */
export class EventStreamReader {
  private readonly handlers = new Map<string, (event: StreamEvent) => void>();
  private closed = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: RawRedis,
    private readonly key: string,
    private lastId: string,
    private readonly onError: (error: unknown) => void,
    private readonly gatherMs = 1,
  ) {}

  on(event: string, handler: (event: StreamEvent) => void): void {
    this.handlers.set(event, handler);
  }

  start(): void {
    this.loop = this.read();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.disconnect();
    await this.loop;
  }

  private async read(): Promise<void> {
    while (!this.closed) {
      try {
        const reply = await this.client.xread('BLOCK', 10_000, 'STREAMS', this.key, this.lastId);
        for (const [, entries] of reply ?? []) {
          for (const [id, flat] of entries) {
            this.lastId = id;
            const handler = flat[0] === 'event' ? this.handlers.get(flat[1]!) : undefined;
            if (!handler || this.closed) continue;
            const event: StreamEvent = {};
            for (let i = 2; i + 1 < flat.length; i += 2) event[flat[i]!] = flat[i + 1]!;
            try {
              handler(event);
            } catch (error) {
              this.onError(error);
            }
          }
        }
        if (this.gatherMs > 0) await new Promise((r) => setTimeout(r, this.gatherMs));
      } catch (error) {
        if (this.closed) return;
        this.onError(error);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

/**
 * Waits for `ready` until `deadline` (epoch ms; the connect timeout counts from the start of the
 * whole connect); on timeout, runs `giveUp` and throws RedisUnreachableError.
 */
export async function readyWithin(ready: Promise<unknown>, deadline: number, label: string, giveUp: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(deadline - Date.now(), 0))));
  try {
    const first = await Promise.race([ready.then(() => 'ready' as const), timeout]);
    if (first === 'timeout') {
      // Closing a client that never connected may wait for it; do not wait long.
      await Promise.race([giveUp().catch(() => {}), new Promise((r) => setTimeout(r, 200).unref())]);
      throw new RedisUnreachableError(`cannot reach redis at ${label} within the connect timeout: is redis-server running there?`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The connection options of `target` with a switch that stops reconnecting: after a connect gave up,
 * clients BullMQ keeps retrying would keep the process alive for seconds past the timeout.
 */
export function abandonable(target: RedisTarget): { options: RedisTarget['connection'] & { disconnectTimeout: number }; abandon(): void } {
  if (typeof target?.connection?.host !== 'string') throw new ValidationError('abandonable', ['target: must come from parseRedisUrl']);
  let abandoned = false;
  return {
    // ioredis waits up to disconnectTimeout (2 s by default) for a socket still connecting to close.
    options: { ...target.connection, disconnectTimeout: 200, retryStrategy: (times: number) => (abandoned ? (null as unknown as number) : reconnectDelay(times)) },
    abandon: () => void (abandoned = true),
  };
}

const DB_PROBLEM = /DB index is out of range|invalid DB index|SELECT is not allowed/i;

/**
 * A database number the server does not have: ioredis reports it and goes on, on database 0 (another
 * store's data) or hanging. Checked once connected; bad input, with a clear message.
 */
export async function checkDatabase(client: RawRedis, target: RedisTarget, giveUp: () => Promise<unknown>): Promise<void> {
  if (typeof client?.select !== 'function' || typeof target?.connection !== 'object' || typeof giveUp !== 'function') {
    throw new ValidationError('checkDatabase', ['needs a client, a target from parseRedisUrl and a giveUp function']);
  }
  const db = target.connection.db;
  if (db === undefined) return;
  const problem = await client.select(db).then(
    () => null,
    (error: unknown) => (DB_PROBLEM.test((error as Error)?.message ?? '') ? (error as Error).message : null),
  );
  if (problem === null) return;
  await Promise.race([giveUp().catch(() => {}), new Promise((r) => setTimeout(r, 200).unref())]);
  throw new ValidationError('--redis', [`${target.label}: redis has no database ${db} (${problem}); use a database number the server has (by default 0 to 15)`]);
}

type BullmqModule = typeof import('bullmq');
let bullmq: Promise<BullmqModule> | null = null;

/** BullMQ, imported on first use. */
export function loadBullmq(): Promise<BullmqModule> {
  bullmq ??= import('bullmq');
  return bullmq;
}

export function positiveIntProblem(value: unknown, name: string): string | null {
  return value === undefined || (Number.isInteger(value) && (value as number) >= 1) ? null : `${name}: must be a whole number ≥ 1, got ${String(value)}`;
}

export function msProblem(value: unknown, name: string, min = 0): string | null {
  return value === undefined || (typeof value === 'number' && Number.isFinite(value) && value >= min) ? null : `${name}: must be a number of milliseconds ≥ ${min}, got ${String(value)}`;
}
