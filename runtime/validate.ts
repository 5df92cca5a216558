/**
 * Input checks for the public API. Each check collects every problem with its path,
 * so one error tells a person everything to fix at once.
 */
import type { DependencyFailurePolicy, TaskInput } from '../machines/task.js';
import { DependencyCycleError, ValidationError } from './errors.js';
import { findCycles, topologicalOrder } from './graph.js';
import type { JsonValue } from './json.js';
import { deepFreeze, jsonProblems } from './json.js';
import { describe } from './describe.js';
import { qualityConfigProblems } from './zod-issues.js';

/** A task as callers describe it. Everything but `id` is optional. */
export interface TaskSpec {
  id: string;
  /** Default `default`. */
  projectId?: string;
  /** Default: the id. */
  title?: string;
  /** Integer 1..10 (10 is most urgent). Default 5. */
  priority?: number;
  /** Ids of tasks that must complete first: already scheduled, or in the same batch. */
  dependencies?: string[];
  /** ISO-8601 string, epoch milliseconds, or a Date. */
  deadline?: string | number | Date | null;
  /** Retries after the first attempt. Default: the runtime's retry policy. */
  maxRetries?: number;
  /** Delay before the first retry in ms; doubles each retry. Default: the runtime's. */
  retryBaseMs?: number;
  /** What this task does when a dependency fails for good or is cancelled. Default `block`. */
  onDependencyFailure?: DependencyFailurePolicy;
  /** Anything JSON the caller wants kept with the task. */
  metadata?: JsonValue;
  /**
   * The name of a function executor registered in `createOverseer({ executors })`, for
   * `overseer.run()`. Kept in `metadata.executor`.
   */
  executor?: string;
}

const TASK_FIELDS = new Set<string>([
  'id',
  'projectId',
  'title',
  'priority',
  'dependencies',
  'deadline',
  'maxRetries',
  'retryBaseMs',
  'onDependencyFailure',
  'metadata',
  'executor',
]);
const POLICIES: readonly DependencyFailurePolicy[] = ['block', 'cancel', 'ignore'];
export const MAX_ID_LENGTH = 200;
export const MAX_RETRIES_LIMIT = 100;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** True for an id `idProblems` finds nothing wrong with: the same checks, without building a list. */
function isUsableId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ID_LENGTH && value.trim() !== '' && !CONTROL_CHARACTER.test(value);
}

/** `path.key: unknown field (known: …)` for each own key of `value` that `known` does not list: a misspelled option must not be ignored. */
export function unknownKeyProblems(value: Record<string, unknown>, known: readonly string[], path: string): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(value)) if (!known.includes(key)) problems.push(`${path}.${key}: unknown field (known: ${known.join(', ')})`);
  return problems;
}

/** Problems with an identifier (task or project id), or an empty list. */
export function idProblems(value: unknown, path: string): string[] {
  if (typeof value !== 'string') return [`${path}: must be a string, got ${describe(value)}`];
  if (value.trim() === '') return [`${path}: must not be empty`];
  if (value.length > MAX_ID_LENGTH) return [`${path}: longer than ${MAX_ID_LENGTH} characters`];
  if (CONTROL_CHARACTER.test(value)) return [`${path}: must not contain control characters`];
  return [];
}

export { describe };

const MAX_DATE_MS = 8.64e15;

