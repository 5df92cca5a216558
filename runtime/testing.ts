/**
 * `overseer/testing`: what users need to property-test their own orchestrations in vitest.
 *
 *   import { SimulatedClock, taskSpecs, drive, machinePaths, verifyPlan } from 'overseer/testing';
 *
 * - `SimulatedClock`: XState's; pass it as `createOverseer({ clock })` and move time with `increment`.
 * - `taskSpecs()`: fast-check arbitraries of valid task batches (dependency DAGs over projects).
 * - `drive()`: runs a runtime to the end with a decision per attempt (complete or fail), on the clock.
 * - `machinePaths()`: the shortest path to every state of a machine (task, breakpoint, or yours).
 * - `verifyPlan()`: the dry run behind `overseer verify`.
 * - `rulePaths()`: model-based path tests of your own breakpoint rules.
 *
 * fast-check is a peer dependency of this entry point only; the main entry does not load it.
 */
import fc from 'fast-check';
import { SimulatedClock, type AnyStateMachine, type EventObject } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { ValidationError } from './errors.js';
import type { Overseer } from './overseer.js';
import { describe, idProblems, isPlainObject, unknownKeyProblems, type TaskSpec } from './validate.js';
import type { TaskView } from './view.js';

export { SimulatedClock };
export { verifyPlan, formatVerifyReport } from './verify.js';
export { rulePaths, type RuleFacts, type RulePath, type RulePathOptions, type RuleStep } from './testing-rules.js';

export interface TaskSpecsOptions {
  /** At most this many tasks (default 30). */
  maxTasks?: number;
  /** Projects to spread them over (default one, `default`). */
  projects?: string[];
}

/** The problems of an options object: not an object, unknown keys, and what `checks` find. */
function helperOptionProblems(value: unknown, known: readonly string[], checks: (o: Record<string, unknown>) => string[]): string[] {
  if (value === undefined) return [];
  if (!isPlainObject(value)) return [`options: must be an object, got ${describe(value)}`];
  return [...unknownKeyProblems(value, known, 'options'), ...checks(value)];
}

const wholeAtLeast = (min: number) => (v: unknown, path: string) =>
  v === undefined || (Number.isInteger(v) && (v as number) >= min) ? [] : [`${path}: must be a whole number ≥ ${min}, got ${describe(v)}`];

/** Valid task batches: ids t0…tn, priorities 1..10, dependencies only on earlier tasks (a DAG). */
export function taskSpecs(options: TaskSpecsOptions = {}): fc.Arbitrary<TaskSpec[]> {
  const problems = helperOptionProblems(options, ['maxTasks', 'projects'], (o) => [
    ...wholeAtLeast(1)(o.maxTasks, 'options.maxTasks'),
    ...(o.projects === undefined
      ? []
      : Array.isArray(o.projects) && o.projects.length > 0
        ? o.projects.flatMap((p, i) => idProblems(p, `options.projects[${i}]`))
        : [`options.projects: must be a non-empty list of project ids, got ${describe(o.projects)}`]),
  ]);
  if (problems.length) throw new ValidationError('taskSpecs', problems);
  const projects = options.projects ?? ['default'];
  const one = fc.record({
    priority: fc.integer({ min: 1, max: 10 }),
    deps: fc.array(fc.nat(), { maxLength: 3 }),
    project: fc.nat(projects.length - 1),
  });
  return fc.array(one, { minLength: 1, maxLength: options.maxTasks ?? 30 }).map((rows) =>
    rows.map((r, i) => ({
      id: `t${i}`,
      projectId: projects[r.project]!,
      priority: r.priority,
      dependencies: i === 0 ? [] : [...new Set(r.deps.map((d) => `t${d % i}`))],
    })),
  );
}

export interface DriveOptions {
  clock: SimulatedClock;
  /** Tasks at once (default 4). */
  concurrency?: number;
  /** Decides each attempt: true completes it, false fails it (retryable). Default: always true. */
  succeed?: (task: TaskView) => boolean;
  /** Simulated time an attempt takes (default 1000 ms). */
  attemptMs?: number;
  /** A safety stop (default 100,000 steps): reaching it with work left throws. */
  maxSteps?: number;
}

/**
 * Runs the runtime until nothing more can happen; returns the tasks in the order they were
 * started. Throws when it reaches `maxSteps` with work left (a `clock` that is not the
 * runtime's, or a plan that never settles), so a property cannot pass on a half-run.
 */
