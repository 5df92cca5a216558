/**
 * Breakpoints from the command line, end to end: each test runs `overseer` from source as a
 * child process (`node --import tsx runtime/cli.ts …`) with its own temporary store, as a
 * person would — a run that stops for a person (exit 3), `breakpoints`, `approve` / `reject`
 * (directly on the store, or through the inbox of a run that holds it) and `resume`.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOverseer, jsonFileStore } from '../runtime/index.js';
import { storeStatus } from '../runtime/status.js';
import { cleanUpClis, ROOT, runCli as overseer, startCli, tempDir, until } from './helpers/cli.js';

const PLANS = join(ROOT, 'test/fixtures/bp');

// A hung run must not outlive its test.
afterEach(() => cleanUpClis(0));

/** A started CLI: its output so far, and its exit code once it ends. */
function start(args: string[]) {
  const run = startCli(args);
  return { stdout: run.stdout, stderr: run.stderr, exited: run.exited.then((e) => e.code) };
}

const tempStore = () => join(tempDir('overseer-cli-bp-'), 'state.json');

// What the store says afterwards, read in-process (read-only, like `overseer status`): fewer
// child processes keep these tests well inside their timeout on a busy machine.
const status = (store: string) => storeStatus(store);
const allBreakpoints = (store: string) => storeStatus(store).breakpoints;

/** Runs the milestone plan until it stops for a person: design completed, the project paused. */
async function runToMilestone(store: string) {
  const run = await overseer('run', join(PLANS, 'milestone.plan.yaml'), '--store', store, '--wait', '0s');
  expect(run.code, run.stderr).toBe(3);
  return run;
}

