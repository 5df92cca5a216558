/** The options of `createOverseer()`, and the checks of options and arguments that need more than a line. */
import type { InspectionEvent, Observer } from 'xstate';
import type { Executor } from '../actors/types.js';
import type { TaskState } from '../machines/task.js';
import type { Store, StoreWarning } from '../store/types.js';
import type { RetryPolicy } from './backoff.js';
import type { Clock } from './clock.js';
import type { QualityControllerOptions } from './quality/controller.js';
import { describe, isPlainObject, unknownKeyProblems } from './validate.js';


export interface OverseerOptions {
  /** Where time comes from. XState's `SimulatedClock` works; default: the system clock. */
  clock?: Clock;
  /** Retry defaults for every task (a task can override maxRetries and retryBaseMs). */
  retry?: Partial<RetryPolicy>;
  /** XState's inspection observer, passed to the supervisor actor system. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * Where the runtime's state persists: `jsonFileStore(path)` or `memoryStore()`. An
   * existing store is restored: tasks come back in their state, timers are re-armed, and
   * attempts that were running when the process stopped count as interrupted and go
   * through the retry policy. Default: none (state lives in memory only).
   */
  store?: Store;
  /**
   * Function executors for `overseer.run()`, by name: `async (task, { signal, attempt, log }) => result`.
   * A task names one with `executor: 'name'`.
   */
  executors?: Record<string, Executor>;
  /** Breakpoints: how long non-urgent notifications are batched, and the default time threshold of an attempt. */
  breakpoints?: { notifyBatchMs?: number; timeThresholdMs?: number };
  /** Options of the quality controller (stage weights, test timeout, an LLM stage…). */
  quality?: Omit<QualityControllerOptions, 'history' | 'onRecord' | 'now'>;
  /**
   * Journal records between automatic compactions into the snapshot, fixed. By default the
   * interval scales with the state: 1.5 records per task not counting `add` records, and at
   * least 100,000 (a memoryStore: one record per task, adds counted, at least 100,000) (runtime/compaction-policy.ts), so a large state is not rewritten over
   * and over, and a restore after a crash stays proportional to the tasks.
   */
  compactEvery?: number;
  /**
   * Make automatic compactions in a worker thread, from the store's files (a store that
   * supports it: `jsonFileStore`), so that the snapshot's work is done on another core.
   * Default: true on a machine with more than 2 cores. On 2 cores the worker competes with
   * the main thread for one and was measured slower (runtime/compaction-policy.ts); the main thread
   * then compacts in slices (a few thousand tasks per turn of the event loop).
   */
  backgroundCompaction?: boolean;
  /** Where errors thrown by event listeners are reported. Default: console.error. */
  onListenerError?: (error: unknown, eventType: string) => void;
  /** Where background failures (a store compaction that failed) are reported. Default: console.error. */
  onError?: (error: unknown, source: string) => void;
  /**
   * What a restore does with attempts that were running when the process stopped: `interrupt`
   * (default) fails each as interrupted, through the retry policy; `keep` leaves them running, for a
   * runner whose work runs elsewhere (BullMQ dispatch) to re-attach to them.
   */
  onRestoreRunning?: 'interrupt' | 'keep';
}

export interface StateCounts extends Record<TaskState, number> {
  total: number;
}

/** What a restore found and did. */
export interface RecoveryReport {
  store: string;
  /** Tasks brought back. */
  tasks: number;
  /** Journal records replayed on top of the snapshot. */
  replayed: number;
  /** Tasks that were running when the process stopped: each counted as an interrupted attempt. */
  interrupted: string[];
  warnings: StoreWarning[];
}

/** The quality controller's options a runtime passes on (history, onRecord and now are the runtime's own). */
const QUALITY_KEYS = ['validators', 'weights', 'testTimeoutMs', 'maxLinesAdded', 'keywordThreshold', 'llm', 'maxHistory', 'passScore', 'log'];
const OPTION_KEYS = new Set(['clock', 'retry', 'inspect', 'onListenerError', 'onError', 'store', 'compactEvery', 'backgroundCompaction', 'executors', 'breakpoints', 'quality', 'onRestoreRunning']);
const RETRY_KEYS = new Set(['baseDelayMs', 'maxRetries', 'maxDelayMs']);

export function failureProblem(error: unknown): string | null {
  if (typeof error === 'string') return error.trim() === '' ? 'error: must not be empty' : null;
  if (error instanceof Error) return null;
  if (isPlainObject(error) && typeof error.message === 'string' && error.message.trim() !== '') {
    if (error.retryable !== undefined && typeof error.retryable !== 'boolean') {
      return `error.retryable: must be a boolean, got ${describe(error.retryable)}`;
    }
    if (error.kind !== undefined && typeof error.kind !== 'string') return `error.kind: must be a string, got ${describe(error.kind)}`;
    if (error.retryAfterMs !== undefined && (typeof error.retryAfterMs !== 'number' || !(error.retryAfterMs >= 0))) {
      return `error.retryAfterMs: must be a number of milliseconds ≥ 0, got ${describe(error.retryAfterMs)}`;
    }
    return null;
  }
  return `error: must be a message, an Error or { message, retryable?, kind? }, got ${describe(error)}`;
}

