/**
 * What a plan changed in a task the store already holds. The store's version is the one that
 * runs (a task's definition is fixed when it is scheduled), so `run` and `resume` name every
 * difference, in the plan's own words, for the operator who edited the plan and expects it to count.
 */
import { DEFAULT_RETRY_POLICY } from './backoff.js';
import { parseDeadline, type TaskSpec } from './validate.js';
import type { TaskView } from './view.js';

/** The plan's names for the other metadata keys a plan sets (runtime/plan.ts); the rest go by their own. */
const METADATA_NAMES: Record<string, string> = { timeThresholdMs: 'timeThreshold' };

/** Compared above (executor, timeoutMs), or not part of what the task does (`source`: where it is in the file). */
const NOT_COMPARED = new Set(['executor', 'timeoutMs', 'source']);

/** JSON with object keys sorted: the same data written in another key order compares equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

const sameSet = (a: readonly string[], b: readonly string[]) => canonical([...a].sort()) === canonical([...b].sort());

/** The differences between a stored task and the plan's spec of it, named as the plan names them; [] when none. */
export function planDrift(stored: TaskView, spec: TaskSpec): string[] {
  const changed: string[] = [];
  const differs = (name: string, was: unknown, now: unknown) => void (canonical(was ?? null) !== canonical(now ?? null) && changed.push(name));
  const was = asRecord(stored.metadata);
  const now = asRecord(spec.metadata);
  // What it does first, then how it is scheduled, then the rest of what the plan keeps in its metadata.
  differs('how it runs', was.executor, now.executor);
  differs('priority', stored.priority, spec.priority ?? 5);
  differs('timeout', was.timeoutMs, now.timeoutMs);
  differs('retries', stored.maxRetries, spec.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries);
  differs('retryDelay', stored.retryBaseMs, spec.retryBaseMs ?? DEFAULT_RETRY_POLICY.baseDelayMs);
  if (!sameSet(stored.dependencies, spec.dependencies ?? [])) changed.push('dependsOn');
  differs('onDependencyFailure', stored.onDependencyFailure, spec.onDependencyFailure ?? 'block');
  differs('deadline', stored.deadline, spec.deadline === undefined || spec.deadline === null ? null : parseDeadline(spec.deadline, 'deadline'));
  differs('title', stored.title, spec.title ?? spec.id);
  differs('project', stored.projectId, spec.projectId ?? 'default');
  for (const key of [...new Set([...Object.keys(was), ...Object.keys(now)])]) {
    if (!NOT_COMPARED.has(key)) differs(METADATA_NAMES[key] ?? key, was[key], now[key]);
  }
  return changed;
}

const asRecord = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
