/**
 * The options of the BullMQ dispatcher (the supervisor's side), their checks and their defaults.
 */
import { DEFAULT_QUEUE, msProblem, queueNameProblem, runIdProblem } from './bullmq-shared.js';

export interface BullmqDispatchOptions {
  /** redis://host:port[/db] (or rediss://). */
  redis: string;
  /** The BullMQ queue. Default `overseer`. */
  queue?: string;
  /**
   * Part of every job id (`<runId>/<task>@<attempt>`), so stores sharing a queue, or a store started
   * over, never meet each other's jobs. Keep it for the store's life (a restarted supervisor finds its
   * jobs by it); the CLI keeps one per store. Without it, ids are `<task>@<attempt>`.
   */
  runId?: string;
  /** How long to wait for Redis when starting before giving up (ms). Default 10,000. */
  connectTimeoutMs?: number;
  /** After a cancel or timeout, how long the worker has to confirm the work stopped (ms). Default 15,000. */
  cancelGraceMs?: number;
  /** How long finished jobs are kept in Redis, so a restarted supervisor finds their outcomes (ms). Default 7 days. */
  keepJobsMs?: number;
  /** Outages, recoveries and late results, one line each. Default: stderr. */
  report?: (line: string) => void;
  /** How often attempts that heard nothing for this long are looked up in the queue (events can be trimmed away) (ms). Default 5,000. */
  sweepMs?: number;
  /** How often the supervisor runs BullMQ's stalled-job check, so a lost worker is noticed with no other worker left (ms). Default 5,000. */
  stalledCheckMs?: number;
  /** Jobs waiting this long with no worker connected are reported (ms). Default 30,000; then at most every `noWorkerRepeatMs` (default 5 min). */
  noWorkerNoticeMs?: number;
  noWorkerRepeatMs?: number;
}

/** The options once defaulted, as the dispatcher and its watch use them. */
export type DispatchSettings = Required<Omit<BullmqDispatchOptions, 'redis' | 'queue' | 'connectTimeoutMs' | 'runId'>>;

/** What is wrong with the options (the Redis URL is checked when parsed). */
export function dispatchOptionProblems(options: BullmqDispatchOptions): string[] {
  return [
    options === null || typeof options !== 'object' ? 'options: must be an object with at least redis' : null,
    queueNameProblem(options?.queue ?? DEFAULT_QUEUE),
    msProblem(options?.connectTimeoutMs, 'connectTimeoutMs', 1),
    msProblem(options?.cancelGraceMs, 'cancelGraceMs'),
    msProblem(options?.keepJobsMs, 'keepJobsMs', 1000),
    msProblem(options?.sweepMs, 'sweepMs', 100),
    msProblem(options?.stalledCheckMs, 'stalledCheckMs', 100),
    msProblem(options?.noWorkerNoticeMs, 'noWorkerNoticeMs', 100),
    msProblem(options?.noWorkerRepeatMs, 'noWorkerRepeatMs'),
    options?.runId === undefined ? null : runIdProblem(options.runId),
    options?.report !== undefined && typeof options.report !== 'function' ? 'report: must be a function' : null,
  ].filter((p): p is string => p !== null);
}

export function dispatchSettings(options: BullmqDispatchOptions, report: (line: string) => void): DispatchSettings {
  if (typeof report !== 'function') throw new TypeError('dispatchSettings: report must be a function');
  return {
    cancelGraceMs: options.cancelGraceMs ?? 15_000,
    sweepMs: options.sweepMs ?? 5_000,
    stalledCheckMs: options.stalledCheckMs ?? 5_000,
    noWorkerNoticeMs: options.noWorkerNoticeMs ?? 30_000,
    noWorkerRepeatMs: options.noWorkerRepeatMs ?? 300_000,
    keepJobsMs: options.keepJobsMs ?? 7 * 24 * 3_600_000,
    report,
  };
}
