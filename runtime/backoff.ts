/** Pure retry policy: how long to wait before a retry, and which errors deserve one. */

export interface RetryPolicy {
  /** Delay before the first retry, in ms. Default 60,000. */
  baseDelayMs: number;
  /** Retries after the first attempt. Default 3. */
  maxRetries: number;
  /** No delay grows beyond this, in ms. Default 1 hour. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  baseDelayMs: 60_000,
  maxRetries: 3,
  maxDelayMs: 3_600_000,
});

/**
 * delay = base × 2^retriesSoFar, capped: with the defaults 60 s, 120 s, 240 s.
 * `retriesSoFar` is 0 before the first retry.
 */
export function backoffDelay(retriesSoFar: number, baseDelayMs: number, maxDelayMs = DEFAULT_RETRY_POLICY.maxDelayMs): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** retriesSoFar);
}

/** Error kinds that a retry cannot fix. */
export const NON_RETRYABLE_KINDS: ReadonlySet<string> = new Set(['validation', 'auth']);

/** What a caller may pass as a failure: a message, an Error, or a plain description. */
export type FailureInput = string | Error | { message: string; retryable?: boolean; kind?: string; retryAfterMs?: number };

export interface ClassifiedFailure {
  message: string;
  retryable: boolean;
  kind?: string;
  /** The least wait before a retry that the failure asked for (a rate limit's retry-after). */
  retryAfterMs?: number;
}

/**
 * Reads a failure the way users write them: `retryable: false` wins; kinds
 * `validation` and `auth` (or errors named ValidationError / AuthError /
 * AuthenticationError) are never retried; anything else is.
 */
export function classifyFailure(failure: FailureInput): ClassifiedFailure {
  if (typeof failure === 'string') return { message: failure, retryable: true };
  const record = failure as { message?: unknown; retryable?: unknown; kind?: unknown; name?: unknown };
  const message = typeof record.message === 'string' && record.message !== '' ? record.message : String(failure);
  let kind = typeof record.kind === 'string' ? record.kind : undefined;
  if (kind === undefined && typeof record.name === 'string') {
    if (record.name === 'ValidationError') kind = 'validation';
    else if (record.name === 'AuthError' || record.name === 'AuthenticationError') kind = 'auth';
  }
  const retryable = record.retryable === false ? false : kind === undefined || !NON_RETRYABLE_KINDS.has(kind);
  const out: ClassifiedFailure = { message, retryable };
  if (kind !== undefined) out.kind = kind;
  const after = (failure as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof after === 'number' && Number.isFinite(after) && after > 0) out.retryAfterMs = after;
  return out;
}

/**
 * Failures that were not the work's: the process running it stopped (`interrupted`) or, with
 * BullMQ, the worker holding it was lost (`worker_lost`).
 */
export const INTERRUPTION_KINDS: ReadonlySet<string> = new Set(['interrupted', 'worker_lost']);

/** Whether a failure of this kind was an interruption, not the work's failure. */
export const isInterruption = (kind: string | undefined): boolean => kind !== undefined && INTERRUPTION_KINDS.has(kind);

/**
 * Interruptions a task may have without using up its retries: stopping a run and resuming it
 * must not fail a task that never failed by itself. Beyond this many, an interruption counts
 * as any failure, so a task that keeps bringing its process down does not loop for ever.
 */
export const INTERRUPTIONS_FORGIVEN = 5;

/**
 * Rate limits a task may hit without using up its retries: a throttled agent waits out its
 * retry-after (actors/agent.ts) and tries again. Beyond this many they count as failures, so an
 * agent that is always throttled does not wait for ever.
 */
export const RATE_LIMITS_FORGIVEN = 10;

/**
 * Of a task's failures so far (`history`), those that used none of its retries, and whether
 * one of `kind` now does not either: interruptions up to INTERRUPTIONS_FORGIVEN, rate limits
 * up to RATE_LIMITS_FORGIVEN.
 */
export function forgiveness(history: readonly { to: string; kind?: string }[], kind: string | undefined): { forgiven: number; forgivesThis: boolean } {
  let interruptions = 0;
  let rateLimits = 0;
  for (const h of history) {
    if (h.to !== 'failed') continue;
    if (isInterruption(h.kind)) interruptions++;
    else if (h.kind === 'rate_limit') rateLimits++;
  }
  const forgiven = Math.min(interruptions, INTERRUPTIONS_FORGIVEN) + Math.min(rateLimits, RATE_LIMITS_FORGIVEN);
  const forgivesThis = (isInterruption(kind) && interruptions < INTERRUPTIONS_FORGIVEN) || (kind === 'rate_limit' && rateLimits < RATE_LIMITS_FORGIVEN);
  return { forgiven, forgivesThis };
}

/** Whether a task that failed with `failure` after `retriesSoFar` retries gets another. */
export function shouldRetry(failure: ClassifiedFailure, retriesSoFar: number, maxRetries: number): boolean {
  return failure.retryable && retriesSoFar < maxRetries;
}