/** Parses a deadline to epoch ms, or returns the problem. */
export function parseDeadline(value: unknown, path: string): number | string {
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? `${path}: malformed deadline (an invalid Date)` : value.getTime();
  }
  if (typeof value === 'number') {
    // A Date holds at most 8.64e15 ms: a later deadline could not be shown or written as a date.
    return Number.isFinite(value) && value >= 0 && value <= MAX_DATE_MS
      ? value
      : `${path}: malformed deadline ${value} (epoch milliseconds must be a finite number from 0 to ${MAX_DATE_MS}, the last a Date holds)`;
  }
  if (typeof value === 'string') {
    // Date.parse accepts many shapes; an ISO-8601 date (with optional time) is what we promise.
    const iso = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
    const ms = Date.parse(value);
    if (!iso.test(value) || Number.isNaN(ms)) {
      return `${path}: malformed deadline ${describe(value)} (use ISO-8601, e.g. "2026-12-01T17:00:00Z")`;
    }
    // Date.parse rolls impossible days over (Feb 30 → Mar 2): the calendar date must survive the trip.
    const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
    const check = new Date(Date.UTC(y, m - 1, d));
    if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== d) {
      return `${path}: malformed deadline ${describe(value)} (there is no such day)`;
    }
    return ms;
  }
  return `${path}: malformed deadline ${describe(value)} (use an ISO-8601 string, epoch ms or a Date)`;
}

export interface TaskDefaults {
  maxRetries: number;
  retryBaseMs: number;
  at: number;
}

/**
 * Checks one task spec and builds the machine input. Dependency existence is checked
 * by the caller, which knows the scheduled tasks and the rest of the batch.
 */
