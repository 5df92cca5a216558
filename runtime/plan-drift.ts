/**
 * What a plan changed in a task the store already holds. The store's version is the one that
 * runs (a task's definition is fixed when it is scheduled), so `run` and `resume` name every
 * difference, in the plan's own words, for the operator who edited the plan and expects it to count.
 */
import { DEFAULT_RETRY_POLICY } from './backoff.js';
import { isPlainObject, parseDeadline, type TaskSpec } from './validate.js';
import type { TaskView } from './view.js';

/** The plan's names for the other metadata keys a plan sets (runtime/plan.ts); the rest go by their own. */
const METADATA_NAMES: Record<string, string> = { timeThresholdMs: 'timeThreshold' };

/** Compared apart (executor, timeoutMs, onChange), or not part of what the task does (`source`: where it is in the file). */
const NOT_COMPARED = new Set(['executor', 'timeoutMs', 'onChange', 'source']);

/** The plan's names of the executor's fields (runtime/plan.ts resolveExecutor); the rest (`command`, `cwd`, `env`, `prompt`…) go by their own. */
const EXECUTOR_NAMES: Record<string, string> = { type: 'executor', name: 'function' };

export interface DriftOptions {
  /** Whether two working directories are the same folder (the CLI resolves symbolic links). Default: the same text. */
  samePath?: (a: string, b: string) => boolean;
}

/** JSON with object keys sorted: the same data written in another key order compares equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

const sameSet = (a: readonly string[], b: readonly string[]) => canonical([...new Set(a)].sort()) === canonical([...new Set(b)].sort());

/** The differences between a stored task and the plan's spec of it, named as the plan names them; [] when none. */
export function planDrift(stored: TaskView, spec: TaskSpec, options: DriftOptions = {}): string[] {
  const changed: string[] = [];
  const differs = (name: string, was: unknown, now: unknown) => void (canonical(was ?? null) !== canonical(now ?? null) && changed.push(name));
  const was = asRecord(stored.metadata);
  const now = asRecord(spec.metadata);
  // What it does first, then how it is scheduled, then the rest of what the plan keeps in its metadata.
  changed.push(...executorDrift(asRecord(was.executor), asRecord(now.executor), options.samePath ?? ((a, b) => a === b)));
  differs('priority', stored.priority, spec.priority ?? 5);
  differs('timeout', was.timeoutMs, now.timeoutMs);
  differs('retries', stored.maxRetries, spec.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries);
  differs('retryDelay', stored.retryBaseMs, spec.retryBaseMs ?? DEFAULT_RETRY_POLICY.baseDelayMs);
  if (!sameSet(stored.dependencies, spec.dependencies ?? [])) changed.push('dependsOn');
  differs('onDependencyFailure', stored.onDependencyFailure, spec.onDependencyFailure ?? 'block');
  differs('deadline', stored.deadline, spec.deadline === undefined || spec.deadline === null ? null : parseDeadline(spec.deadline, 'deadline'));
  differs('title', stored.title, spec.title ?? spec.id);
  differs('project', stored.projectId, spec.projectId ?? 'default');
  const globs = (m: Record<string, unknown>) => (Array.isArray(m.onChange) ? m.onChange.map(String) : []);
  if (!sameSet(globs(was), globs(now))) changed.push('onChange'); // the order of globs changes nothing
  for (const key of [...new Set([...Object.keys(was), ...Object.keys(now)])]) {
    if (!NOT_COMPARED.has(key)) differs(METADATA_NAMES[key] ?? key, was[key], now[key]);
  }
  return changed;
}

/** The executor's fields that differ, by the plan's names: an empty `env` is none, a `cwd` is compared as a folder. */
function executorDrift(was: Record<string, unknown>, now: Record<string, unknown>, samePath: (a: string, b: string) => boolean): string[] {
  if (was.type !== now.type) return ['executor'];
  const none = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v).length === 0);
  const changed: string[] = [];
  for (const key of [...new Set([...Object.keys(was), ...Object.keys(now)])]) {
    const a = was[key];
    const b = now[key];
    if (none(a) && none(b)) continue;
    const same = key === 'cwd' && typeof a === 'string' && typeof b === 'string' ? samePath(a, b) : canonical(a ?? null) === canonical(b ?? null);
    if (!same) changed.push(EXECUTOR_NAMES[key] ?? key);
  }
  return changed;
}

const asRecord = (v: unknown): Record<string, unknown> => (isPlainObject(v) ? v : {});
