/**
 * The runner through the embedded API: `createOverseer({ executors })` + `overseer.run()`.
 * Work is plain async functions, so every interleaving is controlled by the test.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOverseer, ExecutionError, jsonFileStore, type ExecutionContext, type Executor, type JsonValue, type TaskView } from '../runtime/index.js';
import { alive } from './helpers/processes.js';

/** An executor whose calls wait until the test settles them. */
function controllable() {
  const calls: { task: TaskView; ctx: ExecutionContext; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const executor: Executor = (task, ctx) =>
    new Promise((resolve, reject) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      const done = () => running--;
      calls.push({
        task,
        ctx,
        resolve: (v) => (done(), resolve(v as never)),
        reject: (e) => (done(), reject(e)),
      });
      ctx.signal.addEventListener('abort', () => (done(), reject(ctx.signal.reason)));
    });
  return { executor, calls, maxRunning: () => maxRunning };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await tick();
  expect(check()).toBe(true);
}

describe('overseer.run()', () => {
  it('runs function executors in dependency order, within the concurrency limit, passing results on', async () => {
    const seen: Record<string, unknown> = {};
    const work: Executor = async (task, ctx) => {
      seen[task.id] = ctx.dependencyResults;
      return { by: task.id };
    };
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work } });
    overseer.scheduleTasks([
      { id: 'a', executor: 'work' },
      { id: 'b', executor: 'work' },
      { id: 'c', executor: 'work', dependencies: ['a', 'b'] },
    ]);
    const { outcome } = overseer.run({ concurrency: 2 });
    expect(await outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    expect(seen.c).toEqual({ a: { by: 'a' }, b: { by: 'b' } });
    expect(overseer.getTaskStatus('c')!.result).toEqual({ by: 'c' });
  });

  it('never runs more than the global and per-project limits at once', async () => {
    const work = controllable();
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: work.executor } });
    overseer.scheduleTasks(
      Array.from({ length: 12 }, (_, i) => ({ id: `t${i}`, projectId: i % 2 ? 'odd' : 'even', executor: 'work' })),
    );
    const { outcome } = overseer.run({ concurrency: 3, perProject: { even: 1 } });
    for (let settled = 0; settled < 12; settled++) {
      await until(() => work.calls.length > settled);
      const inFlight = work.calls.slice(settled);
      expect(inFlight.length).toBeLessThanOrEqual(3);
      expect(work.calls.filter((c, i) => i >= settled && c.task.projectId === 'even').length).toBeLessThanOrEqual(1);
      work.calls[settled]!.resolve(null);
    }
    expect((await outcome).exitCode).toBe(0);
    expect(work.maxRunning()).toBeLessThanOrEqual(3);
  });

  it('retries a failed attempt with feedback, and fails at once on a non-retryable error', async () => {
    const clock = new SimulatedClock();
    const attempts: { id: string; attempt: number; feedback: readonly string[] }[] = [];
    const flaky: Executor = async (task, ctx) => {
      attempts.push({ id: task.id, attempt: ctx.attempt, feedback: ctx.feedback });
      if (task.id === 'bad') throw new ExecutionError('credentials refused', { kind: 'auth', retryable: false });
      if (ctx.attempt === 1) throw new Error('port in use');
      return 'ok';
    };
    const overseer = createOverseer({ clock, executors: { flaky }, retry: { baseDelayMs: 1000 } });
    overseer.scheduleTasks([{ id: 'good', executor: 'flaky' }, { id: 'bad', executor: 'flaky' }]);
    const { outcome } = overseer.run();
    await until(() => overseer.getTaskStatus('good')!.state === 'retrying');
    clock.increment(1000);
    const result = await outcome;
    expect(result).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(overseer.getTaskStatus('good')!.state).toBe('completed');
    expect(attempts.find((a) => a.id === 'good' && a.attempt === 2)!.feedback).toEqual(['port in use']);
    expect(overseer.getTaskStatus('bad')).toMatchObject({ state: 'failed', attempts: 1, lastError: { kind: 'auth', retryable: false } });
  });

  it('aborts the work of a cancelled task and ignores its late result', async () => {
    const work = controllable();
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: work.executor } });
    overseer.scheduleTask({ id: 'long', executor: 'work' });
    const { outcome } = overseer.run();
    await until(() => work.calls.length === 1);
    overseer.cancelTask('long', 'no longer needed');
    expect(work.calls[0]!.ctx.signal.aborted).toBe(true);
    expect(await outcome).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(overseer.getTaskStatus('long')!.state).toBe('cancelled');
  });

  it('times an attempt out on the injected clock and records it as a timeout', async () => {
    const clock = new SimulatedClock();
    const work = controllable();
    const overseer = createOverseer({ clock, executors: { work: work.executor } });
    overseer.scheduleTask({ id: 'slow', maxRetries: 0, metadata: { executor: { type: 'function', name: 'work' }, timeoutMs: 5000 } });
    const { outcome } = overseer.run();
    await until(() => work.calls.length === 1);
    clock.increment(4999);
    expect(work.calls[0]!.ctx.signal.aborted).toBe(false);
    clock.increment(1);
    expect(work.calls[0]!.ctx.signal.aborted).toBe(true);
    await outcome;
    expect(overseer.getTaskStatus('slow')!.lastError).toMatchObject({ kind: 'timeout', retryable: true });
  });

  it('on the system clock, a timeout longer than a Node.js timer holds (600 h) does not fire at once', async () => {
    // Node fires a delay over 2^31 − 1 ms after 1 ms: the attempt used to time out before this 20 ms of work ended.
    const overseer = createOverseer({ executors: { work: () => new Promise((resolve) => setTimeout(() => resolve('done'), 20)) } });
    overseer.scheduleTask({ id: 'soak', maxRetries: 0, metadata: { executor: { type: 'function', name: 'work' }, timeoutMs: 600 * 3_600_000 } });
    expect((await overseer.run().outcome).exitCode).toBe(0);
    expect(overseer.getTaskStatus('soak')).toMatchObject({ state: 'completed', result: 'done' });
    await overseer.close();
  });

  it('so does a clock the user built on Node.js timers', async () => {
    const clock = { now: () => Date.now(), setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
    const overseer = createOverseer({ clock, executors: { work: () => new Promise((resolve) => setTimeout(() => resolve('done'), 20)) } });
    overseer.scheduleTask({ id: 'soak', maxRetries: 0, metadata: { executor: { type: 'function', name: 'work' }, timeoutMs: 600 * 3_600_000 } });
    expect((await overseer.run().outcome).exitCode).toBe(0);
    await overseer.close();
  });

  it('stop() aborts running work, records it as interrupted, and ends with exit 130', async () => {
    const work = controllable();
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: work.executor } });
    overseer.scheduleTasks([{ id: 'a', executor: 'work' }, { id: 'b', executor: 'work', dependencies: ['a'] }]);
    const { outcome, runner } = overseer.run();
    await until(() => work.calls.length === 1);
    await runner.stop();
    expect(await outcome).toMatchObject({ status: 'interrupted', exitCode: 130 });
    expect(overseer.getTaskStatus('a')!.lastError).toMatchObject({ kind: 'interrupted' });
    expect(work.calls).toHaveLength(1);
  });

  it('ends with exit 3 when only a person can move the run on', async () => {
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: async () => null } });
    overseer.scheduleTasks([{ id: 'a', executor: 'work' }]);
    overseer.pause();
    expect(await overseer.run().outcome).toMatchObject({ status: 'waiting', exitCode: 3 });
  });

  it('fails an attempt whose result JSON cannot hold, and goes on: no crash, no run left waiting', async () => {
    const overseer = createOverseer({
      clock: new SimulatedClock(),
      executors: { dated: async () => ({ createdAt: new Date(0) }) as never, fine: async () => ({ ok: true }) },
    });
    overseer.scheduleTasks([{ id: 'dated', executor: 'dated', priority: 9 }, { id: 'fine', executor: 'fine' }]);
    expect(await overseer.run().outcome).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(overseer.getTaskStatus('dated')).toMatchObject({
      state: 'failed',
      attempts: 1, // not retried: it would fail the same way
      lastError: { kind: 'invalid_result', message: expect.stringContaining('result.createdAt: a Date instance is not plain JSON') },
    });
    expect(overseer.getTaskStatus('fine')).toMatchObject({ state: 'completed', result: { ok: true } });
  });

  it('fails an attempt whose executor throws null or undefined (it did not complete)', async () => {
    const overseer = createOverseer({
      clock: new SimulatedClock(),
      executors: {
        nothing: async () => {
          throw null; // eslint-disable-line no-throw-literal
        },
      },
    });
    overseer.scheduleTask({ id: 'a', executor: 'nothing', maxRetries: 0 });
    await overseer.run().outcome;
    expect(overseer.getTaskStatus('a')).toMatchObject({ state: 'failed', lastError: { message: 'the executor threw null' } });
  });

  it('hears a resume: a run waiting for a person goes on when the pause is lifted', async () => {
    // On a simulated clock that never moves, only the resume can end this wait.
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: async () => 'done' } });
    overseer.scheduleTasks([{ id: 'a', executor: 'work' }]);
    overseer.pause();
    const { outcome } = overseer.run({ waitForPersonMs: 60_000 });
    await tick();
    overseer.resume();
    expect(await outcome).toMatchObject({ status: 'completed', exitCode: 0 });
    await overseer.close();
  });

  it('refuses a second run while one is going (their limits would add up)', async () => {
    const work = controllable();
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: work.executor } });
    overseer.scheduleTasks([{ id: 'a', executor: 'work' }]);
    const first = overseer.run({ concurrency: 1 });
    expect(() => overseer.run({ concurrency: 1 })).toThrow(/a run is already going on this overseer/);
    await until(() => work.calls.length === 1);
    work.calls[0]!.resolve('ok');
    expect(await first.outcome).toMatchObject({ status: 'completed' });
    expect(await overseer.run().outcome).toMatchObject({ status: 'completed' }); // once it has ended, another may start
  });

  it('close() during a run interrupts it: the work is aborted, recorded as interrupted, the outcome says so', async () => {
    const work = controllable();
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: work.executor } });
    overseer.scheduleTasks([{ id: 'a', executor: 'work' }]);
    const { outcome } = overseer.run();
    await until(() => work.calls.length === 1);
    const closed = overseer.close();
    expect(work.calls[0]!.ctx.signal.aborted).toBe(true);
    expect(await outcome).toMatchObject({ status: 'interrupted', exitCode: 130 });
    await closed;
    expect(overseer.getTaskStatus('a')).toMatchObject({ lastError: { kind: 'interrupted' } });
  });

  it("runs a command a task's metadata carries only when the run says so (a service passing its clients' metadata runs nothing by accident)", async () => {
    const overseer = createOverseer({ clock: new SimulatedClock() });
    const spec = { type: 'shell', command: 'echo ran', cwd: process.cwd() };
    overseer.scheduleTasks([{ id: 'cmd', maxRetries: 0, metadata: { executor: spec } }, { id: 'odd', maxRetries: 0, metadata: { executor: { type: 'rm -rf' } } }]);
    await overseer.run().outcome;
    expect(overseer.getTaskStatus('cmd')).toMatchObject({ state: 'failed', attempts: 1, lastError: { kind: 'config', message: expect.stringContaining('run({ commands: true })') } });
    expect(overseer.getTaskStatus('odd')).toMatchObject({ state: 'failed', attempts: 1, lastError: { kind: 'config', message: expect.stringContaining('metadata.executor.type must be shell, agent or function, got "rm -rf"') } });
    overseer.scheduleTask({ id: 'allowed', metadata: { executor: spec } });
    await overseer.run({ commands: true }).outcome;
    expect(overseer.getTaskStatus('allowed')).toMatchObject({ state: 'completed', result: { stdout: 'ran\n' } });
    // Saying how a task runs twice is refused: one would silently replace the other.
    expect(() => overseer.scheduleTask({ id: 'both', executor: 'work', metadata: { executor: spec } })).toThrow(/task\.executor: the task says how it runs twice/);
  });

  it('close() during a run waits for the work to stop before it releases the store: a process ignoring SIGTERM is killed first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overseer-close-'));
    try {
      const overseer = createOverseer({ store: jsonFileStore(join(dir, 'state.json')) });
      const command = `trap '' TERM; echo $$ > pid; while true; do sleep 0.05; done`;
      overseer.scheduleTask({ id: 't', metadata: { executor: { type: 'shell', command, cwd: dir } } });
      const { outcome } = overseer.run({ commands: true, killGraceMs: 100 });
      await until(() => existsSync(join(dir, 'pid')) && /^\d+\n$/.test(readFileSync(join(dir, 'pid'), 'utf8')));
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      await overseer.close();
      expect(alive(pid)).toBe(false); // stopped before close() returned
      expect(await outcome).toMatchObject({ status: 'interrupted' });
      const reopened = createOverseer({ store: jsonFileStore(join(dir, 'state.json')) });
      expect(reopened.getTaskStatus('t')).toMatchObject({ attempts: 1, lastError: { kind: 'interrupted' } });
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the run limits in the store: a run that gives none uses them, after a restart too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overseer-limits-'));
    try {
      const path = join(dir, 'state.json');
      const first = createOverseer({ store: jsonFileStore(path) });
      expect(() => first.setRunLimits({ concurrency: 0, perProjct: {} } as never)).toThrow(/limits\.perProjct: unknown field[\s\S]*limits\.concurrency: must be an integer ≥ 1, got 0/);
      first.setRunLimits({ concurrency: 3, perProject: { deploy: 1 } });
      expect(first.runLimits).toEqual({ concurrency: 3, perProject: { deploy: 1 } });
      await first.close();
      const work = controllable();
      const second = createOverseer({ store: jsonFileStore(path), executors: { work: work.executor } });
      expect(second.runLimits).toEqual({ concurrency: 3, perProject: { deploy: 1 } });
      second.scheduleTasks(['a', 'b', 'c'].map((id) => ({ id, projectId: 'deploy', executor: 'work' })));
      const { outcome } = second.run();
      await until(() => work.calls.length === 1);
      await tick();
      expect(work.calls).toHaveLength(1); // the stored per-project limit of 1
      for (let i = 0; i < 3; i++) {
        await until(() => work.calls.length === i + 1);
        work.calls[i]!.resolve('ok');
      }
      expect(await outcome).toMatchObject({ status: 'completed' });
      expect(work.maxRunning()).toBe(1);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds a task whose result is unsure of itself (confidence below 0.6) for a person; the rest goes on', async () => {
    const seen: { id: string; feedback: readonly string[] }[] = [];
    const work: Executor = async (task, ctx): Promise<JsonValue> => {
      seen.push({ id: task.id, feedback: ctx.feedback });
      return task.id === 'guess' ? { response: 'maybe this', confidence: ctx.attempt === 1 ? 0.3 : 0.9 } : { response: 'sure' };
    };
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work } });
    overseer.scheduleTasks([
      { id: 'guess', executor: 'work', priority: 9 },
      { id: 'uses-guess', executor: 'work', dependencies: ['guess'] },
      { id: 'unrelated', executor: 'work' },
    ]);
    expect(await overseer.run().outcome).toMatchObject({ status: 'waiting', exitCode: 3 });
    const [bp] = overseer.getPendingBreakpoints();
    expect(bp).toMatchObject({ type: 'confidence_too_low', taskId: 'guess', data: { confidence: 0.3, pendingResult: { confidence: 0.3 } } });
    expect(overseer.getTaskStatus('guess')!.state).toBe('blocked'); // not completed: nothing after it has started
    expect(overseer.getTaskStatus('uses-guess')!.state).toBe('pending');
    expect(overseer.getTaskStatus('unrelated')!.state).toBe('completed'); // the project is not held
    // A person sends it back with a note: it runs again, the note as feedback, and goes through.
    overseer.resolveBreakpoint(bp!.id, { decision: 'reject', action: 'retry', note: 'check the edge case' });
    expect(await overseer.run().outcome).toMatchObject({ status: 'completed' });
    expect(seen.filter((s) => s.id === 'guess').at(-1)!.feedback).toEqual(['a person asked for a retry: check the edge case']);
    expect(overseer.getTaskStatus('guess')).toMatchObject({ state: 'completed', result: { confidence: 0.9 } });
  });

  it('an unsure result of a task another rule stops at (a milestone) completes, and every rule raises its own', async () => {
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: async () => ({ response: 'maybe', confidence: 0.3 }) } });
    overseer.scheduleTasks([{ id: 'release', executor: 'work', metadata: { milestone: true } }, { id: 'after', executor: 'work', dependencies: ['release'] }]);
    await overseer.run().outcome;
    expect(overseer.getTaskStatus('release')!.state).toBe('completed');
    expect(overseer.getPendingBreakpoints().map((b) => b.type).sort()).toEqual(['confidence_too_low', 'milestone_completion']);
    expect(overseer.getTaskStatus('after')!.state).toBe('ready'); // held by the project pause, not started
  });

  it('an unsure result a person approves completes its task with that result', async () => {
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: async () => ({ response: 'maybe', confidence: 0.2 }) } });
    overseer.scheduleTasks([{ id: 'guess', executor: 'work' }, { id: 'next', executor: 'work', dependencies: ['guess'] }]);
    await overseer.run().outcome;
    overseer.resolveBreakpoint(overseer.getPendingBreakpoints()[0]!.id, { note: 'good enough' });
    // Accepting the result is not another attempt: it ran once.
    expect(overseer.getTaskStatus('guess')).toMatchObject({ state: 'completed', result: { response: 'maybe', confidence: 0.2 }, attempts: 1 });
    expect(overseer.getTaskStatus('guess')!.history.at(-2)).toMatchObject({ from: 'ready', to: 'running', reason: 'held result accepted' });
    expect(overseer.getTaskStatus('next')!.state).toBe('ready');
  });

  it('an unsure result a person skips keeps the result beside the skip', async () => {
    const overseer = createOverseer({ clock: new SimulatedClock(), executors: { work: async () => ({ response: 'maybe', confidence: 0.2 }) } });
    overseer.scheduleTasks([{ id: 'guess', executor: 'work' }, { id: 'next', executor: 'work', dependencies: ['guess'] }]);
    await overseer.run().outcome;
    overseer.resolveBreakpoint(overseer.getPendingBreakpoints()[0]!.id, { action: 'skip', note: 'not needed now' });
    expect(overseer.getTaskStatus('guess')).toMatchObject({
      state: 'completed',
      attempts: 1,
      result: { skipped: true, note: 'not needed now', heldResult: { response: 'maybe', confidence: 0.2 } },
    });
  });

  it('refuses an unknown executor name as a configuration failure (not retried)', async () => {
    const overseer = createOverseer({ clock: new SimulatedClock() });
    overseer.scheduleTask({ id: 'x', executor: 'missing' });
    await overseer.run().outcome;
    expect(overseer.getTaskStatus('x')).toMatchObject({ state: 'failed', attempts: 1, lastError: { kind: 'config' } });
  });
});