export function normalizeTask(raw: unknown, path: string, defaults: TaskDefaults): { input?: TaskInput; problems: string[] } {
  if (!isPlainObject(raw)) return { problems: [`${path}: must be an object, got ${describe(raw)}`] };
  const problems: string[] = [];
  for (const key in raw) {
    if (Object.hasOwn(raw, key) && !TASK_FIELDS.has(key)) problems.push(`${path}.${key}: unknown field (known: ${[...TASK_FIELDS].join(', ')})`);
  }
  // The paths are built only for an id that has problems: this runs for every task scheduled.
  if (!isUsableId(raw.id)) problems.push(...idProblems(raw.id, `${path}.id`));

  let projectId = 'default';
  if (raw.projectId !== undefined) {
    if (!isUsableId(raw.projectId)) problems.push(...idProblems(raw.projectId, `${path}.projectId`));
    if (typeof raw.projectId === 'string') projectId = raw.projectId;
  }
  let title = typeof raw.id === 'string' ? raw.id : '';
  if (raw.title !== undefined) {
    if (typeof raw.title !== 'string') problems.push(`${path}.title: must be a string, got ${describe(raw.title)}`);
    else title = raw.title;
  }
  let priority = 5;
  if (raw.priority !== undefined) {
    if (typeof raw.priority !== 'number' || !Number.isInteger(raw.priority) || raw.priority < 1 || raw.priority > 10) {
      problems.push(`${path}.priority: must be an integer from 1 to 10, got ${describe(raw.priority)}`);
    } else priority = raw.priority;
  }
  let dependencies: string[] = [];
  if (raw.dependencies !== undefined) {
    if (!Array.isArray(raw.dependencies)) {
      problems.push(`${path}.dependencies: must be an array of task ids, got ${describe(raw.dependencies)}`);
    } else {
      const deps = raw.dependencies as unknown[];
      // A short list (the usual) is searched; a long one gets a set, so the check stays linear.
      const seen = deps.length > 16 ? new Set<unknown>() : null;
      const p = (i: number) => `${path}.dependencies[${i}]`; // built only for a problem
      for (let i = 0; i < deps.length; i++) {
        const dep = deps[i];
        if (!isUsableId(dep)) {
          problems.push(...idProblems(dep, p(i)));
          continue;
        }
        if (dep === raw.id) problems.push(`${p(i)}: task "${dep}" depends on itself`);
        else if (seen ? seen.has(dep) : deps.indexOf(dep) < i) problems.push(`${p(i)}: "${dep}" is listed twice`);
        seen?.add(dep);
      }
      dependencies = raw.dependencies as string[];
    }
  }
  let deadline: number | null = null;
  if (raw.deadline !== undefined && raw.deadline !== null) {
    const parsed = parseDeadline(raw.deadline, `${path}.deadline`);
    if (typeof parsed === 'string') problems.push(parsed);
    else deadline = parsed;
  }
  let maxRetries = defaults.maxRetries;
  if (raw.maxRetries !== undefined) {
    if (
      typeof raw.maxRetries !== 'number' ||
      !Number.isInteger(raw.maxRetries) ||
      raw.maxRetries < 0 ||
      raw.maxRetries > MAX_RETRIES_LIMIT
    ) {
      problems.push(`${path}.maxRetries: must be an integer from 0 to ${MAX_RETRIES_LIMIT}, got ${describe(raw.maxRetries)}`);
    } else maxRetries = raw.maxRetries;
  }
  let retryBaseMs = defaults.retryBaseMs;
  if (raw.retryBaseMs !== undefined) {
    if (typeof raw.retryBaseMs !== 'number' || !Number.isFinite(raw.retryBaseMs) || raw.retryBaseMs < 0) {
      problems.push(`${path}.retryBaseMs: must be a number of milliseconds ≥ 0, got ${describe(raw.retryBaseMs)}`);
    } else retryBaseMs = raw.retryBaseMs;
  }
  let onDependencyFailure: DependencyFailurePolicy = 'block';
  if (raw.onDependencyFailure !== undefined) {
    if (!POLICIES.includes(raw.onDependencyFailure as DependencyFailurePolicy)) {
      problems.push(`${path}.onDependencyFailure: must be one of ${POLICIES.join(', ')}, got ${describe(raw.onDependencyFailure)}`);
    } else onDependencyFailure = raw.onDependencyFailure as DependencyFailurePolicy;
  }
  let metadata: JsonValue | null = null;
  if (raw.metadata !== undefined) {
    const issues = jsonProblems(raw.metadata, `${path}.metadata`);
    // Quality settings are read by the judge as they are: a misspelled or mistyped one (a gate's
    // minScore as text) would quietly never hold, so they are checked as a plan file's are.
    if (issues.length === 0 && isPlainObject(raw.metadata) && raw.metadata.quality !== undefined && raw.metadata.quality !== null) issues.push(...qualityConfigProblems(raw.metadata.quality, `${path}.metadata.quality`));
    // The runner's time limit per attempt: as text or 0 it would time every attempt out at once.
    const timeoutMs = isPlainObject(raw.metadata) ? raw.metadata.timeoutMs : undefined;
    if (timeoutMs !== undefined && timeoutMs !== null && !(typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      issues.push(`${path}.metadata.timeoutMs: must be a number of milliseconds > 0 (or null: no time limit), got ${describe(timeoutMs)}`);
    }
    if (issues.length) problems.push(...issues);
    else metadata = deepFreeze(structuredClone(raw.metadata) as JsonValue);
  }
  if (raw.executor !== undefined) {
    if (typeof raw.executor !== 'string' || raw.executor.trim() === '') {
      problems.push(`${path}.executor: must be the name of a registered executor, got ${describe(raw.executor)}`);
    } else if (metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata))) {
      problems.push(`${path}.metadata: must be an object to hold the executor`);
    } else if (isPlainObject(metadata) && metadata.executor !== undefined) {
      // One would silently replace the other.
      problems.push(`${path}.executor: the task says how it runs twice (executor and metadata.executor): give one`);
    } else {
      metadata = deepFreeze({ ...(metadata as Record<string, JsonValue> | null), executor: { type: 'function', name: raw.executor } });
    }
  }
  if (problems.length) return { problems };
  return {
    problems,
    input: {
      id: raw.id as string,
      projectId,
      title,
      priority,
      dependencies: Object.freeze([...dependencies]) as string[],
      deadline,
      onDependencyFailure,
      maxRetries,
      retryBaseMs,
      metadata,
      at: defaults.at,
    },
  };
}

/**
 * Checks a batch of task specs against each other and the tasks already scheduled
 * (`isScheduled`): each spec's fields, duplicate ids, unknown dependencies, cycles.
 * Returns the machine inputs in dependency order (and the ids in the caller's order), or
 * throws a ValidationError — a DependencyCycleError when there is a cycle — naming every problem.
 */
