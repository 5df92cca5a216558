/**
 * verifyPlan: static checks of a plan, and a seeded dry run of it on the real runtime
 * with a simulated clock, checked against the scheduling invariants.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkPlan, loadPlan, PlanError, type Plan } from '../runtime/plan.js';
import { isKnownFact } from '../runtime/breakpoint-rules.js';
import { formatVerifyReport, InvariantChecker, staticProblems, verifyPlan, type Model, type Transition } from '../runtime/verify.js';

const buildPlan = () => loadPlan(fileURLToPath(new URL('../examples/build.plan.yaml', import.meta.url)));
const plan = (raw: Record<string, unknown>): Plan => checkPlan(raw, 'test.plan.yaml', '/tmp');
const START = Date.UTC(2030, 0, 1);

describe('verifyPlan on the example plan', () => {
  it('is ok with no failures and predicts the dependency order', () => {
    const report = verifyPlan(buildPlan());
    expect(report.ok).toBe(true);
    expect(report.static).toEqual([]);
    expect(report.counterexample).toBeUndefined();
    const [run] = report.runs;
    expect(run!.seed).toBe(1);
    expect(run!.violations).toEqual([]);
    expect(run!.invariantsChecked).toBeGreaterThan(0);
    // Concurrency 3, 1 s per attempt: clean; then build and lint; then unit-tests and integration; then package.
    expect(run!.order).toEqual([
      { id: 'clean', at: 0, attempt: 1 },
      { id: 'build', at: 1000, attempt: 1 },
      { id: 'lint', at: 1000, attempt: 1 },
      { id: 'unit-tests', at: 2000, attempt: 1 },
      { id: 'integration', at: 2000, attempt: 1 },
      { id: 'package', at: 3000, attempt: 1 },
    ]);
    expect(run!.simulatedMs).toBe(4000);
    expect(run!.counts).toMatchObject({ total: 6, completed: 6 });
    expect(run!.retries).toEqual({});
    expect(run!.deadlineMisses).toEqual([]);
    expect(run!.breakpoints).toEqual([]);
    expect(run!.stuck).toEqual([]);
  });

  it('is deterministic for a seed, shows retries, and gives each run its own seed', () => {
    const a = verifyPlan(buildPlan(), { failRate: 0.3, seed: 7, runs: 3 });
    const b = verifyPlan(buildPlan(), { failRate: 0.3, seed: 7, runs: 3 });
    expect(a).toEqual(b);
    expect(a.runs.map((r) => r.seed)).toEqual([7, 8, 9]);
    expect(a.runs.some((r) => Object.keys(r.retries).length > 0)).toBe(true);
    // Retries come due after the plan's 200 ms, then 400 ms.
    const retried = a.runs[0]!.order.filter((s) => s.id === 'clean');
    expect(retried.map((s) => s.at)).toEqual([0, 1200, 2600]);
    expect(a.ok).toBe(true);
    const other = verifyPlan(buildPlan(), { failRate: 0.3, seed: 8 });
    expect(other.runs[0]).toEqual(a.runs[1]);
  });

  it('reports the tasks a failure for good leaves stuck, with why', () => {
    const run = verifyPlan(buildPlan(), { failRate: 1 }).runs[0]!;
    expect(run.counts).toMatchObject({ failed: 1, completed: 0 });
    expect(run.retries).toEqual({ clean: 2 });
    expect(run.stuck.map((s) => s.id).sort()).toEqual(['build', 'integration', 'lint', 'package', 'unit-tests']);
    expect(run.stuck.find((s) => s.id === 'lint')!.reason).toBe('dependency "clean" failed');
    expect(run.violations).toEqual([]);
  });
});

describe('static checks', () => {
  it('names each field a rule reads that the runtime never provides, with the rule index and the nearest fact', () => {
    const rules = [
      { type: 'slow_again', condition: 'task.attempts >= 2 && task.metadata.owner == "ops"' },
      { type: 'typo', condition: 'tsk.attempts > 1 || confidance < 0.5 || task.attemps >= 3' },
      { type: 'made_up', condition: 'weather.today == "rain"' },
    ];
    const expected = [
      'breakpoints.rules[1].condition reads "confidance", which the runtime never provides, so the rule would never fire; did you mean "confidence"?',
      'breakpoints.rules[1].condition reads "task.attemps", which the runtime never provides, so the rule would never fire; did you mean "task.attempts"?',
      'breakpoints.rules[1].condition reads "tsk.attempts", which the runtime never provides, so the rule would never fire; did you mean "task.attempts"?',
      expect.stringMatching(/^breakpoints\.rules\[2\]\.condition reads "weather\.today", which the runtime never provides, so the rule would never fire \(a plan's rules see event, project\.\*, /),
    ];
    // A plan file with such a rule is refused (validate, run and verify all load it this way), every problem named.
    let refused: unknown;
    try {
      plan({ breakpoints: { rules }, tasks: [{ id: 'a', command: 'true' }] });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(PlanError);
    expect((refused as PlanError).problems).toEqual(expected);
    // A plan built in code is checked by verifyPlan's static checks.
    const built: Plan = { ...plan({ tasks: [{ id: 'a', command: 'true' }] }), breakpoints: { rules, disable: [] } };
    const report = verifyPlan(built);
    expect(report.static).toEqual(expected);
    expect(report.ok).toBe(false);
    expect(report.runs[0]!.violations).toEqual([]); // the run itself is fine
    expect(isKnownFact('changes.protected')).toBe(true);
    expect(isKnownFact('task')).toBe(true);
    expect(isKnownFact('task.metadata.anything.deep')).toBe(true);
    expect(isKnownFact('project.name')).toBe(false);
  });

  it("reads a fact's length as the fact, and the facts a plan declares its own code supplies", () => {
    const rules = [
      { type: 'many_failing', condition: 'tests.failed.length > 2 && error.message.length > 0' },
      { type: 'prod_deploy', condition: 'deploy.env == "prod" && deploy.region.name == "eu"' },
      { type: 'typo', condition: 'deploy.evn == "prod"' },
    ];
    let refused: unknown;
    try {
      plan({ breakpoints: { rules, facts: ['deploy.env', 'deploy.region'] }, tasks: [{ id: 'a', command: 'true' }] });
    } catch (error) {
      refused = error;
    }
    expect((refused as PlanError).problems).toEqual(['breakpoints.rules[2].condition reads "deploy.evn", which the runtime never provides, so the rule would never fire; did you mean "deploy.env"?']);
    const ok = plan({ breakpoints: { rules: rules.slice(0, 2), facts: ['deploy.env', 'deploy.region'] }, tasks: [{ id: 'a', command: 'true' }] });
    expect(ok.breakpoints.facts).toEqual(['deploy.env', 'deploy.region']);
    expect(staticProblems(ok)).toEqual([]);
  });

  it('finds unknown dependencies, cycles, unreachable tasks and unknown disabled types in a hand-built plan', () => {
    const base = plan({ tasks: [{ id: 'a', command: 'true' }] });
    const broken: Plan = {
      ...base,
      tasks: [
        { id: 'a', dependencies: ['ghost'] },
        { id: 'b', dependencies: ['a'] },
        { id: 'x', dependencies: ['y'] },
        { id: 'y', dependencies: ['x'] },
        { id: 'z', dependencies: ['y'] },
        { id: 'fine' },
      ],
      breakpoints: { rules: [], disable: ['milestone_completion', 'milestone_done'] },
    };
    expect(staticProblems(broken)).toEqual([
      'task "a" depends on unknown task "ghost"',
      'dependency cycle: x -> y -> x',
      'task "b" can never run: its dependency "a" can never complete',
      'task "z" can never run: its dependency "y" can never complete',
      'breakpoints.disable[1]: unknown breakpoint type "milestone_done"',
    ]);
    const report = verifyPlan(broken);
    expect(report.ok).toBe(false);
    expect(report.runs[0]!.violations[0]).toMatch(/^the runtime refused the plan/);
  });

  it('reports nothing for a sound plan', () => {
    expect(staticProblems(buildPlan())).toEqual([]);
  });
});

describe('the dry run', () => {
  it('records breakpoints, approves them, and predicts deadline misses and timeouts', () => {
    const p = plan({
      defaults: { retries: 1, retryDelay: '100ms' },
      tasks: [
        { id: 'design', command: 'true', milestone: true },
        { id: 'build', command: 'true', dependsOn: ['design'], decision: 'architecture', deadline: new Date(START + 1500).toISOString() },
        { id: 'slow', command: 'true', timeout: '300ms' },
      ],
    });
    const report = verifyPlan(p, { startAt: START });
    const run = report.runs[0]!;
    expect(run.breakpoints.map((b) => [b.type, b.taskId, b.at])).toEqual([
      ['milestone_completion', null, 1000],
      ['architecture_decision', null, 2000],
    ]);
    expect(run.deadlineMisses).toEqual(['build']); // it finishes at 2 s, its deadline is 1.5 s
    // A 300 ms timeout under a 1 s attempt: it times out, is retried once, then fails.
    expect(run.order.filter((s) => s.id === 'slow').map((s) => s.at)).toEqual([0, 400]);
    expect(run.retries).toEqual({ slow: 1 });
    expect(run.counts).toMatchObject({ completed: 2, failed: 1 });
    expect(run.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('keeps to the per-project concurrency', () => {
    const p = plan({
      concurrency: 4,
      projects: [{ id: 'solo', concurrency: 1, tasks: [{ id: 'a', command: 'true' }, { id: 'b', command: 'true' }, { id: 'c', command: 'true' }] }],
    });
    const run = verifyPlan(p, { durationMs: 50 }).runs[0]!;
    expect(run.order.map((s) => s.at)).toEqual([0, 50, 100]);
    expect(run.violations).toEqual([]);
  });

  it('reports a counterexample: a time threshold shorter than the work makes attempts exceed maxRetries + 1 (the dry run approves each escalation)', () => {
    const p = plan({ defaults: { retries: 1 }, tasks: [{ id: 'spin', command: 'true', timeThreshold: '500ms' }] });
    const report = verifyPlan(p, { seed: 5, runs: 2 });
    expect(report.ok).toBe(false);
    const c = report.counterexample!;
    expect(c).toMatchObject({ seed: 5, run: 0 });
    expect(c.violation).toBe('at +1000ms: "spin" started 3 times, more than maxRetries + 1 = 2');
    expect(c.trace.at(-1)).toBe('+1000ms spin: ready -> running (START)');
    expect(report.runs[0]!.stuck[0]).toMatchObject({ id: 'spin', reason: expect.stringMatching(/did not settle/) });
    expect(formatVerifyReport(report)).toContain('counterexample: run 1, seed 5');
  });
});

describe('InvariantChecker on fabricated traces', () => {
  const model: Model = {
    tasks: [
      { id: 'a', projectId: 'p', dependencies: [], onDependencyFailure: 'block', maxAttempts: 1 },
      { id: 'b', projectId: 'p', dependencies: ['a'], onDependencyFailure: 'block', maxAttempts: 2 },
      { id: 'c', projectId: 'p', dependencies: ['a'], onDependencyFailure: 'ignore', maxAttempts: 1 },
    ],
    concurrency: { global: 1, perProject: {}, defaultPerProject: null },
  };
  const t = (taskId: string, from: Transition['from'], to: Transition['to'], at = 0): Transition => ({ taskId, projectId: 'p', from, to, at, event: 'X' });

  it('accepts a correct trace', () => {
    const checker = new InvariantChecker(model);
    for (const step of [t('a', null, 'ready'), t('b', null, 'pending'), t('c', null, 'pending'), t('a', 'ready', 'running'), t('a', 'running', 'completed', 5),
      t('b', 'pending', 'ready', 5), t('b', 'ready', 'running', 5), t('b', 'running', 'completed', 9), t('c', 'pending', 'ready', 9), t('c', 'ready', 'running', 9), t('c', 'running', 'completed', 12)]) {
      checker.step(step);
    }
    checker.finish(new Map());
    expect(checker.violations).toEqual([]);
    expect(checker.checked).toBe(11 + 3 * 2 + 3);
  });

  it('flags two attempts under concurrency 1, a start before its dependency, and keeps the trace so far', () => {
    const checker = new InvariantChecker(model);
    checker.step(t('a', null, 'running'));
    checker.step(t('b', null, 'running', 3));
    expect(checker.violations).toEqual([
      'at +3ms: "b" started while its dependency "a" was running',
      'at +3ms: 2 attempts running at once, more than the concurrency 1',
    ]);
    expect(checker.firstTrace).toEqual(['+0ms a: (new) -> running (X)', '+3ms b: (new) -> running (X)']);
  });

  it('excuses a failed dependency under the ignore policy, flags extra attempts, and open tasks without a reason', () => {
    const checker = new InvariantChecker(model);
    checker.step(t('a', null, 'running'));
    checker.step(t('a', 'running', 'failed'));
    checker.step(t('c', null, 'running')); // ignore: may run after a failed dependency
    checker.step(t('c', 'running', 'retrying'));
    checker.step(t('c', 'retrying', 'running'));
    checker.step(t('b', null, 'blocked'));
    checker.finish(new Map([['c', 'still going']]));
    expect(checker.violations).toEqual(['at +0ms: "c" started 2 times, more than maxRetries + 1 = 1', 'at the end: "b" ended blocked with no reason why it cannot go on']);
  });
});

describe('formatVerifyReport', () => {
  it('summarises the static problems and every run', () => {
    const text = formatVerifyReport(verifyPlan(buildPlan(), { failRate: 0.3, seed: 7 }));
    expect(text).toContain('plan verification: ok');
    expect(text).toContain('static checks: no problems');
    expect(text).toContain('run 1 (seed 7): 6 tasks (6 completed)');
    expect(text).toContain('order: clean@0ms clean#2@1200ms');
    expect(text).toContain('retries: clean ×2');
  });

  it('says that the breakpoints it predicts were approved to go on (a real run stops there)', () => {
    const p = plan({ tasks: [{ id: 'design', command: 'true', milestone: true }, { id: 'build', command: 'true', dependsOn: ['design'] }] });
    const text = formatVerifyReport(verifyPlan(p));
    expect(text).toContain('breakpoints: milestone_completion (project default)');
    expect(text).toContain('(the dry run approved each (continue) to go on: a real run stops there for a person, exit 3 without one)');
  });
});
