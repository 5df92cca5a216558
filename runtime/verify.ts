/**
 * Plan verification: what a plan will do, found before anything runs.
 *
 * Two passes. Static checks need no time: cycles, unknown and unreachable dependencies,
 * breakpoint rules that name unknown types or read facts the runtime never gathers (a
 * misspelt `tsk.attempts` is silently `undefined`, so the rule would never fire). Then a
 * dry run drives the real runtime on a simulated clock with stub executors: every attempt
 * takes `durationMs`, fails with probability `failRate` (seeded, so a report can be
 * reproduced), and breakpoints are approved at once so the run goes on. Invariants are
 * checked on every task transition; the first violation comes back with its trace.
 */
import { SimulatedClock } from 'xstate';
import type { TaskState } from '../machines/task.js';
import { DEFAULT_RETRY_POLICY } from './backoff.js';
import { checkRule, DEFAULT_BREAKPOINT_TYPES, factProblems } from './breakpoint-rules.js';
import type { Clock } from './clock.js';
import type { TaskTransitionEvent } from './events.js';
import { findCycle } from './graph.js';
import type { StateCounts } from './options.js';
import { prng } from './random.js';
import { createOverseer } from './overseer.js';
import type { Plan } from './plan.js';
import { ValidationError } from './errors.js';
import { describe, isPlainObject, unknownKeyProblems } from './validate.js';

export interface VerifyOptions {
  seed?: number;
  /** Chance (0..1) that an attempt fails. Default 0. */
  failRate?: number;
  /** Simulated duration of every attempt (ms). Default 1000. */
  durationMs?: number;
  /** Runs with seeds seed, seed+1, … Default 1. */
  runs?: number;
  /** Where the simulated clock starts (epoch ms), so plan deadlines mean what they say. Default: now. */
  startAt?: number;
  /** Loop turns before a run is declared unsettled (a plan that retries forever). Default: 200 + 8 per allowed attempt. */
  maxSteps?: number;
}

export interface RunReport {
  seed: number;
  /** Every attempt started, in order; `at` is ms since the run began. */
  order: { id: string; at: number; attempt: number }[];
  /** Tasks that were retried, and how often. */
  retries: Record<string, number>;
  deadlineMisses: string[];
  breakpoints: { type: string; taskId: string | null; projectId: string; at: number }[];
  counts: StateCounts;
  /** Tasks left open at the end, with why (detectDeadlock's reason, or their block reason). */
  stuck: { id: string; state: TaskState; reason: string }[];
  simulatedMs: number;
  invariantsChecked: number;
  violations: string[];
}

export interface VerifyReport {
  ok: boolean;
  static: string[];
  runs: RunReport[];
  counterexample?: { seed: number; run: number; violation: string; trace: string[] };
}

// ---- static checks ----------------------------------------------------------------

export function staticProblems(plan: Plan): string[] {
  const problems: string[] = [];
  const deps = new Map(plan.tasks.map((t) => [t.id, t.dependencies ?? []]));
  for (const t of plan.tasks) {
    for (const d of t.dependencies ?? []) if (!deps.has(d)) problems.push(`task "${t.id}" depends on unknown task "${d}"`);
  }
  // checkPlan refuses cycles, but a Plan can be built by hand.
  const cycle = findCycle([...deps.keys()], (id) => deps.get(id) ?? []);
  if (cycle) problems.push(`dependency cycle: ${cycle.join(' -> ')}`);
  // A task can never run when something it waits on (transitively) cannot complete.
  const dead = new Set<string>(cycle ?? []);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [id, ds] of deps) {
      if (dead.has(id) || !ds.some((d) => !deps.has(d) || dead.has(d))) continue;
      dead.add(id);
      changed = true;
      const why = ds.find((d) => !deps.has(d) || dead.has(d))!;
      if (deps.has(why)) problems.push(`task "${id}" can never run: its dependency "${why}" can never complete`);
    }
  }
  plan.breakpoints.rules.forEach((rule, i) => {
    const checked = checkRule(rule);
    if (Array.isArray(checked)) return problems.push(...checked.map((p) => `breakpoints.rules[${i}]${p.slice('rule'.length)}`));
    problems.push(...factProblems(checked.compiled.fields, plan.breakpoints.facts, `breakpoints.rules[${i}]`));
  });
  const types = new Set<string>([...DEFAULT_BREAKPOINT_TYPES, ...plan.breakpoints.rules.map((r) => r.type)]);
  plan.breakpoints.disable.forEach((type, i) => {
    if (!types.has(type)) problems.push(`breakpoints.disable[${i}]: unknown breakpoint type "${type}"`);
  });
  return problems;
}