export function checkBatch(
  tasks: readonly unknown[],
  isScheduled: (id: string) => boolean,
  defaults: TaskDefaults,
): { ordered: TaskInput[]; ids: string[] } {
  if (tasks.length === 1) return checkOne(tasks[0], isScheduled, defaults);
  const what = 'scheduleTasks';
  const pathOf = (i: number) => `tasks[${i}]`;
  const problems: string[] = [];
  const inputs = new Map<string, TaskInput>();
  const batchIds = new Set<string>();
  // Index loops, not forEach: a hole in the batch is a task that is not one, not a task skipped.
  for (let i = 0; i < tasks.length; i++) {
    const raw = tasks[i];
    const { input, problems: issues } = normalizeTask(raw, pathOf(i), defaults);
    problems.push(...issues);
    const id = isPlainObject(raw) && typeof raw.id === 'string' ? raw.id : undefined;
    if (id !== undefined) {
      if (isScheduled(id)) problems.push(`${pathOf(i)}.id: a task "${id}" is already scheduled`);
      else if (batchIds.has(id)) problems.push(`${pathOf(i)}.id: "${id}" appears twice in this batch`);
      batchIds.add(id);
    }
    if (input && !inputs.has(input.id)) inputs.set(input.id, input);
  }
  // Dependencies and cycles are checked on every task that has an id, valid or not, so one error names them all.
  const rawDependencies = new Map<string, string[]>();
  for (let i = 0; i < tasks.length; i++) {
    const raw = tasks[i];
    if (!isPlainObject(raw) || typeof raw.id !== 'string') continue;
    addUnknownDependencies(problems, raw.id, raw.dependencies, pathOf(i), (dep) => isScheduled(dep) || batchIds.has(dep));
    const deps = Array.isArray(raw.dependencies) ? raw.dependencies : [];
    if (!rawDependencies.has(raw.id)) {
      rawDependencies.set(raw.id, deps.filter((d): d is string => typeof d === 'string' && d !== raw.id));
    }
  }
  const cycles = findCycles([...rawDependencies.keys()], (id) => rawDependencies.get(id) ?? []);
  if (cycles.length) {
    for (const cycle of cycles) problems.push(`dependency cycle: ${cycle.join(' -> ')}`);
    throw new DependencyCycleError(cycles[0]!, problems, what);
  }
  if (problems.length) throw new ValidationError(what, problems);
  const ids = [...inputs.keys()];
  return { ordered: topologicalOrder(ids, (id) => inputs.get(id)!.dependencies).map((id) => inputs.get(id)!), ids };
}

/**
 * `checkBatch` of one task (`scheduleTask`, once per task in a stream of them): the same
 * checks and messages, without the batch's maps, sets and ordering. One new task cannot
 * close a cycle: what is scheduled cannot depend on it, and a self-dependency is refused.
 */
function checkOne(raw: unknown, isScheduled: (id: string) => boolean, defaults: TaskDefaults): { ordered: TaskInput[]; ids: string[] } {
  const { input, problems } = normalizeTask(raw, 'task', defaults);
  if (isPlainObject(raw) && typeof raw.id === 'string') {
    if (isScheduled(raw.id)) problems.push(`task.id: a task "${raw.id}" is already scheduled`);
    addUnknownDependencies(problems, raw.id, raw.dependencies, 'task', isScheduled);
  }
  if (problems.length || !input) throw new ValidationError('scheduleTask', problems);
  return { ordered: [input], ids: [input.id] };
}

/**
 * Adds a problem for each dependency of task `id` (at `path`) that is not a known task. An
 * id that is not usable is named as such by normalizeTask, not as unknown as well.
 */
function addUnknownDependencies(problems: string[], id: string, dependencies: unknown, path: string, isKnown: (id: string) => boolean): void {
  const deps: unknown[] = Array.isArray(dependencies) ? dependencies : [];
  for (let j = 0; j < deps.length; j++) {
    const dep = deps[j];
    if (isUsableId(dep) && dep !== id && !isKnown(dep)) problems.push(`${path}.dependencies[${j}]: unknown task "${dep}"`);
  }
}
