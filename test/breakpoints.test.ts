/**
 * Breakpoints through the public API (`createOverseer`): rules, what a breakpoint pauses,
 * what each resolution does, the types the runtime raises by itself, notifications,
 * stats/history/audit, and restarts with a file store. Time is a SimulatedClock: nothing
 * sleeps, and every "later" is a `clock.increment`.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { BreakpointError, createOverseer, jsonFileStore, memoryStore, ValidationError, type Overseer, type OverseerOptions, type Store } from '../runtime/index.js';
import type { BreakpointNotification } from '../runtime/breakpoints.js';

const T0 = 1_700_000_000_000;
const opened: Overseer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function start(options: Omit<OverseerOptions, 'clock'> = {}, at = T0) {
  const clock = new SimulatedClock();
  clock.set(at);
  const errors: [unknown, string][] = [];
  const o = createOverseer({ clock, onError: (e, source) => errors.push([e, source]), ...options });
  opened.push(o);
  return { clock, o, errors };
}
const tempStore = () => {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-bp-'));
  dirs.push(dir);
  return join(dir, 'state.json');
};
const states = (o: Overseer) => o.getTasks().map((t) => `${t.id}:${t.state}`);
const problemsOf = (fn: () => unknown): readonly string[] => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).problems;
  }
  throw new Error('expected a ValidationError');
};

describe('rules', () => {
  it('the 8 default types exist with their priorities', () => {
    const { o } = start();
    const priorities = Object.fromEntries(o.listBreakpointRules().map((r) => [r.type, r.priority]));
    expect(priorities).toEqual({
      architecture_decision: 'high', breaking_test_failure: 'high', rate_limit_hit: 'high', confidence_too_low: 'high', consecutive_failures: 'high',
      conflicting_solutions: 'medium', milestone_completion: 'medium', time_threshold_exceeded: 'medium',
    });
  });

  it('evaluateBreakpointConditions returns the firing rules, most urgent first; unevaluable rules do not fire', () => {
    const { o } = start();
    o.addCustomRule({ type: 'big_change', priority: 'low', condition: 'changes.files > 10' });
    const facts = {
      event: 'task.completed', confidence: 0.5, validation: { disagreement: 0.5 }, tests: { newlyFailingCount: 1 }, changes: { files: 11 },
      error: { kind: 'rate_limit' }, project: { consecutiveFailures: 3 }, task: { decision: 'architecture', milestone: true },
    };
    expect(o.evaluateBreakpointConditions(facts).map((r) => `${r.priority}:${r.type}`)).toEqual([
      'high:architecture_decision', 'high:breaking_test_failure', 'high:rate_limit_hit', 'high:confidence_too_low', 'high:consecutive_failures',
      'medium:conflicting_solutions', 'medium:milestone_completion', 'low:big_change',
    ]);
    // `"high" < 0.6` is a type error: that rule cannot be evaluated, so it does not fire.
    expect(o.evaluateBreakpointConditions({ confidence: 'high' })).toEqual([]);
    expect(o.evaluateBreakpointConditions({ confidence: 0.9 })).toEqual([]);
    // Facts that throw when read (a proxy): no rule can be evaluated, and the call does not throw.
    const hostile = new Proxy({ event: 'task.completed', confidence: 0.1 }, { get: () => { throw new Error('no'); } });
    expect(o.evaluateBreakpointConditions(hostile)).toEqual([]);
  });

  it('a rule added after rules were evaluated fires; a rule about one event is not asked about others', () => {
    const { o } = start();
    expect(o.evaluateBreakpointConditions({ event: 'task.failed', attempts: 5 })).toEqual([]);
    o.addCustomRule({ type: 'stubborn', priority: 'low', condition: '(event == "task.failed" || event == "task.slow") && attempts > 3' });
    expect(o.evaluateBreakpointConditions({ event: 'task.failed', attempts: 5 }).map((r) => r.type)).toEqual(['stubborn']);
    expect(o.evaluateBreakpointConditions({ event: 'task.slow', attempts: 5 }).map((r) => r.type)).toEqual(['stubborn']);
    expect(o.evaluateBreakpointConditions({ event: 'task.completed', attempts: 5 })).toEqual([]);
    // Events that are not strings are events too; a getter is never run, and reads as absent.
    o.addCustomRule({ type: 'numbered', priority: 'low', condition: 'event == 1 || event == null' });
    expect(o.evaluateBreakpointConditions({ event: 1 }).map((r) => r.type)).toEqual(['numbered']);
    expect(o.evaluateBreakpointConditions({ event: null }).map((r) => r.type)).toEqual(['numbered']);
    let ran = false;
    const sly = Object.defineProperty({ attempts: 5 }, 'event', { enumerable: true, get: () => ((ran = true), 'task.failed') });
    expect(o.evaluateBreakpointConditions(sly)).toEqual([]);
    expect(ran).toBe(false);
  });

  it('addCustomRule names each problem and changes nothing', () => {
    const { o } = start();
    const before = o.listBreakpointRules();
    expect(problemsOf(() => o.addCustomRule({ type: 'x', condition: 'confidence <' }))).toEqual([expect.stringMatching(/^rule\.condition: /)]);
    expect(problemsOf(() => o.addCustomRule({ type: 'x', condition: 'a > 1', severity: 'high' } as never))).toEqual([expect.stringMatching(/^rule\.severity: unknown field/)]);
    expect(problemsOf(() => o.addCustomRule({ type: 'x', condition: 'a > 1', priority: 'urgent' as never }))).toEqual([expect.stringMatching(/^rule\.priority: must be one of high, medium, low/)]);
    expect(problemsOf(() => o.addCustomRule({ type: 'x', condition: 'constructor.name' }))).toEqual([expect.stringMatching(/^rule\.condition: .*"constructor"/)]);
    // Several problems at once are all named.
    expect(problemsOf(() => o.addCustomRule({ type: 'Bad Type', condition: 'task.constructor', priority: 'urgent' as never }))).toHaveLength(3);
    expect(o.listBreakpointRules()).toEqual(before);
    expect(o.addCustomRule({ type: 'too_many_attempts', condition: 'task.attempts >= 2', priority: 'high' })).toMatchObject({ scope: 'task', notify: 'immediate', enabled: true });
  });

  it('a disabled type neither fires nor notifies; enabling restores it; unknown types are refused', () => {
    const { o } = start();
    o.disableBreakpointType('confidence_too_low');
    expect(o.evaluateBreakpointConditions({ confidence: 0.1 })).toEqual([]);
    expect(o.listBreakpointRules().find((r) => r.type === 'confidence_too_low')?.enabled).toBe(false);
    expect(o.shouldNotify('confidence_too_low', 'high')).toBe(false);
    o.enableBreakpointType('confidence_too_low');
    expect(o.evaluateBreakpointConditions({ confidence: 0.1 }).map((r) => r.type)).toEqual(['confidence_too_low']);
    expect(o.shouldNotify('confidence_too_low', 'high')).toBe(true);
    expect(problemsOf(() => o.disableBreakpointType('no_such_type'))).toEqual([expect.stringContaining('"no_such_type"')]);
  });

  it('an unanswered breakpoint of a rule with expiresAfterMs expires and cancels its task', () => {
    const { o, clock } = start();
    o.addCustomRule({ type: 'needs_answer', condition: 'x == 1', expiresAfterMs: 1_000 });
    o.scheduleTask({ id: 't' });
    const bp = o.triggerBreakpoint('needs_answer', { taskId: 't' });
    clock.increment(999);
    expect(o.getBreakpoint(bp.id)?.state).toBe('awaiting');
    clock.increment(1);
    expect(o.getBreakpoint(bp.id)?.state).toBe('expired');
    expect(o.getTaskStatus('t')?.state).toBe('cancelled');
  });
});

describe('pausing and resolving', () => {
  it('a task breakpoint blocks the task (getNextTask skips it); a project breakpoint pauses the project', () => {
    const { o } = start();
    o.scheduleTasks([{ id: 'a', priority: 9 }, { id: 'b' }, { id: 'q1', projectId: 'q' }]);
    const bp = o.triggerBreakpoint('confidence_too_low', { taskId: 'a', confidence: 0.2 });
    expect(o.getTaskStatus('a')).toMatchObject({ state: 'blocked', blockedReason: { reason: 'breakpoint', breakpoint: bp.id } });
    expect(o.getNextTask()?.id).toBe('b');
    const pbp = o.triggerBreakpoint('milestone_completion', { projectId: 'q' });
    expect(pbp).toMatchObject({ taskId: null, projectId: 'q', state: 'awaiting' });
    expect(o.isPaused('q')).toBe(true);
    expect(o.getNextTask('q')).toBeNull();
    expect(o.hasOpenBreakpoints('person')).toBe(true);
    expect(o.getPendingBreakpoints().map((b) => b.id)).toEqual([bp.id, pbp.id]);
  });

  it('approve → continue (ready again); reject → cancel (cancelled); refused decisions name the first one', () => {
    const { o, clock } = start();
    o.scheduleTasks([{ id: 'a' }, { id: 'b' }]);
    const a = o.triggerBreakpoint('confidence_too_low', { taskId: 'a' });
    const b = o.triggerBreakpoint('confidence_too_low', { taskId: 'b' });
    clock.increment(1_000);
    expect(o.resolveBreakpoint(a.id, { decision: 'approve', by: 'alice', note: 'fine' })).toMatchObject({ state: 'resolved', resolution: { action: 'continue', by: 'alice', note: 'fine', at: T0 + 1_000, auto: false } });
    expect(o.getTaskStatus('a')?.state).toBe('ready');
    expect(o.resolveBreakpoint(b.id, { decision: 'reject', by: 'bob' }).resolution?.action).toBe('cancel');
    expect(o.getTaskStatus('b')?.state).toBe('cancelled');
    // Exactly once: the second decision is refused, naming the first, and nothing changes.
    const before = o.getBreakpoint(a.id);
    expect(() => o.resolveBreakpoint(a.id, { decision: 'reject' })).toThrow(
      new BreakpointError(`breakpoint "${a.id}" is already resolved (continue by alice at ${new Date(T0 + 1_000).toISOString()}); it can be resolved only once`),
    );
    expect(o.getBreakpoint(a.id)).toEqual(before);
    expect(states(o)).toEqual(['a:ready', 'b:cancelled']);
    expect(() => o.resolveBreakpoint('bp-99')).toThrow('unknown breakpoint "bp-99"');
  });

  it('skip → the task counts as completed with { skipped: true }, and its dependents go on', () => {
    const { o } = start();
    o.scheduleTasks([{ id: 's' }, { id: 'after', dependencies: ['s'] }]);
    const bp = o.triggerBreakpoint('confidence_too_low', { taskId: 's' });
    o.resolveBreakpoint(bp.id, { action: 'skip', note: 'not needed' });
    // It never ran: no attempt is counted, and its history says it was skipped.
    expect(o.getTaskStatus('s')).toMatchObject({ state: 'completed', result: { skipped: true }, attempts: 0 });
    expect(o.getTaskStatus('s')!.history.at(-2)).toMatchObject({ to: 'running', reason: 'skipped' });
    expect(o.getTaskStatus('after')?.state).toBe('ready');
  });

  it('rejecting a project breakpoint cancels the project\'s open tasks and lifts the pause', () => {
    const { o } = start();
    o.scheduleTasks([{ id: 'p1', projectId: 'p' }, { id: 'p2', projectId: 'p', dependencies: ['p1'] }, { id: 'p3', projectId: 'p' }, { id: 'x' }]);
    o.getNextTask('p');
    o.markComplete('p1');
    const bp = o.triggerBreakpoint('milestone_completion', { projectId: 'p' });
    o.resolveBreakpoint(bp.id, { decision: 'reject', note: 'wrong direction' });
    expect(states(o)).toEqual(['p1:completed', 'p2:cancelled', 'p3:cancelled', 'x:ready']);
    expect(o.isPaused('p')).toBe(false);
  });

  it('retry with a note: feedbackFor has it, and the runner\'s next attempt receives it', async () => {
    const calls: { attempt: number; feedback: readonly string[] }[] = [];
    const { o } = start({
      executors: {
        default: async (task, ctx) => {
          calls.push({ attempt: ctx.attempt, feedback: ctx.feedback });
          // First attempt: a person must look at it. The task blocks; this outcome is ignored.
          if (ctx.attempt === 1) o.triggerBreakpoint('confidence_too_low', { taskId: task.id, confidence: 0.4 });
          return { ok: ctx.attempt };
        },
      },
    });
    o.scheduleTask({ id: 'w' });
    let done = false;
    // A person-wait on the simulated clock never ends by itself: the run waits for the decision.
    const { outcome } = o.run({ waitForPersonMs: 60_000 });
    void outcome.then(() => (done = true));
    for (let i = 0; i < 10 && o.getTaskStatus('w')?.state !== 'blocked'; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    o.resolveBreakpoint('bp-1', { action: 'retry', by: 'alice', note: 'use the v2 API' });
    expect(o.feedbackFor('w')).toEqual(['a person asked for a retry: use the v2 API']);
    expect(await outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(calls).toEqual([{ attempt: 1, feedback: [] }, { attempt: 2, feedback: ['a person asked for a retry: use the v2 API'] }]);
    expect(o.getTaskStatus('w')?.result).toEqual({ ok: 2 });
  });
});

describe('raised by the runtime', () => {
  it('rate_limit_hit pauses the project until retryAfterMs has passed, then resolves itself', () => {
    const { o, clock } = start();
    o.scheduleTasks([{ id: 'a', retryBaseMs: 1_000 }, { id: 'b' }]);
    o.getNextTask();
    o.markFailed('a', { message: 'slow down', kind: 'rate_limit', retryAfterMs: 30_000 });
    expect(o.getPendingBreakpoints()).toMatchObject([{ type: 'rate_limit_hit', state: 'autoResolving', taskId: null, autoResolveAt: T0 + 30_000 }]);
    expect(o.isPaused('default')).toBe(true);
    expect(o.hasOpenBreakpoints('auto')).toBe(true);
    clock.increment(29_999);
    expect(o.isPaused('default')).toBe(true);
    expect(o.getNextTask()).toBeNull();
    clock.increment(1);
    expect(o.isPaused('default')).toBe(false);
    expect(o.getBreakpoint('bp-1')).toMatchObject({ state: 'resolved', resolution: { by: 'auto', auto: true, action: 'continue', at: T0 + 30_000 } });
    // "a" came back from its retry at the same moment; a rate limit waited out costs it no priority
    // (a retry of its own failing would rank it one lower than "b"): it keeps its place.
    expect(o.getReadyTasks().map((t) => t.id)).toEqual(['a', 'b']);
  });

  it('time_threshold_exceeded stops the attempt (blocked), then retries it (ready) and resolves itself', () => {
    const { o, clock } = start();
    o.scheduleTask({ id: 'slow', metadata: { timeThresholdMs: 5_000 } });
    const moves: string[] = [];
    o.on('task.transition', (e) => moves.push(`${e.from}→${e.to}${e.reason ? ` (${e.reason})` : ''}`));
    o.getNextTask();
    clock.increment(4_999);
    expect(o.getTaskStatus('slow')?.state).toBe('running');
    clock.increment(1);
    expect(moves).toEqual(['ready→running', 'running→blocked (breakpoint)', 'blocked→ready']);
    expect(o.getBreakpoint('bp-1')).toMatchObject({ type: 'time_threshold_exceeded', state: 'resolved', data: { attempt: { elapsedMs: 5_000, thresholdMs: 5_000 } }, resolution: { by: 'auto', action: 'retry' } });
    expect(o.getNextTask()).toMatchObject({ id: 'slow', attempts: 2 });
  });

  it('the runtime-wide timeThresholdMs applies to tasks without their own', () => {
    const { o, clock } = start({ breakpoints: { timeThresholdMs: 2_000 } });
    o.scheduleTask({ id: 't' });
    o.getNextTask();
    clock.increment(2_000);
    expect(o.getBreakpointHistory()).toMatchObject([{ type: 'time_threshold_exceeded', taskId: 't', state: 'resolved' }]);
  });

  it('consecutive_failures: 3 distinct tasks failing in a row pause the project; one task failing 3 times does not', () => {
    const { o, clock } = start();
    o.scheduleTasks([{ id: 'x', projectId: 'solo', maxRetries: 5, retryBaseMs: 1_000 }, ...['a', 'b', 'c'].map((id) => ({ id, projectId: 'p' }))]);
    for (let i = 0; i < 3; i++) {
      expect(o.getNextTask('solo')?.id).toBe('x');
      o.markFailed('x', 'flaky');
      clock.increment(60_000);
    }
    expect(o.getPendingBreakpoints('solo')).toEqual([]);
    for (const id of ['a', 'b']) (expect(o.getNextTask('p')?.id).toBe(id), o.markFailed(id, 'broken'));
    expect(o.getPendingBreakpoints('p')).toEqual([]);
    expect(o.getNextTask('p')?.id).toBe('c');
    o.markFailed('c', 'broken');
    expect(o.getPendingBreakpoints('p')).toMatchObject([{ type: 'consecutive_failures', taskId: null, data: { project: { consecutiveFailures: 3 } } }]);
    expect(o.isPaused('p')).toBe(true);
  });

  it('consecutive_failures resolved with retry runs the failed tasks again; skip, which counts one task as done, is refused', () => {
    const { o } = start();
    o.scheduleTasks(['a', 'b', 'c', 'd'].map((id) => ({ id, projectId: 'p', maxRetries: 0 })));
    for (const id of ['a', 'b', 'c']) (expect(o.getNextTask('p')?.id).toBe(id), o.markFailed(id, 'broken'));
    const [bp] = o.getPendingBreakpoints('p');
    expect(bp).toMatchObject({ type: 'consecutive_failures', taskId: null });
    expect(() => o.resolveBreakpoint(bp!.id, { action: 'skip' })).toThrow(/cannot be resolved with skip: skip counts a task as done, and this breakpoint holds project "p": continue, retry .* or cancel; it stays open/);
    expect(o.getBreakpoint(bp!.id)?.state).toBe('awaiting');
    o.resolveBreakpoint(bp!.id, { action: 'retry', note: 'the registry is back' });
    expect(o.isPaused('p')).toBe(false);
    expect(['a', 'b', 'c', 'd'].map((id) => o.getTaskStatus(id)!.state)).toEqual(['ready', 'ready', 'ready', 'ready']);
    // The person's note goes to each task it ran again, not to one it did not.
    expect(o.feedbackFor('a')).toEqual(['broken', 'a person asked for a retry: the registry is back']);
    expect(o.feedbackFor('d')).toEqual([]);
    // A project rule cannot resolve itself with skip (it would do nothing).
    expect(() => o.addCustomRule({ type: 'auto_skip', scope: 'project', condition: 'false', autoResolve: { action: 'skip' } })).toThrow(/rule\.autoResolve\.action: skip counts a task as done, and a project rule holds a project/);
  });

  it('raiseFromFacts refuses facts it cannot raise a breakpoint from, naming every problem, and raises nothing', () => {
    const { o } = start();
    o.addCustomRule({ type: 'deploy_gate', condition: 'deploy.env == "prod"' });
    o.scheduleTasks([{ id: 'deploy', projectId: 'web' }]);
    const refused = (facts: unknown) => {
      try {
        o.raiseFromFacts(facts as never);
      } catch (error) {
        return (error as ValidationError).problems;
      }
      return [];
    };
    expect(refused(null)).toEqual(['facts: must be an object, got null']);
    expect(refused({ deploy: { env: 'prod' }, project: {} })).toEqual([expect.stringMatching(/^facts\.project\.id: must be a string/)]);
    expect(refused({ deploy: { env: 'prod' }, project: { id: 'web' }, task: { id: 'ghost' } })).toEqual(['facts.task.id: unknown task "ghost"']);
    expect(refused({ deploy: { env: 'prod' }, project: { id: 'api' }, task: { id: 'deploy' } })).toEqual(['facts.task.id: task "deploy" belongs to project "web", not "api"']);
    expect(refused({ deploy: { env: 'prod', at: 1n }, project: { id: 'web' } })).toEqual([expect.stringMatching(/^facts\.deploy\.at: /)]);
    expect(o.getPendingBreakpoints()).toEqual([]);
    expect(o.raiseFromFacts({ deploy: { env: 'prod' }, project: { id: 'web' }, task: { id: 'deploy' } } as never)).toMatchObject([{ type: 'deploy_gate', taskId: 'deploy', projectId: 'web' }]);
  });

  it('a completion in between resets the failure streak', () => {
    const { o } = start();
    o.scheduleTasks(['a', 'b', 'c', 'd'].map((id) => ({ id })));
    for (const [id, ok] of [['a', false], ['b', false], ['c', true], ['d', false]] as const) {
      expect(o.getNextTask()?.id).toBe(id);
      if (ok) o.markComplete(id);
      else o.markFailed(id, 'broken');
    }
    expect(o.getPendingBreakpoints()).toEqual([]);
  });

  it('milestone_completion pauses the project when a milestone task completes', () => {
    const { o } = start();
    o.scheduleTasks([{ id: 'm', metadata: { milestone: true } }, { id: 'n', dependencies: ['m'] }]);
    o.getNextTask();
    o.markComplete('m');
    expect(o.getPendingBreakpoints()).toMatchObject([{ type: 'milestone_completion', taskId: null, data: { task: { id: 'm', milestone: true } } }]);
    expect(o.getNextTask()).toBeNull();
    o.resolveBreakpoint('bp-1');
    expect(o.getNextTask()?.id).toBe('n');
  });

  it("confidence_too_low is raised when a result reports its confidence below 0.6, and holds what comes after", () => {
    const { o } = start();
    o.scheduleTasks([{ id: 'sure', priority: 9 }, { id: 'odd', priority: 8 }, { id: 'unsure', priority: 7 }, { id: 'next', dependencies: ['unsure'] }]);
    o.getNextTask();
    o.markComplete('sure', { response: 'done', confidence: 0.9 });
    o.getNextTask();
    o.markComplete('odd', { confidence: 'low' }); // not a number from 0 to 1: no fact
    expect(o.getPendingBreakpoints()).toEqual([]);
    o.getNextTask();
    o.markComplete('unsure', { response: 'done?', confidence: 0.4 });
    const [bp] = o.getPendingBreakpoints();
    expect(bp).toMatchObject({ type: 'confidence_too_low', taskId: null, data: { confidence: 0.4, task: { id: 'unsure' } } });
    expect(bp!.message).toContain('after task "unsure"');
    expect(o.getNextTask()).toBeNull();
    o.resolveBreakpoint(bp!.id);
    expect(o.getNextTask()?.id).toBe('next');
  });

  it('architecture_decision is raised when a task with decision "architecture" completes, and holds what comes after', () => {
    const { o } = start();
    o.scheduleTasks([{ id: 'other', priority: 9, metadata: { decision: 'naming' } }, { id: 'arch', metadata: { decision: 'architecture' } }, { id: 'impl', dependencies: ['arch'] }]);
    for (const id of ['other', 'arch']) (o.getNextTask(), o.markComplete(id));
    // The task is finished, so the breakpoint holds its project: nothing after it starts.
    const [bp] = o.getPendingBreakpoints();
    expect(bp).toMatchObject({ type: 'architecture_decision', priority: 'high', taskId: null, data: { task: { id: 'arch' } } });
    expect(bp!.message).toContain('after task "arch"');
    expect(o.getNextTask()).toBeNull();
    o.resolveBreakpoint(bp!.id);
    expect(o.getNextTask()?.id).toBe('impl');
  });

  it('breaking_test_failure: a test that passed in an earlier report of the same task fails now', () => {
    const { o } = start();
    o.scheduleTasks([{ id: 't', priority: 9 }, { id: 'u', priority: 8 }, { id: 'v' }]);
    o.getNextTask();
    o.reportTestResults('t', { passed: ['a', 'b'], failed: [] });
    // Another task failing "a" is not a regression of t (compared per task).
    o.getNextTask();
    o.markComplete('u', { tests: { passed: [], failed: ['a'] } });
    expect(o.getPendingBreakpoints()).toEqual([]);
    o.reportTestResults('t', { passed: ['a'], failed: ['b'] });
    expect(o.getPendingBreakpoints()).toMatchObject([{ type: 'breaking_test_failure', taskId: 't', data: { tests: { newlyFailing: ['b'], newlyFailingCount: 1 } } }]);
    expect(o.getTaskStatus('t')?.state).toBe('blocked');
    // Through a completion result too, against the task's own earlier report.
    o.getNextTask();
    o.reportTestResults('v', { passed: ['x'], failed: [] });
    o.markComplete('v', { tests: { passed: [], failed: ['x'] } });
    // v has completed: its breakpoint holds the project (taskId null), naming v.
    expect(o.getPendingBreakpoints().map((b) => `${b.type}:${b.taskId}`)).toEqual(['breaking_test_failure:t', 'breaking_test_failure:null']);
    expect(o.getPendingBreakpoints()[1]!.message).toContain('after task "v"');
  });
});

describe('notifications', () => {
  it('high priority at once; medium batched until notifyBatchMs passes, in one call; unregister works', () => {
    const { o, clock } = start({ breakpoints: { notifyBatchMs: 10_000 } });
    o.scheduleTasks([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    const calls: BreakpointNotification[][] = [];
    const off = o.registerNotificationCallback((batch) => calls.push(batch));
    o.triggerBreakpoint('confidence_too_low', { taskId: 'a' });
    expect(calls).toMatchObject([[{ id: 'bp-1', type: 'confidence_too_low', priority: 'high', taskId: 'a', at: T0 }]]);
    o.triggerBreakpoint('conflicting_solutions', { taskId: 'b' });
    clock.increment(5_000);
    o.triggerBreakpoint('milestone_completion', { projectId: 'q' });
    clock.increment(4_999);
    expect(calls).toHaveLength(1);
    clock.increment(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.map((n) => n.id)).toEqual(['bp-2', 'bp-3']);
    off();
    o.triggerBreakpoint('confidence_too_low', { taskId: 'c' });
    expect(calls).toHaveLength(2);
  });

  it('a throwing callback breaks nothing: onError gets it, other callbacks still run', () => {
    const { o, errors } = start();
    o.scheduleTask({ id: 'a' });
    const boom = new Error('callback broke');
    const seen: string[] = [];
    o.registerNotificationCallback(() => {
      throw boom;
    });
    o.registerNotificationCallback((batch) => seen.push(...batch.map((n) => n.id)));
    const bp = o.triggerBreakpoint('confidence_too_low', { taskId: 'a' });
    expect(errors).toEqual([[boom, 'a breakpoint notification callback']]);
    expect(seen).toEqual([bp.id]);
    expect(o.getTaskStatus('a')?.state).toBe('blocked');
  });

  it('shouldNotify is false for disabled, unknown and notify:none types', () => {
    const { o } = start();
    o.addCustomRule({ type: 'quiet', condition: 'x > 1', notify: 'none' });
    o.disableBreakpointType('milestone_completion');
    expect(o.shouldNotify('milestone_completion', 'medium')).toBe(false);
    expect(o.shouldNotify('quiet', 'medium')).toBe(false);
    expect(o.shouldNotify('nope', 'low')).toBe(false);
    expect(o.shouldNotify('rate_limit_hit', 'high')).toBe(true);
  });
});

describe('stats, history and audit', () => {
  it('stats count each outcome and average the resolution time on the clock; history is newest first', () => {
    const { o, clock } = start();
    o.scheduleTasks([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    const A = o.triggerBreakpoint('confidence_too_low', { taskId: 'a' });
    clock.increment(1_000);
    o.resolveBreakpoint(A.id); // 1 s
    const B = o.triggerBreakpoint('conflicting_solutions', { taskId: 'b' });
    clock.increment(3_000);
    o.resolveBreakpoint(B.id, { decision: 'reject' }); // 3 s
    o.triggerBreakpoint('rate_limit_hit', { projectId: 'p', error: { kind: 'rate_limit', retryAfterMs: 2_000 } });
    clock.increment(2_000); // auto, 2 s
    o.triggerBreakpoint('confidence_too_low', { taskId: 'c' });
    expect(o.getBreakpointStats()).toEqual({
      triggered: 4, byType: { confidence_too_low: 2, conflicting_solutions: 1, rate_limit_hit: 1 },
      resolved: 1, autoResolved: 1, rejected: 1, expired: 0, pending: 1, averageResolutionMs: 2_000,
    });
    expect(o.getBreakpointStats('p')).toMatchObject({ triggered: 1, autoResolved: 1 });
    expect(o.getBreakpointHistory().map((b) => b.id)).toEqual(['bp-4', 'bp-3', 'bp-2', 'bp-1']);
    expect(o.getBreakpointHistory(undefined, 2).map((b) => b.id)).toEqual(['bp-4', 'bp-3']);
    expect(o.getBreakpointHistory('p').map((b) => b.id)).toEqual(['bp-3']);
  });

  it('the audit trail says who did what, when, with the note; events are emitted', () => {
    const { o, clock } = start();
    o.scheduleTask({ id: 'a' });
    const events: string[] = [];
    o.on('breakpoint.triggered', (e) => events.push(`triggered ${e.breakpoint.id}`));
    o.on('breakpoint.resolved', (e) => events.push(`resolved ${e.breakpoint.id} ${e.breakpoint.state}`));
    const bp = o.triggerBreakpoint('confidence_too_low', { taskId: 'a' });
    clock.increment(500);
    o.resolveBreakpoint(bp.id, { by: 'alice', note: 'checked by hand' });
    expect(o.getBreakpoint(bp.id)?.audit).toEqual([
      { at: T0, who: 'overseer', what: 'triggered confidence_too_low', note: 'confidence in the result is too low' },
      { at: T0, who: 'overseer', what: 'awaiting a person' },
      { at: T0 + 500, who: 'alice', what: 'approved: continue', note: 'checked by hand' },
    ]);
    expect(events).toEqual(['triggered bp-1', 'resolved bp-1 resolved']);
  });
});

/**
 * A restart on the same store (close), or on what a process that died right after flush()
 * leaves (crash): for the file store, a copy of its files taken then; for the memory store,
 * the store released without the runtime's final snapshot.
 */