export function drive(overseer: Overseer, options: DriveOptions): { started: string[]; steps: number } {
  const problems: string[] = [];
  if (typeof (overseer as Partial<Overseer> | null)?.getNextTask !== 'function') problems.push(`overseer: must be an Overseer, got ${describe(overseer)}`);
  if (options === undefined) problems.push('options: must be given, with the clock the runtime was created with');
  problems.push(
    ...helperOptionProblems(options, ['clock', 'concurrency', 'succeed', 'attemptMs', 'maxSteps'], (o) => [
      ...(typeof (o.clock as Partial<SimulatedClock> | undefined)?.increment === 'function' ? [] : [`options.clock: must be the SimulatedClock the runtime was created with, got ${describe(o.clock)}`]),
      ...wholeAtLeast(1)(o.concurrency, 'options.concurrency'),
      ...(o.succeed === undefined || typeof o.succeed === 'function' ? [] : [`options.succeed: must be a function, got ${describe(o.succeed)}`]),
      ...(o.attemptMs === undefined || (typeof o.attemptMs === 'number' && Number.isFinite(o.attemptMs) && o.attemptMs >= 0) ? [] : [`options.attemptMs: must be a number of milliseconds ≥ 0, got ${describe(o.attemptMs)}`]),
      ...wholeAtLeast(1)(o.maxSteps, 'options.maxSteps'),
    ]),
  );
  if (problems.length) throw new ValidationError('drive', problems);
  const { clock, concurrency = 4, succeed = () => true, attemptMs = 1000, maxSteps = 100_000 } = options;
  const started: string[] = [];
  const running: TaskView[] = [];
  let steps = 0;
  for (; steps < maxSteps; steps++) {
    while (running.length < concurrency) {
      const task = overseer.getNextTask();
      if (!task) break;
      started.push(task.id);
      running.push(task);
    }
    const task = running.shift();
    if (task) {
      clock.increment(attemptMs);
      if (overseer.getTaskStatus(task.id)?.state !== 'running') continue;
      if (succeed(task)) overseer.markComplete(task.id);
      else overseer.markFailed(task.id, { message: 'failed by drive()', retryable: true });
      continue;
    }
    // Nothing runs: move time to the next retry, or stop.
    const next = overseer.getTasks({ state: 'retrying' }).reduce((t, r) => Math.min(t, r.retryAt ?? Infinity), Infinity);
    if (next === Infinity) return { started, steps };
    clock.set(Math.max(clock.now(), next));
  }
  const c = overseer.getCounts();
  if (running.length === 0 && c.ready === 0 && c.running === 0 && c.retrying === 0) return { started, steps };
  throw new Error(
    `drive: stopped after ${maxSteps} steps with work left (${overseer.getTasks({ state: 'retrying' }).length} retrying, ${running.length} running); ` +
      'is options.clock the clock the runtime was created with?',
  );
}

export interface MachinePath<E extends EventObject = EventObject> {
  /** The state the path reaches, as JSON. */
  state: string;
  /** The events that lead there from the initial state. */
  events: E[];
}

/** The shortest path to every state of `machine`, given the events to try (with their payloads). */
export function machinePaths<E extends EventObject>(machine: AnyStateMachine, options: { events: E[]; input?: unknown }): MachinePath<E>[] {
  const problems: string[] = [];
  if (typeof machine !== 'object' || machine === null || typeof (machine as { transition?: unknown }).transition !== 'function') problems.push(`machine: must be a state machine (createMachine, setup().createMachine), got ${describe(machine)}`);
  if (typeof options !== 'object' || options === null || !Array.isArray(options.events)) problems.push(`options.events: must be a list of events to try, got ${describe((options as { events?: unknown } | null)?.events)}`);
  else options.events.forEach((e, i) => void (typeof e?.type !== 'string' && problems.push(`options.events[${i}]: must be an event object with a type, got ${describe(e)}`)));
  if (problems.length) throw new ValidationError('machinePaths', problems);
  const paths = getShortestPaths(machine, {
    events: options.events,
    ...(options.input !== undefined ? { input: options.input } : {}),
    serializeState: (s: { value: unknown }) => JSON.stringify(s.value),
  } as never);
  return paths.map((p) => ({ state: JSON.stringify(p.state.value), events: p.steps.slice(1).map((s) => s.event as E) }));
}