// ---- invariants -------------------------------------------------------------------

/** A task transition as the checker sees it: the runtime's event, with `at` in ms since the run began. */
export type Transition = Omit<TaskTransitionEvent, 'type' | 'reason'>;

export interface ModelTask {
  id: string;
  projectId: string;
  dependencies: readonly string[];
  onDependencyFailure: 'block' | 'cancel' | 'ignore';
  /** Starts allowed: maxRetries + 1, plus the separate quality budget when the task is judged. */
  maxAttempts: number;
}

export interface Model {
  tasks: ModelTask[];
  concurrency: Plan['concurrency'];
}

const TERMINAL: readonly TaskState[] = ['completed', 'failed', 'cancelled'];
/** Enough to see the pattern; the first one and its trace are what matter. */
const MAX_VIOLATIONS = 50;

export function modelOf(plan: Plan): Model {
  const tasks = plan.tasks.map((t): ModelTask => {
    const maxRetries = t.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries;
    const quality = (t.metadata as { quality?: { maxRetries?: number } } | undefined)?.quality;
    const qualityRetries = quality ? (quality.maxRetries ?? maxRetries) : 0;
    return { id: t.id, projectId: t.projectId ?? 'default', dependencies: t.dependencies ?? [], onDependencyFailure: t.onDependencyFailure ?? 'block', maxAttempts: maxRetries + 1 + qualityRetries };
  });
  return { tasks, concurrency: plan.concurrency };
}

/**
 * Checks the invariants on a stream of transitions. It keeps its own copy of every
 * task's state, built from the transitions alone, so it judges the runtime rather than
 * trusting it — and can be fed a fabricated trace.
 */
export class InvariantChecker {
  checked = 0;
  readonly violations: string[] = [];
  readonly trace: string[] = [];
  /** The trace as it was at the first violation. */
  firstTrace: string[] | null = null;
  private readonly tasks: Map<string, ModelTask>;
  private readonly state = new Map<string, TaskState>();
  private readonly starts = new Map<string, number>();

  constructor(private readonly model: Model) {
    this.tasks = new Map(model.tasks.map((t) => [t.id, t]));
  }

  step(t: Transition): void {
    this.trace.push(`+${t.at}ms ${t.taskId}: ${t.from ?? '(new)'} -> ${t.to} (${t.event})`);
    this.state.set(t.taskId, t.to);
    const task = this.tasks.get(t.taskId);
    if (t.to === 'running') {
      const starts = (this.starts.get(t.taskId) ?? 0) + 1;
      this.starts.set(t.taskId, starts);
      this.checked += 2;
      for (const d of task?.dependencies ?? []) {
        const s = this.state.get(d);
        const excused = task!.onDependencyFailure === 'ignore' && (s === 'failed' || s === 'cancelled');
        if (s !== 'completed' && !excused) this.violate(t, `"${t.taskId}" started while its dependency "${d}" was ${s ?? 'unscheduled'}`);
      }
      // Once per task: a runaway retry loop would otherwise repeat it on every start.
      if (task && starts === task.maxAttempts + 1) this.violate(t, `"${t.taskId}" started ${starts} times, more than maxRetries + 1 = ${task.maxAttempts}`);
    }
    // Concurrency can only be exceeded by a start, but checking every transition costs nothing.
    this.checked += 1;
    const running = [...this.state].filter(([, s]) => s === 'running').map(([id]) => this.tasks.get(id)?.projectId ?? 'default');
    const { global, perProject, defaultPerProject } = this.model.concurrency;
    if (running.length > global) this.violate(t, `${running.length} attempts running at once, more than the concurrency ${global}`);
    const limit = perProject[t.projectId] ?? defaultPerProject;
    const inProject = running.filter((p) => p === t.projectId).length;
    if (limit !== null && limit !== undefined && inProject > limit) this.violate(t, `${inProject} attempts of project "${t.projectId}" running, more than its limit ${limit}`);
  }