interface Backend { fresh(): Store; restart(how: 'close' | 'crash', old: Run): Promise<Store> }
type Run = ReturnType<typeof start>;
const backends: [string, () => Backend][] = [
  ['memoryStore', () => {
    const store = memoryStore();
    return {
      fresh: () => store,
      restart: async (how, old) => {
        if (how === 'close') await old.o.close();
        else (await old.o.flush(), await store.close(), opened.splice(opened.indexOf(old.o), 1));
        return store;
      },
    };
  }],
  ['jsonFileStore', () => {
    let path = tempStore();
    return {
      fresh: () => jsonFileStore(path),
      restart: async (how, old) => {
        if (how === 'crash') {
          await old.o.flush();
          const copy = tempStore();
          for (const s of ['', '.journal']) if (existsSync(path + s)) copyFileSync(path + s, copy + s);
          path = copy;
        }
        await old.o.close(); // a crash's copy was taken before: closing cannot change it
        return jsonFileStore(path);
      },
    };
  }],
];

describe.each(backends)('restart (%s)', (_name, makeBackend) => {
  let backend: Backend;
  beforeEach(() => {
    backend = makeBackend();
  });
  const restart = async (how: 'close' | 'crash', old: Run) => start({ store: await backend.restart(how, old) }, old.clock.now());

  it.each(['close', 'crash'] as const)('pending breakpoints and the paused work survive; resolving after it is durable (%s)', async (how) => {
    const first = start({ store: backend.fresh() });
    first.o.scheduleTasks([{ id: 't', projectId: 'p' }, { id: 'q1', projectId: 'q' }]);
    first.o.triggerBreakpoint('confidence_too_low', { taskId: 't', projectId: 'p' });
    first.o.triggerBreakpoint('milestone_completion', { projectId: 'q' });
    const second = await restart(how, first);
    const { o } = second;
    expect(o.getPendingBreakpoints().map((b) => `${b.id}:${b.state}`)).toEqual(['bp-1:awaiting', 'bp-2:awaiting']);
    expect(o.getTaskStatus('t')).toMatchObject({ state: 'blocked', blockedReason: { reason: 'breakpoint', breakpoint: 'bp-1' } });
    expect(o.isPaused('q')).toBe(true);
    expect(o.getNextTask()).toBeNull();
    o.resolveBreakpoint('bp-1', { by: 'alice', note: 'after restart' });
    o.resolveBreakpoint('bp-2', { decision: 'reject', action: 'continue', by: 'bob' });
    expect(o.getNextTask('p')?.id).toBe('t');
    // The resolution itself is durable: what a crash right after flush() leaves says so.
    const third = await restart('crash', second);
    expect(third.o.getPendingBreakpoints()).toEqual([]);
    expect(third.o.getBreakpoint('bp-1')).toMatchObject({ state: 'resolved', resolution: { by: 'alice', note: 'after restart' } });
    expect(third.o.getBreakpoint('bp-2')).toMatchObject({ state: 'rejected', resolution: { by: 'bob', action: 'continue' } });
    expect(third.o.isPaused('q')).toBe(false);
  });

  it.each(['close', 'crash'] as const)('an auto-resolving breakpoint resolves at its original time after a restart (%s)', async (how) => {
    const first = start({ store: backend.fresh() });
    first.o.scheduleTasks([{ id: 'a', retryBaseMs: 1_000 }, { id: 'b' }]);
    first.o.getNextTask();
    first.o.markFailed('a', { message: 'slow down', kind: 'rate_limit', retryAfterMs: 30_000 });
    first.clock.increment(10_000);
    const { o, clock } = await restart(how, first);
    clock.increment(19_999);
    expect(o.isPaused('default')).toBe(true);
    clock.increment(1);
    expect(o.isPaused('default')).toBe(false);
    expect(o.getBreakpoint('bp-1')).toMatchObject({ state: 'resolved', resolution: { by: 'auto', at: T0 + 30_000 } });
  });

  it.each(['close', 'crash'] as const)('custom rules and disabled types survive a restart (%s)', async (how) => {
    const first = start({ store: backend.fresh() });
    first.o.scheduleTask({ id: 't' }); // see the BUG below for a store without tasks
    first.o.addCustomRule({ type: 'too_many_attempts', condition: 'task.attempts >= 2', priority: 'high' });
    first.o.disableBreakpointType('confidence_too_low');
    const { o } = await restart(how, first);
    expect(o.listBreakpointRules().filter((r) => ['too_many_attempts', 'confidence_too_low'].includes(r.type))).toMatchObject([
      { type: 'confidence_too_low', enabled: false },
      { type: 'too_many_attempts', priority: 'high', enabled: true },
    ]);
    expect(o.evaluateBreakpointConditions({ confidence: 0.1, task: { attempts: 2 } }).map((r) => r.type)).toEqual(['too_many_attempts']);
  });
});

