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
import type { Overseer } from './overseer.js';
import type { TaskSpec } from './validate.js';
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

/** Valid task batches: ids t0…tn, priorities 1..10, dependencies only on earlier tasks (a DAG). */
export function taskSpecs(options: TaskSpecsOptions = {}): fc.Arbitrary<TaskSpec[]> {
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
  /** A safety stop (default 100,000 steps). */
  maxSteps?: number;
}

/** Runs the runtime until nothing more can happen; returns the tasks in the order they were started. */
export function drive(overseer: Overseer, options: DriveOptions): { started: string[]; steps: number } {
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
    if (next === Infinity) break;
    clock.set(Math.max(clock.now(), next));
  }
  return { started, steps };
}

export interface MachinePath<E extends EventObject = EventObject> {
  /** The state the path reaches, as JSON. */
  state: string;
  /** The events that lead there from the initial state. */
  events: E[];
}

/** The shortest path to every state of `machine`, given the events to try (with their payloads). */
export function machinePaths<E extends EventObject>(machine: AnyStateMachine, options: { events: E[]; input?: unknown }): MachinePath<E>[] {
  const paths = getShortestPaths(machine, {
    events: options.events,
    ...(options.input !== undefined ? { input: options.input } : {}),
    serializeState: (s: { value: unknown }) => JSON.stringify(s.value),
  } as never);
  return paths.map((p) => ({ state: JSON.stringify(p.state.value), events: p.steps.slice(1).map((s) => s.event as E) }));
}