export function optionProblems(options: unknown): string[] {
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
  for (const key of ['onListenerError', 'onError'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') problems.push(`options.${key}: must be a function`);
  }
  const store = options.store as Record<string, unknown> | undefined;
  if (store !== undefined) {
    for (const fn of ['open', 'append', 'flush', 'compact', 'close'] as const) {
      if (typeof store?.[fn] !== 'function') problems.push(`options.store: not a store (no ${fn}()); use memoryStore() or jsonFileStore(path)`);
    }
  }
  const executors = options.executors;
  if (executors !== undefined) {
    if (!isPlainObject(executors)) problems.push(`options.executors: must be an object of named functions, got ${describe(executors)}`);
    else for (const [name, fn] of Object.entries(executors)) if (typeof fn !== 'function') problems.push(`options.executors.${name}: must be a function`);
  }
  const bp = options.breakpoints;
  if (bp !== undefined) {
    if (!isPlainObject(bp)) problems.push(`options.breakpoints: must be an object, got ${describe(bp)}`);
    else
      for (const [key, v] of Object.entries(bp)) {
        if (key !== 'notifyBatchMs' && key !== 'timeThresholdMs') problems.push(`options.breakpoints.${key}: unknown option (known: notifyBatchMs, timeThresholdMs)`);
        else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) problems.push(`options.breakpoints.${key}: must be a number of milliseconds ≥ 0, got ${describe(v)}`);
      }
  }
  if (options.quality !== undefined) {
    // Its values are the quality controller's to check; a key it does not know would be ignored there.
    if (!isPlainObject(options.quality)) problems.push(`options.quality: must be an object, got ${describe(options.quality)}`);
    else problems.push(...unknownKeyProblems(options.quality, QUALITY_KEYS, 'options.quality'));
  }
  if (options.onRestoreRunning !== undefined && options.onRestoreRunning !== 'interrupt' && options.onRestoreRunning !== 'keep') {
    problems.push(`options.onRestoreRunning: must be 'interrupt' or 'keep', got ${describe(options.onRestoreRunning)}`);
  }
  if (options.backgroundCompaction !== undefined && typeof options.backgroundCompaction !== 'boolean') {
    problems.push(`options.backgroundCompaction: must be true or false, got ${describe(options.backgroundCompaction)}`);
  }
  const compactEvery = options.compactEvery;
  if (compactEvery !== undefined && (typeof compactEvery !== 'number' || !Number.isInteger(compactEvery) || compactEvery < 1)) {
    problems.push(`options.compactEvery: must be an integer ≥ 1, got ${describe(compactEvery)}`);
  }
  return problems;
}

const RUN_OPTION_KEYS = ['concurrency', 'perProject', 'defaultPerProject', 'onLog', 'killGraceMs', 'waitForPersonMs', 'keepAlive', 'dispatch', 'commands'];

/** What is wrong with `run()`'s options: a misspelled one (`concurency`) or a limit that cannot be kept. */
export function runOptionProblems(options: unknown): string[] {
  if (!isPlainObject(options)) return [`run options: must be an object, got ${describe(options)}`];
  const problems = unknownKeyProblems(options, RUN_OPTION_KEYS, 'options');
  const positiveInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  const duration = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (options.concurrency !== undefined && !positiveInt(options.concurrency)) problems.push(`options.concurrency: must be an integer ≥ 1, got ${describe(options.concurrency)}`);
  if (options.defaultPerProject !== undefined && options.defaultPerProject !== null && !positiveInt(options.defaultPerProject)) {
    problems.push(`options.defaultPerProject: must be an integer ≥ 1 or null, got ${describe(options.defaultPerProject)}`);
  }
  if (options.perProject !== undefined) {
    if (!isPlainObject(options.perProject)) problems.push(`options.perProject: must be an object of project id → limit, got ${describe(options.perProject)}`);
    else for (const [id, limit] of Object.entries(options.perProject)) if (!positiveInt(limit)) problems.push(`options.perProject.${id}: must be an integer ≥ 1, got ${describe(limit)}`);
  }
  for (const key of ['killGraceMs', 'waitForPersonMs'] as const) {
    if (options[key] !== undefined && !duration(options[key])) problems.push(`options.${key}: must be a number of milliseconds ≥ 0, got ${describe(options[key])}`);
  }
  for (const key of ['keepAlive', 'commands'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') problems.push(`options.${key}: must be true or false, got ${describe(options[key])}`);
  }
  if (options.onLog !== undefined && typeof options.onLog !== 'function') problems.push(`options.onLog: must be a function, got ${describe(options.onLog)}`);
  return problems;
}