  /** At the end: every task is terminal, or stuck with a reason. */
  finish(stuckReasons: ReadonlyMap<string, string>): void {
    for (const { id } of this.model.tasks) {
      this.checked += 1;
      const s = this.state.get(id);
      if (s && TERMINAL.includes(s)) continue;
      if (!stuckReasons.get(id)) this.violate(null, `"${id}" ended ${s ?? 'unscheduled'} with no reason why it cannot go on`);
    }
  }

  private violate(t: Transition | null, message: string): void {
    if (this.violations.length >= MAX_VIOLATIONS) return;
    this.violations.push(t ? `at +${t.at}ms: ${message}` : `at the end: ${message}`);
    this.firstTrace ??= [...this.trace];
  }
}

// ---- the dry run ------------------------------------------------------------------

interface Attempt { endAt: number; attempt: number; fail: boolean; timeoutMs: number | null }

function dryRun(plan: Plan, seed: number, o: Required<VerifyOptions>): RunReport & { trace: string[] | null } {
  const sim = new SimulatedClock();
  sim.set(o.startAt);
  // The runtime arms one clock timer for its earliest due time (retry, deadline, breakpoint
  // auto-resolution, slow attempt); knowing it lets the run jump straight to the next event.
  const due = new Map<unknown, number>();
  const clock: Clock = {
    now: () => sim.now(),
    setTimeout: (fn, ms) => {
      const handle: number = sim.setTimeout(() => (due.delete(handle), fn()), ms);
      due.set(handle, sim.now() + ms);
      return handle;
    },
    clearTimeout: (handle) => (due.delete(handle), sim.clearTimeout(handle as number)),
  };
  const violations: string[] = [];
  const overseer = createOverseer({ clock, onError: (error, source) => violations.push(`runtime error in ${source}: ${String(error)}`) });
  const checker = new InvariantChecker(modelOf(plan));
  const rel = (at: number) => at - o.startAt;
  const report: RunReport = { seed, order: [], retries: {}, deadlineMisses: [], breakpoints: [], counts: overseer.getCounts(), stuck: [], simulatedMs: 0, invariantsChecked: 0, violations };
  const misses = new Set<string>();
  overseer.on('task.transition', (e) => {
    checker.step({ taskId: e.taskId, projectId: e.projectId, from: e.from, to: e.to, at: rel(e.at), event: e.event });
    report.simulatedMs = Math.max(report.simulatedMs, rel(e.at));
    if (e.to === 'running') report.order.push({ id: e.taskId, at: rel(e.at), attempt: overseer.getTaskStatus(e.taskId)?.attempts ?? 0 });
  });
  overseer.on('task.deadline_missed', (e) => misses.add(e.taskId));
  overseer.on('breakpoint.triggered', ({ breakpoint: b, at }) => report.breakpoints.push({ type: b.type, taskId: b.taskId, projectId: b.projectId, at: rel(at) }));

  try {
    for (const rule of plan.breakpoints.rules) overseer.addCustomRule(rule);
    for (const type of plan.breakpoints.disable) overseer.disableBreakpointType(type);
    overseer.scheduleTasks(plan.tasks);
  } catch (error) {
    violations.push(`the runtime refused the plan: ${(error as Error).message}`);
  }

  const random = prng(seed);
  const running = new Map<string, Attempt>();
  const { global, perProject, defaultPerProject } = plan.concurrency;
  const refused = new Set<string>();
  const approve = () => {
    // Breakpoints that resolve themselves are left to their timers, as in a real run.
    for (const b of overseer.getPendingBreakpoints()) {
      if (b.autoResolveAt !== null || refused.has(b.id)) continue;
      try { overseer.resolveBreakpoint(b.id, { by: 'verify' }); } catch { refused.add(b.id); } // refused: it stays open
    }
  };
  const live = (id: string, a: Attempt) => {
    const v = overseer.getTaskStatus(id);
    return v !== null && v.state === 'running' && v.attempts === a.attempt;
  };
  const fill = () => {
    while (running.size < global) {
      const busy = (p: string) => [...running.keys()].filter((id) => overseer.getTaskStatus(id)?.projectId === p).length;
      const open = overseer.getProjects().filter((p) => {
        const limit = perProject[p] ?? defaultPerProject;
        return limit === null || limit === undefined || busy(p) < limit;
      });
      const task = open.length ? overseer.getNextTask(open) : null;
      if (!task) return;
      const timeoutMs = (task.metadata as { timeoutMs?: number | null } | null)?.timeoutMs ?? null;
      const timedOut = timeoutMs !== null && timeoutMs < o.durationMs;
      // Drawn for every attempt, timed out or not, so one plan change does not reshuffle the rest.
      const fail = random() < o.failRate;
      running.set(task.id, { endAt: clock.now() + (timedOut ? timeoutMs : o.durationMs), attempt: task.attempts, fail, timeoutMs: timedOut ? timeoutMs : null });
    }
  };

  let step = 0;
  for (; step < o.maxSteps; step++) {
    approve();
    // An attempt whose task moved on (stopped by a breakpoint) no longer holds a slot.
    for (const [id, a] of running) if (!live(id, a)) running.delete(id);
    fill();
    if (running.size === 0 && overseer.getTasks().every((t) => TERMINAL.includes(t.state))) break;
    const next = Math.min(...[...running.values()].map((a) => a.endAt), ...due.values());
    if (!Number.isFinite(next)) break; // nothing running, nothing due: nothing can progress
    sim.set(Math.max(next, clock.now()));
    const ended = [...running].filter(([, a]) => a.endAt <= clock.now()).sort((x, y) => x[1].endAt - y[1].endAt);
    for (const [id, a] of ended) {
      running.delete(id);
      if (!live(id, a)) continue;
      if (a.timeoutMs !== null) overseer.markFailed(id, { message: `timed out after ${a.timeoutMs} ms (simulated)`, kind: 'timeout', retryable: true });
      else if (a.fail) overseer.markFailed(id, { message: 'simulated failure', retryable: true });
      else overseer.markComplete(id);
    }
  }

  const unsettled = step >= o.maxSteps;
  for (const p of overseer.getProjects()) {
    for (const s of overseer.detectDeadlock(p)?.stuck ?? []) report.stuck.push({ id: s.id, state: s.state, reason: s.reason });
  }
  for (const t of overseer.getTasks()) {
    if (t.retries > 0) report.retries[t.id] = t.retries;
    if (t.deadlineMissed) misses.add(t.id);
    if (TERMINAL.includes(t.state) || report.stuck.some((s) => s.id === t.id)) continue;
    if (unsettled) report.stuck.push({ id: t.id, state: t.state, reason: `the dry run did not settle within ${o.maxSteps} steps` });
    else if (t.state === 'blocked' && t.blockedReason) report.stuck.push({ id: t.id, state: t.state, reason: `blocked: ${t.blockedReason.reason}` });
  }
  checker.finish(new Map(report.stuck.map((s) => [s.id, s.reason])));
  report.deadlineMisses = [...misses].sort();
  report.counts = overseer.getCounts();
  report.invariantsChecked = checker.checked;
  violations.push(...checker.violations);
  void overseer.close();
  return { ...report, trace: checker.firstTrace ?? (violations.length ? [...checker.trace] : null) };
}