describe('auto-resolution has a budget', () => {
  it('time_threshold_exceeded stops retrying by itself once the task used up its retries: a person decides', () => {
    const clock = new SimulatedClock();
    const o = createOverseer({ clock });
    o.scheduleTask({ id: 'spin', maxRetries: 1, metadata: { timeThresholdMs: 500 } });
    for (let trip = 1; trip <= 2; trip++) {
      o.getNextTask();
      clock.increment(500);
      if (trip === 1) expect(o.getTaskStatus('spin')!.state).toBe('ready'); // stopped, retried by itself
    }
    const [last] = o.getPendingBreakpoints();
    expect(last).toMatchObject({ type: 'time_threshold_exceeded', state: 'awaiting', taskId: 'spin' });
    expect(o.getTaskStatus('spin')!.state).toBe('blocked');
  });
});

// Regressions: bugs found while writing these tests, fixed since; the comments say what went wrong.
describe('regressions', () => {
  it('a breakpoint raised when its task has completed holds the work after it', () => {
    // breakpoint-wiring pauseTask only blocks pending/ready/running tasks. architecture_decision is
    // raised at completion, so the task is already completed: the dependent is handed out while
    // "an architecture decision needs a person" is still pending (and run() ends with exit 0).
    const { o } = start();
    o.scheduleTasks([{ id: 'arch', metadata: { decision: 'architecture' } }, { id: 'impl', dependencies: ['arch'] }]);
    o.getNextTask();
    o.markComplete('arch');
    expect(o.getPendingBreakpoints()).toHaveLength(1);
    expect(o.getNextTask()).toBeNull(); // was: "impl"
  });

  it('a task-scoped rule raised after a failure holds the task when its retry comes due', () => {
    // Same cause: on task.failed the task is retrying, which cannot be blocked, so the pending
    // breakpoint (README example rule `task.attempts >= N`) does not hold the task back.
    const { o, clock } = start();
    o.addCustomRule({ type: 'too_many_attempts', condition: 'task.attempts >= 2', priority: 'high' });
    o.scheduleTask({ id: 'f', retryBaseMs: 1_000 });
    for (let i = 0; i < 2; i++) (o.getNextTask(), o.markFailed('f', 'x'), clock.increment(10_000));
    expect(o.getPendingBreakpoints()).toMatchObject([{ type: 'too_many_attempts', taskId: 'f' }]);
    expect(o.getNextTask()).toBeNull(); // was: "f", attempt 3
  });

  it('triggerBreakpoint with only a taskId files the breakpoint under the task\'s project', () => {
    const { o } = start();
    o.scheduleTask({ id: 't', projectId: 'p' });
    expect(o.triggerBreakpoint('confidence_too_low', { taskId: 't' }).projectId).toBe('p'); // was: "default"
    expect(o.getPendingBreakpoints('p')).toHaveLength(1); // was: 0
  });

  it('triggerBreakpoint refuses an unknown taskId', () => {
    const { o } = start();
    expect(() => o.triggerBreakpoint('confidence_too_low', { taskId: 'nope' })).toThrow('unknown task "nope"');
  });

  it('resolving one of two open breakpoints on a task keeps it blocked by the other', () => {
    // settle() checks openFor() before resuming a project, but not before releasing a task.
    const { o } = start();
    o.scheduleTask({ id: 't' });
    const first = o.triggerBreakpoint('confidence_too_low', { taskId: 't' });
    const second = o.triggerBreakpoint('conflicting_solutions', { taskId: 't' });
    o.resolveBreakpoint(first.id);
    expect(o.getBreakpoint(second.id)?.state).toBe('awaiting');
    expect(o.getTaskStatus('t')?.state).toBe('blocked'); // was: ready
  });

  it('resolving a task breakpoint leaves a block a person set on the task', () => {
    const { o } = start();
    o.scheduleTask({ id: 'u' });
    o.blockTask('u', 'waiting for legal');
    o.resolveBreakpoint(o.triggerBreakpoint('confidence_too_low', { taskId: 'u' }).id);
    expect(o.getTaskStatus('u')?.blockedReason?.reason).toBe('waiting for legal'); // was: unblocked, ready
  });

  it('an auto-resolved project breakpoint leaves a pause a person set on the project', () => {
    const { o, clock } = start();
    o.scheduleTask({ id: 'm', projectId: 'm' });
    o.pause('m');
    o.triggerBreakpoint('rate_limit_hit', { projectId: 'm', error: { kind: 'rate_limit', retryAfterMs: 1_000 } });
    clock.increment(1_000);
    expect(o.isPaused('m')).toBe(true); // was: false, the person's pause is gone
  });

  it('skip with unmet dependencies is refused and the breakpoint stays open', () => {
    // releaseTask throws after the decision was recorded; only onError hears of it.
    const { o, errors } = start();
    o.scheduleTasks([{ id: 'dep' }, { id: 'sk', dependencies: ['dep'] }]);
    const bp = o.triggerBreakpoint('confidence_too_low', { taskId: 'sk' });
    expect(() => o.resolveBreakpoint(bp.id, { action: 'skip' })).toThrow(/dependencies/);
    expect(o.getBreakpoint(bp.id)?.state).toBe('awaiting'); // was: resolved, task blocked for good
    expect(errors).toEqual([]);
  });

  it('custom rules and disabled types survive a restart even when the store holds no task', async () => {
    // Overseer's constructor loads rules/disabled types only if tasks or breakpoints were restored.
    const path = tempStore();
    const first = start({ store: jsonFileStore(path) });
    first.o.addCustomRule({ type: 'too_many_attempts', condition: 'task.attempts >= 2' });
    first.o.disableBreakpointType('confidence_too_low');
    await first.o.close();
    const { o } = start({ store: jsonFileStore(path) });
    expect(o.listBreakpointRules().map((r) => r.type)).toContain('too_many_attempts');
    expect(o.shouldNotify('confidence_too_low', 'high')).toBe(false);
  });

  it('run() waits for the retried attempt after time_threshold_exceeded', async () => {
    // The runner keys attempts by task id: the stopped attempt 1 settles after attempt 2 started
    // and deletes attempt 2's entry, so the runner believes it is idle.
    let finish2: (v: { ok: true }) => void = () => {};
    const { o, clock } = start({
      executors: {
        default: (_task, ctx) =>
          new Promise((resolve, reject) => {
            if (ctx.attempt === 1) ctx.signal.addEventListener('abort', () => setImmediate(() => reject(new Error('stopped'))));
            else finish2 = resolve;
          }),
      },
    });
    o.scheduleTask({ id: 'slow', metadata: { timeThresholdMs: 5_000 } });
    const { outcome, runner } = o.run();
    let ended = false;
    void outcome.then(() => (ended = true));
    const ticks = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };
    await ticks();
    clock.increment(5_000);
    await ticks();
    expect(o.getTaskStatus('slow')).toMatchObject({ state: 'running', attempts: 2 });
    expect(runner.running.has('slow')).toBe(true); // was: false
    expect(ended).toBe(false); // was: true, with status "waiting"
    finish2({ ok: true });
    expect(await outcome).toMatchObject({ status: 'completed', exitCode: 0 });
  });
});