// Each test spawns several CLI processes (~1 s each): allow more than the default 30 s.
describe('a milestone stops the run for a person', { timeout: 60_000 }, () => {
  it('run exits 3 and shows the breakpoint; breakpoints lists it; approve exits 0; resume completes the plan', async () => {
    const store = tempStore();
    const run = await runToMilestone(store);
    expect(run.stdout).toContain('breakpoint bp-1 milestone_completion pauses project default');
    // The commands name the store they answer in (it is not the default one).
    expect(run.stdout).toContain(`overseer approve bp-1 --store ${store}`);

    // A resumed run did not see the breakpoint raised: its summary names it, with the commands.
    const stillWaiting = await overseer('resume', '--store', store, '--wait', '0s');
    expect(stillWaiting.code).toBe(3);
    expect(stillWaiting.stdout).toContain(`⏸ bp-1 milestone_completion holds project default: a milestone is done`);
    expect(stillWaiting.stdout).toContain(`overseer approve bp-1 --store ${store} / overseer reject bp-1 --store ${store}`);
    const asJson = await overseer('resume', '--store', store, '--wait', '0s', '--json');
    expect(JSON.parse(asJson.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'run.finished', exitCode: 3, breakpoints: [{ id: 'bp-1', type: 'milestone_completion', state: 'awaiting', taskId: null }] });

    const listed = await overseer('breakpoints', '--store', store);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^bp-1\s+awaiting\s+medium\s+milestone_completion\s+project default: a milestone is done/m);
    expect(status(store).counts).toMatchObject({ completed: 1, ready: 1, total: 2 });

    const approve = await overseer('approve', 'bp-1', '--note', 'ok', '--store', store);
    // No run holds the store: it says how the work goes on.
    // No run holds the store: it says how the work goes on.
    expect(approve).toMatchObject({ code: 0, stdout: `bp-1 is resolved: continue\n(no run holds ${store}: \`overseer resume --store ${store}\` goes on with it)\n` });
    expect((await overseer('breakpoints', '--store', store)).stdout).toBe('no pending breakpoints\n');

    const resume = await overseer('resume', '--store', store, '--wait', '0s');
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stdout).toContain('all tasks completed');
    expect(status(store).counts).toMatchObject({ completed: 2, total: 2 });
    expect(allBreakpoints(store)[0]).toMatchObject({ id: 'bp-1', state: 'resolved', resolution: { action: 'continue', note: 'ok', auto: false } });
  });

  it('breakpoints and status say why a breakpoint was raised: the confidence reported, the reason given', async () => {
    const store = tempStore();
    const o = createOverseer({ store: jsonFileStore(store) });
    o.scheduleTasks([{ id: 'unsure', priority: 9 }, { id: 'gate' }]);
    o.getNextTask();
    o.markComplete('unsure', { response: 'maybe', confidence: 0.4 });
    o.triggerBreakpoint('architecture_decision', { taskId: 'gate', reason: 'two schemas fit:\nmore detail' });
    await o.close();
    const listed = await overseer('breakpoints', '--store', store);
    expect(listed.stdout).toMatch(/^bp-1 .*confidence_too_low .*\n    why: confidence 0\.4\n/m);
    expect(listed.stdout).toMatch(/^bp-2 .*architecture_decision .*\n    why: two schemas fit:\n/m);
    const shown = await overseer('status', '--store', store);
    expect(shown.stdout).toContain('(two schemas fit:)');
  });

  it('status <task> names the breakpoint that holds it, how to answer, and the result it holds', async () => {
    const store = tempStore();
    const o = createOverseer({ store: jsonFileStore(store) });
    o.scheduleTask({ id: 'guess' });
    o.getNextTask();
    expect(o.holdIfUnsure('guess', { response: 'the answer is 42', confidence: 0.3 })).toBe(true);
    await o.close();
    const shown = await overseer('status', 'guess', '--store', store);
    expect(shown.stdout).toContain('held by breakpoint bp-1 (confidence_too_low)');
    expect(shown.stdout).toMatch(/— the result reports a confidence of 0\.3\n/); // said once, not again as "; confidence 0.3"
    expect(shown.stdout).toContain(`answer: overseer approve bp-1 --store ${store} / overseer reject bp-1 --store ${store}`);
    expect(shown.stdout).toMatch(/held result \(approve accepts it; reject --action retry runs the task again\):\n.*"response": "the answer is 42"/s);
    const json = JSON.parse((await overseer('status', 'guess', '--store', store, '--json')).stdout) as { heldBy: unknown };
    expect(json.heldBy).toMatchObject({ id: 'bp-1', type: 'confidence_too_low', heldResult: { response: 'the answer is 42' } });
  });

  it('approve from a second process while `run --wait 60s` holds the store: the run goes on and exits 0', async () => {
    const store = tempStore();
    const run = start(['run', join(PLANS, 'milestone.plan.yaml'), '--store', store, '--wait', '60s']);
    await until('the run to stop at the milestone', () => run.stdout().includes('breakpoint bp-1'));
    // The run holds the store's lock, so this goes through its inbox (and is answered after a flush).
    const approve = await overseer('approve', 'bp-1', '--note', 'via the inbox', '--by', 'carol', '--store', store);
    expect(approve).toMatchObject({ code: 0, stdout: 'bp-1 is resolved: continue\n' });
    const unknown = await overseer('approve', 'bp-9', '--store', store);
    expect(unknown.code, unknown.stderr).toBe(2); // bad input, as when no run holds the store
    expect(await run.exited, run.stderr()).toBe(0);
    // The run process itself applied it: its own report shows the resolution.
    expect(run.stdout()).toContain('breakpoint bp-1 resolved: continue by carol — via the inbox');
    expect(run.stdout()).toContain('all tasks completed');
    const [bp] = allBreakpoints(store);
    expect(bp).toMatchObject({ state: 'resolved', resolution: { action: 'continue', by: 'carol', note: 'via the inbox', auto: false } });
    expect(bp!.audit.at(-1)).toMatchObject({ who: 'carol', what: 'approved: continue', note: 'via the inbox' });
  });

  it('reject of a project breakpoint cancels the project\'s open tasks and lifts the pause; resume exits 1', async () => {
    const store = tempStore();
    await runToMilestone(store);
    // A project-scope rejection (default action cancel) cancels every open task of the project
    // (breakpoint-wiring releaseProject), then resumes it: nothing is left to run.
    const reject = await overseer('reject', 'bp-1', '--note', 'wrong design', '--by', 'bob', '--store', store);
    expect(reject).toMatchObject({ code: 0, stdout: 'bp-1 is rejected: cancel\n' });
    const s = status(store);
    expect(s.counts).toMatchObject({ completed: 1, cancelled: 1, total: 2 });
    expect(s.paused).toEqual({ all: false, projects: [] });
    expect(allBreakpoints(store)[0]).toMatchObject({ state: 'rejected', resolution: { action: 'cancel', by: 'bob', note: 'wrong design' } });
    const resume = await overseer('resume', '--store', store, '--wait', '0');
    expect(resume.code).toBe(1);
    expect(resume.stdout).toContain('1 cancelled');
  });

  it('approving an unknown breakpoint exits 2; approving twice exits 1 naming the first resolution', async () => {
    const store = tempStore();
    await runToMilestone(store);
    const unknown = await overseer('approve', 'bp-9', '--store', store);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown breakpoint "bp-9"');
    expect((await overseer('approve', 'bp-1', '--by', 'alice', '--store', store)).code).toBe(0);
    const again = await overseer('reject', 'bp-1', '--by', 'bob', '--store', store);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/breakpoint "bp-1" is already resolved \(continue by alice at .+\); it can be resolved only once/);
    // Nothing changed: still approved by alice.
    expect(allBreakpoints(store)[0]).toMatchObject({ state: 'resolved', resolution: { by: 'alice' } });
  });

  it('a bad --action is bad input (exit 2) and changes nothing', async () => {
    const store = tempStore();
    await runToMilestone(store);
    const bad = await overseer('approve', 'bp-1', '--action', 'later', '--store', store);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--action must be continue, retry, skip or cancel');
    expect(allBreakpoints(store)[0]?.state).toBe('awaiting');
  });
});

describe('breakpoint rules in plans', { timeout: 60_000 }, () => {
  it('a plan with its own rule validates, and a run stores the rule and the switched-off type', async () => {
    const plan = join(PLANS, 'rules.plan.yaml');
    expect(await overseer('validate', plan)).toMatchObject({ code: 0, stdout: `${plan}: valid, 1 task in 1 project\n` });
    const store = tempStore();
    expect((await overseer('run', plan, '--store', store, '--wait', '0s')).code).toBe(0);
    const o = createOverseer({ store: jsonFileStore(store) });
    try {
      const rules = o.listBreakpointRules();
      expect(rules.find((r) => r.type === 'too_many_attempts')).toMatchObject({ condition: 'task.attempts >= 2', priority: 'high', enabled: true });
      expect(rules.find((r) => r.type === 'conflicting_solutions')?.enabled).toBe(false);
    } finally {
      await o.close();
    }
  });

  it('a rule reaching for `constructor` makes validate exit 2, naming breakpoints.rules[0].condition', async () => {
    const result = await overseer('validate', join(PLANS, 'bad-rule.plan.yaml'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('breakpoints.rules[0].condition:');
    expect(result.stderr).toContain('"constructor"');
    expect(result.stdout).toBe('');
  });
});