export function verifyPlan(plan: Plan, options: VerifyOptions = {}): VerifyReport {
  const problems = verifyOptionProblems(options);
  if (problems.length) throw new ValidationError('verifyPlan', problems);
  const o: Required<VerifyOptions> = {
    seed: options.seed ?? 1,
    failRate: options.failRate ?? 0,
    durationMs: options.durationMs ?? 1000,
    runs: options.runs ?? 1,
    startAt: options.startAt ?? Date.now(),
    // Each attempt takes a few turns (start, end, retry timer); a settling plan never needs more.
    maxSteps: options.maxSteps ?? 200 + 8 * modelOf(plan).tasks.reduce((n, t) => n + t.maxAttempts, 0),
  };
  const report: VerifyReport = { ok: true, static: staticProblems(plan), runs: [] };
  for (let i = 0; i < o.runs; i++) {
    const { trace, ...run } = dryRun(plan, o.seed + i, o);
    report.runs.push(run);
    if (!report.counterexample && run.violations.length) {
      report.counterexample = { seed: run.seed, run: i, violation: run.violations[0]!, trace: trace ?? [] };
    }
  }
  report.ok = report.static.length === 0 && report.runs.every((r) => r.violations.length === 0);
  return report;
}

export function formatVerifyReport(report: VerifyReport): string {
  const out = [`plan verification: ${report.ok ? 'ok' : 'PROBLEMS FOUND'}`];
  out.push(report.static.length ? `static checks: ${report.static.length} problem(s)` : 'static checks: no problems');
  for (const p of report.static) out.push(`  - ${p}`);
  report.runs.forEach((r, i) => {
    const counts = Object.entries(r.counts).filter(([k, n]) => k !== 'total' && n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
    out.push(`run ${i + 1} (seed ${r.seed}): ${r.counts.total} tasks (${counts || 'none'}), ${r.simulatedMs} ms simulated, ${r.invariantsChecked} invariant checks, ${r.violations.length} violation(s)`);
    const more = r.order.length > 40 ? ` … and ${r.order.length - 40} more` : '';
    out.push(`  order: ${r.order.slice(0, 40).map((s) => `${s.id}${s.attempt > 1 ? `#${s.attempt}` : ''}@${s.at}ms`).join(' ') || 'nothing started'}${more}`);
    const retries = Object.entries(r.retries);
    if (retries.length) out.push(`  retries: ${retries.map(([id, n]) => `${id} ×${n}`).join(', ')}`);
    if (r.deadlineMisses.length) out.push(`  deadline misses: ${r.deadlineMisses.join(', ')}`);
    const raised = new Map<string, number>();
    for (const b of r.breakpoints) {
      const key = `${b.type} (${b.taskId ? `task ${b.taskId}` : `project ${b.projectId}`})`;
      raised.set(key, (raised.get(key) ?? 0) + 1);
    }
    if (raised.size) {
      out.push(`  breakpoints: ${[...raised].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ')}`);
      // The dry run answers them so that it can go on; a real run stops at each.
      out.push(`  (the dry run approved each (continue) to go on: a real run stops there for a person, exit 3 without one)`);
    }
    for (const s of r.stuck) out.push(`  stuck: ${s.id} (${s.state}): ${s.reason}`);
    for (const v of r.violations) out.push(`  VIOLATION ${v}`);
  });
  const c = report.counterexample;
  if (c) {
    out.push(`counterexample: run ${c.run + 1}, seed ${c.seed}: ${c.violation}`);
    for (const line of c.trace.slice(-20)) out.push(`  ${line}`);
  }
  return out.join('\n');
}

function verifyOptionProblems(options: unknown): string[] {
  if (!isPlainObject(options)) return [`options: must be an object, got ${describe(options)}`];
  const problems = unknownKeyProblems(options, ['seed', 'failRate', 'durationMs', 'runs', 'startAt', 'maxSteps'], 'options');
  const check = (key: string, ok: (v: number) => boolean, what: string) => {
    const v = options[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && ok(v))) problems.push(`options.${key}: must be ${what}, got ${describe(v)}`);
  };
  check('seed', (v) => Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff, 'a whole number from 0 to 4294967295');
  check('failRate', (v) => v >= 0 && v <= 1, 'a number from 0 to 1');
  check('durationMs', (v) => v >= 0, 'a number of milliseconds ≥ 0');
  check('runs', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1');
  check('startAt', () => true, 'a time in epoch milliseconds');
  check('maxSteps', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1');
  return problems;
}
