/**
 * Result → quality → decision → what follows, end to end: an agent-like script first
 * produces a wrong result, gets the quality findings as feedback, and passes on retry.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createOverseer, jsonFileStore, type TaskView } from '../runtime/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/quality/', import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-judge-'));
  dirs.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'runtime/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('judging results', () => {
  it('a wrong result fails quality, goes back with feedback, and passes on retry (CLI, agent executor)', async () => {
    const dir = workdir();
    writeFileSync(
      join(dir, 'plan.yaml'),
      [
        'name: quality loop',
        'defaults:',
        '  retryDelay: 10ms',
        'tasks:',
        '  - id: implement-mean',
        '    executor: agent',
        '    prompt: "Implement mean(xs) in src/mean.js."',
        `    agent: { command: ${JSON.stringify(process.execPath)}, args: [coding-agent.mjs] }`,
        '    quality:',
        '      acceptanceCriteria: ["contains:src/mean.js:export function mean"]',
        '      testCommand: node --test mean.test.mjs',
        '      gate: { minScore: 0.8 }',
        '      maxRetries: 2',
        '',
      ].join('\n'),
    );
    const store = join(dir, '.overseer', 's.json');
    const result = await run(['run', join(dir, 'plan.yaml'), '--store', store, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; action?: string });
    expect(events.filter((e) => e.type === 'task.decision').map((e) => e.action)).toEqual(['retry', 'proceed']);

    const o = createOverseer({ store: jsonFileStore(store) });
    try {
      const t = o.getTaskStatus('implement-mean') as TaskView;
      expect(t).toMatchObject({ state: 'completed', attempts: 2 });
      // The first attempt failed as a quality failure, naming what was wrong…
      const failure = t.history.find((h) => h.to === 'failed')!;
      expect(failure.kind).toMatch(/^quality/);
      expect(failure.reason).toMatch(/test/i);
      // It is the agent's feedback: what to fix, not how the decision engine weighed the result.
      expect(failure.reason).toMatch(/^the quality gate was not met: score \d\.\d\d < 0\.8\nYour last attempt scored /);
      expect(failure.reason).not.toMatch(/Next: |Not chosen/);
      // …and the result keeps the output, the quality and the decision.
      expect(t.result).toMatchObject({ output: { response: expect.stringContaining('Fixed mean()') }, decision: { action: 'proceed' } });
      expect((t.result as { quality: { score: number } }).quality.score).toBeGreaterThanOrEqual(0.8);
      // The quality history is in the store.
      expect(o.quality.history().map((r) => r.taskId)).toEqual(['implement-mean', 'implement-mean']);
    } finally {
      await o.close();
    }
  }, 60_000);

  it('a gate is not met by a result no stage could judge (its score of 1 is no evidence)', async () => {
    const o = createOverseer();
    o.scheduleTask({ id: 'a', maxRetries: 0, metadata: { quality: { gate: { minScore: 0.8 } } } });
    await o.judgeAttempt(o.getNextTask()!, 'done', new AbortController().signal);
    expect(o.quality.history().at(-1)).toMatchObject({ stagesRun: 0, score: 1 });
    expect(o.getTaskStatus('a')).toMatchObject({
      state: 'failed',
      lastError: { kind: 'quality_gate', message: expect.stringMatching(/^the quality gate was not met: no stage could judge the result \(no changed files known: run with --watch/) },
    });
    // Without a gate, an unjudged result goes through as before.
    o.scheduleTask({ id: 'b', metadata: { quality: {} } });
    await o.judgeAttempt(o.getNextTask()!, 'done', new AbortController().signal);
    expect(o.getTaskStatus('b')!.state).toBe('completed');
  });

  it("a result's own low confidence lowers the judge's: the result does not go through as it would", async () => {
    const o = createOverseer({ clock: new SimulatedClock() });
    o.scheduleTasks([{ id: 'unsure', maxRetries: 0, metadata: { quality: {} } }, { id: 'sure', priority: 9, metadata: { quality: {} } }]);
    await o.judgeAttempt(o.getNextTask()!, { response: 'done', confidence: 0.9 } as never, new AbortController().signal);
    expect(o.getTaskStatus('sure')!.state).toBe('completed');
    await o.judgeAttempt(o.getNextTask()!, { response: 'done', confidence: 0.2 } as never, new AbortController().signal);
    const unsure = o.getTaskStatus('unsure')!;
    expect(unsure.state).not.toBe('completed');
    expect(JSON.stringify([unsure.lastError, o.getPendingBreakpoints()])).toContain('confidence 0.2');
  });

  it('an escalation whose breakpoint type is disabled asks nobody: the result fails, unless a gate the stages checked was met', async () => {
    const dir = workdir();
    const o = createOverseer({ clock: new SimulatedClock() });
    const unsure = { response: 'done', confidence: 0.2 } as never;
    o.scheduleTask({ id: 'asks', maxRetries: 0, metadata: { quality: {} } });
    await o.judgeAttempt(o.getNextTask()!, unsure, new AbortController().signal);
    expect(o.getPendingBreakpoints()).toMatchObject([{ type: 'confidence_too_low', taskId: 'asks' }]);
    o.disableBreakpointType('confidence_too_low');
    const cwd = { executor: { type: 'function', name: 'x', cwd: dir } };
    o.scheduleTasks([
      // No gate: nothing vouches for the result.
      { id: 'ungated', priority: 9, maxRetries: 0, metadata: { quality: {} } },
      // Failing tests, no attempt left: escalated, and now failed, not passed.
      { id: 'failing', priority: 8, maxRetries: 0, metadata: { ...cwd, quality: { testCommand: "echo 'not ok 1 - everything'; exit 1" } } },
      // A gate no stage could judge.
      { id: 'unjudged', priority: 7, maxRetries: 0, metadata: { quality: { gate: { minScore: 0.5 } } } },
      // A gate the stages checked and found met.
      { id: 'vouched', priority: 10, maxRetries: 0, metadata: { ...cwd, quality: { testCommand: "echo 'ok 1 - all'", gate: { minScore: 0.5 } } } },
    ]);
    for (let i = 0; i < 4; i++) await o.judgeAttempt(o.getNextTask()!, unsure, new AbortController().signal);
    expect(o.getTaskStatus('ungated')).toMatchObject({ state: 'failed', lastError: { kind: 'quality', message: expect.stringMatching(/^the result was not accepted and nobody is to be asked \(breakpoint type confidence_too_low is disabled\)\nYour last attempt/) } });
    expect(o.getTaskStatus('failing')).toMatchObject({ state: 'failed', lastError: { kind: 'quality' } });
    expect(o.getTaskStatus('unjudged')).toMatchObject({ state: 'failed', lastError: { kind: 'quality_gate' } });
    expect(o.getTaskStatus('vouched')).toMatchObject({ state: 'completed', result: { decision: { action: 'escalate', explanation: expect.stringContaining('Escalation skipped: breakpoint type confidence_too_low is disabled.') } } });
    expect(o.getPendingBreakpoints().filter((b) => b.type === 'confidence_too_low').map((b) => b.taskId)).toEqual(['asks']); // (three failures in a row pause the project: consecutive_failures)
  });

  it('quality retries and infrastructure retries do not use up each other', () => {
    const clock = new SimulatedClock();
    const o = createOverseer({ clock, retry: { baseDelayMs: 1 } });
    o.scheduleTask({ id: 't', maxRetries: 1, metadata: { quality: { maxRetries: 1 } } });
    const cycle = (error: { message: string; kind: string }) => {
      o.getNextTask();
      const v = o.markFailed('t', { ...error, retryable: true });
      clock.increment(10);
      return v.state;
    };
    expect(cycle({ message: 'poor result', kind: 'quality' })).toBe('retrying'); // 1 of 1 quality retries
    expect(cycle({ message: 'timed out', kind: 'timeout' })).toBe('retrying'); // 1 of 1 other retries
    expect(cycle({ message: 'timed out again', kind: 'timeout' })).toBe('failed');
  });
});

describe('cross-validation', () => {
  it('validators that disagree raise conflicting_solutions on the task', async () => {
    const dir = workdir();
    const o = createOverseer({ clock: new SimulatedClock() });
    o.scheduleTask({ id: 'sol' });
    o.getNextTask();
    const optimist = { name: 'optimist', weight: 1, validate: async () => ({ score: 1, issues: [] }) };
    const pessimist = { name: 'pessimist', weight: 1, validate: async () => ({ score: 0, issues: [] }) };
    const agreeing = await o.crossValidate('sol', { workdir: dir, response: 'x' }, [optimist, { ...optimist, name: 'also' }]);
    expect(agreeing.conflicting).toBe(false);
    expect(o.getPendingBreakpoints()).toEqual([]);
    const split = await o.crossValidate('sol', { workdir: dir, response: 'x' }, [optimist, pessimist]);
    expect(split.conflicting).toBe(true);
    expect(o.getPendingBreakpoints()).toMatchObject([{ type: 'conflicting_solutions', taskId: 'sol' }]);
    expect(o.getTaskStatus('sol')!.state).toBe('blocked');
  });
});

describe('quality gates', () => {
  it('a result below the gate never completes the task: with no retry left it goes to a person, and dependents wait', async () => {
    const dir = workdir();
    const o = createOverseer({
      clock: new SimulatedClock(),
      executors: { work: async () => ({ response: 'done' }) },
    });
    o.scheduleTasks([
      { id: 'gated', metadata: { executor: { type: 'function', name: 'work', cwd: dir }, quality: { acceptanceCriteria: ['file:missing.txt exists'], gate: { minScore: 0.9 }, maxRetries: 0 } } },
      { id: 'ignorer', dependencies: ['gated'], onDependencyFailure: 'ignore', executor: 'work' },
    ]);
    const outcome = await o.run().outcome;
    expect(outcome).toMatchObject({ status: 'waiting', exitCode: 3 });
    expect(o.getTaskStatus('gated')).toMatchObject({ state: 'blocked', blockedReason: { reason: 'breakpoint' } });
    expect(o.getTaskStatus('ignorer')!.state).toBe('pending');
    expect(o.getPendingBreakpoints()[0]).toMatchObject({ taskId: 'gated', data: { pendingResult: { decision: { action: 'escalate' } } } });
  });

  it('a task whose gate failed for good blocks every dependent, whatever its policy', () => {
    const o = createOverseer({ clock: new SimulatedClock() });
    o.scheduleTasks([
      { id: 'gated', maxRetries: 0 },
      { id: 'ignorer', dependencies: ['gated'], onDependencyFailure: 'ignore' },
      { id: 'canceller', dependencies: ['gated'], onDependencyFailure: 'cancel' },
    ]);
    o.getNextTask();
    o.markFailed('gated', { message: 'the quality gate was not met', kind: 'quality_gate', retryable: true });
    expect(o.getTaskStatus('gated')!.state).toBe('failed');
    for (const id of ['ignorer', 'canceller']) {
      expect(o.getTaskStatus(id)).toMatchObject({ state: 'blocked', blockedReason: { reason: 'upstream_failed', upstream: 'gated' } });
    }
  });
});
