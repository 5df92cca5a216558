/**
 * The BullMQ dispatch mode in one process, against a real redis-server on 127.0.0.1: the
 * runner hands attempts to `BullmqDispatch`, an in-process `startBullmqWorker` runs them.
 * Outcomes keep their kind, retryability and retry-after; logs come back; priorities map onto
 * BullMQ's; late outcomes are recorded and ignored; a restored supervisor reconciles running
 * attempts with the queue; a Redis restart fails nothing.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BullmqDispatch } from '../actors/bullmq-dispatch.js';
import { bullmqPriority, jobIdFor, parseRedisUrl } from '../actors/bullmq-shared.js';
import { startBullmqWorker, workerErrorLine, type BullmqWorker } from '../actors/bullmq-worker.js';
import { ExecutionError, type Executor } from '../actors/types.js';
import { createOverseer, jsonFileStore, ValidationError } from '../runtime/index.js';
import { cleanUpClis, startCli } from './helpers/cli.js';
import { HAS_REDIS, NO_REDIS_MESSAGE, startRedis, type TestRedis } from './helpers/redis.js';
import { until } from './helpers/until.js';

if (!HAS_REDIS) console.warn(NO_REDIS_MESSAGE);

/** A promise the test opens when it wants. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('pure parts', () => {
  it('job ids name the task and attempt, escaping what BullMQ refuses', () => {
    expect(jobIdFor('build', 2)).toBe('build@2');
    expect(jobIdFor('web:build', 1)).toBe('web%3Abuild@1');
    expect(jobIdFor('50%:x', 1)).toBe('50%25%3Ax@1');
    expect(jobIdFor('7', 1)).toBe('7@1'); // never an integer
    // With a store's run id: another store on the queue, or this one started over, never meets these ids.
    expect(jobIdFor('web:build', 2, 'f00d01')).toBe('f00d01/web%3Abuild@2');
    expect(() => jobIdFor('a', 1, 'no:colons')).toThrow(ValidationError);
  });

  it('translates BullMQ’s lost-lock errors into what happened', () => {
    expect(workerErrorLine(new Error('Missing lock for job slow@1. moveToFinished'))).toBe(
      "overseer: job slow@1: its result was not accepted because Redis lost the job's lock (the supervisor decides whether it runs again)",
    );
    expect(workerErrorLine(new Error('Lock mismatch for job r1/a.b@2. Cmd moveToFinished from active'))).toMatch(/^overseer: job r1\/a\.b@2: its result was not accepted/);
    expect(workerErrorLine(new Error('something else'))).toBeNull();
  });

  it('higher Overseer priority is a lower BullMQ number, never 0 (none)', () => {
    expect(bullmqPriority(13)).toBe(1);
    expect(bullmqPriority(10)).toBe(4);
    expect(bullmqPriority(1)).toBe(13);
    expect(bullmqPriority(0)).toBe(14);
    expect(bullmqPriority(99)).toBe(1);
  });

  it('checks URLs and options with clear errors', async () => {
    expect(parseRedisUrl('redis://127.0.0.1:6380/2').connection).toMatchObject({ host: '127.0.0.1', port: 6380, db: 2 });
    expect(parseRedisUrl('redis://u:p%40ss@localhost').connection).toMatchObject({ port: 6379, username: 'u', password: 'p@ss' });
    expect(() => parseRedisUrl('http://x:1')).toThrow(/must start with redis:\/\//);
    expect(() => parseRedisUrl('redis://x:99999')).toThrow(/not a URL|no valid port/);
    expect(() => parseRedisUrl('')).toThrow(ValidationError);
    await expect(BullmqDispatch.connect({ redis: 'redis://127.0.0.1:1', queue: 'a:b' })).rejects.toThrow(/queue: must be/);
    await expect(BullmqDispatch.connect({ redis: 'nope' })).rejects.toThrow(/redis/);
    await expect(startBullmqWorker({ redis: 'redis://127.0.0.1:1', concurrency: 0 })).rejects.toThrow(/concurrency: must be a whole number/);
  });

  it('an unreachable Redis is reported once the connect timeout passes', async () => {
    await expect(BullmqDispatch.connect({ redis: 'redis://127.0.0.1:1', connectTimeoutMs: 300, report: () => {} })).rejects.toThrow(/cannot reach redis at redis:\/\/127.0.0.1:1/);
  });
});

describe.skipIf(!HAS_REDIS)('BullMQ dispatch against redis-server', () => {
  let redis: TestRedis;
  const closers: (() => Promise<unknown>)[] = [];
  let queueCount = 0;
  const queueName = () => `t${process.pid}-${++queueCount}`;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
    await cleanUpClis(0);
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  async function pair(queue: string, executors: Record<string, Executor>, options: { cancelGraceMs?: number; concurrency?: number } = {}) {
    const reports: string[] = [];
    const worker = await startBullmqWorker({ redis: redis.url, queue, concurrency: options.concurrency ?? 2, executors, report: (l) => reports.push(l) });
    closers.push(() => worker.close({ force: true }));
    const dispatch = await BullmqDispatch.connect({ redis: redis.url, queue, report: (l) => reports.push(l), ...(options.cancelGraceMs !== undefined ? { cancelGraceMs: options.cancelGraceMs } : {}) });
    closers.push(() => dispatch.close());
    return { worker, dispatch, reports };
  }

  it('runs attempts on a worker: results, dependency results, logs, failure kinds, rate limits', async () => {
    const queue = queueName();
    const { dispatch } = await pair(queue, {
      ok: async (task, ctx) => {
        ctx.log(`hello from ${task.id}`);
        return { id: task.id, attempt: ctx.attempt, deps: ctx.dependencyResults };
      },
      limited: async (_task, ctx) => {
        if (ctx.attempt === 1) throw new ExecutionError('429: slow down', { kind: 'rate_limit', retryable: true, retryAfterMs: 30 });
        return 'second time lucky';
      },
      broken: async () => {
        throw new ExecutionError('no such API key', { kind: 'config', retryable: false });
      },
    });
    const overseer = createOverseer({ retry: { baseDelayMs: 10 } });
    overseer.scheduleTasks([
      { id: 'a', executor: 'ok' },
      { id: 'b', executor: 'ok', dependencies: ['a'] },
      { id: 'r', executor: 'limited' },
      { id: 'x', executor: 'broken' },
    ]);
    const logs: string[] = [];
    const { outcome } = overseer.run({ dispatch, onLog: (id, line) => logs.push(`${id}: ${line}`) });
    expect((await outcome).status).toBe('failed');
    expect(overseer.getTaskStatus('b')!.result).toEqual({ id: 'b', attempt: 1, deps: { a: { id: 'a', attempt: 1, deps: {} } } });
    expect(logs).toContain('a: hello from a');
    expect(logs).toContain(`a: [overseer] attempt 1 ran on worker ${hostname()}:${process.pid}`); // which worker ran it
    const r = overseer.getTaskStatus('r')!;
    expect(r.state).toBe('completed');
    expect(r.history.find((h) => h.to === 'failed')?.kind).toBe('rate_limit');
    // The retry waited at least the rate limit's retry-after, not the 10 ms backoff.
    const failedAt = r.history.find((h) => h.to === 'failed')!.at;
    const readyAgain = r.history.find((h) => h.from === 'retrying' && h.to === 'ready')!.at;
    expect(readyAgain - failedAt).toBeGreaterThanOrEqual(30);
    const x = overseer.getTaskStatus('x')!;
    expect(x).toMatchObject({ state: 'failed', attempts: 1, lastError: { kind: 'config', retryable: false } });
    await overseer.close();
  });

  it('puts jobs on the queue with the tasks’ priorities, attempts: 1, and the supervisor’s concurrency', async () => {
    const queue = queueName();
    const dispatch = await BullmqDispatch.connect({ redis: redis.url, queue, report: () => {} });
    closers.push(() => dispatch.close());
    const inspect = new Queue(queue, { connection: parseRedisUrl(redis.url).connection });
    closers.push(() => inspect.close());
    const overseer = createOverseer();
    overseer.scheduleTasks([
      { id: 'low', priority: 1, executor: 'ok' },
      { id: 'high', priority: 10, executor: 'ok' },
      { id: 'mid', priority: 5, executor: 'ok' },
      { id: 'later', priority: 5, executor: 'ok' },
    ]);
    const { outcome } = overseer.run({ dispatch, concurrency: 3 });
    const jobs = await until('three jobs queued', async () => {
      const js = await inspect.getJobs(['prioritized', 'waiting']);
      return js.length === 3 && js;
    });
    // No worker yet: only the supervisor's 3 are out, never the 4th.
    expect(await inspect.getJob(jobIdFor('low', 1))).toBeUndefined();
    const byId = Object.fromEntries(jobs.map((j) => [j.id, j.opts]));
    expect(byId['high@1']).toMatchObject({ priority: bullmqPriority(10), attempts: 1 });
    expect(byId['mid@1']).toMatchObject({ priority: bullmqPriority(5) });
    expect(byId['later@1']).toMatchObject({ priority: bullmqPriority(5) });
    const order: string[] = [];
    const worker = await startBullmqWorker({ redis: redis.url, queue, concurrency: 1, executors: { ok: async (t) => void order.push(t.id) }, report: () => {} });
    closers.push(() => worker.close());
    expect((await outcome).status).toBe('completed');
    // BullMQ honoured the mapping: low was queued after high finished, yet ran after mid and later.
    expect(order).toEqual(['high', 'mid', 'later', 'low']);
    await overseer.close();
  });

  it('a timeout on the supervisor’s clock stops the work on the worker and fails the attempt as a timeout', async () => {
    const queue = queueName();
    const seen: string[] = [];
    const { dispatch } = await pair(queue, {
      hang: (_task, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            seen.push((ctx.signal.reason as Error).name);
            reject(new ExecutionError('stopped', { kind: 'timeout', retryable: true }));
          });
        }),
    });
    const overseer = createOverseer();
    overseer.scheduleTask({ id: 'h', maxRetries: 0, metadata: { executor: { type: 'function', name: 'hang' }, timeoutMs: 200 } });
    const { outcome } = overseer.run({ dispatch });
    expect((await outcome).status).toBe('failed');
    expect(overseer.getTaskStatus('h')).toMatchObject({ state: 'failed', lastError: { kind: 'timeout', message: 'timed out after 200 ms: stopped' } });
    expect(seen).toEqual(['TimeoutError']); // the worker's executor was told, as a timeout
    await overseer.close();
  });

  it('records and ignores a late outcome for an attempt it gave up on', async () => {
    const queue = queueName();
    const release = gate();
    const started = gate();
    const { dispatch, reports } = await pair(
      queue,
      {
        // Ignores its signal, as broken work does: the cancel is never confirmed in time.
        stubborn: async () => {
          started.open();
          await release.opened;
          return 'too late';
        },
      },
      { cancelGraceMs: 100 },
    );
    const overseer = createOverseer();
    overseer.scheduleTask({ id: 's', executor: 'stubborn' });
    const { outcome } = overseer.run({ dispatch });
    await started.opened;
    overseer.cancelTask('s', 'not needed');
    expect((await outcome).status).toBe('failed'); // cancelled
    release.open();
    const late = await until('the late outcome', () => dispatch.late[0]);
    expect(late).toMatchObject({ taskId: 's', attempt: 1, jobId: 's@1', outcome: { ok: true, result: 'too late' } });
    expect(reports.some((l) => /ignored a late outcome: a result for "s" attempt 1/.test(l))).toBe(true);
    expect(overseer.getTaskStatus('s')).toMatchObject({ state: 'cancelled', result: null });
    await overseer.close();
  });

  it('a restored supervisor applies a job that finished while it was down once, and retries a lost attempt', async () => {
    const queue = queueName();
    const runs: string[] = [];
    const { dispatch } = await pair(queue, { ok: async (t, ctx) => (runs.push(`${t.id}@${ctx.attempt}`), { by: 'worker', attempt: ctx.attempt }) });
    const dir = mkdtempSync(join(tmpdir(), 'overseer-bullmq-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'state.json');
    const first = createOverseer({ store: jsonFileStore(path) });
    first.scheduleTasks([{ id: 'done-while-down', executor: 'ok' }, { id: 'never-queued', executor: 'ok' }]);
    const t = first.getNextTask()!;
    first.getNextTask(); // running, but the supervisor "dies" before queueing it
    // The job runs and finishes; the supervisor stops before it hears the outcome.
    await dispatch.run(t, { signal: new AbortController().signal, attempt: t.attempts, log: () => {}, dependencyResults: {}, feedback: [] });
    await first.close();

    const second = createOverseer({ store: jsonFileStore(path), onRestoreRunning: 'keep' });
    expect(second.recovery?.interrupted).toEqual([]);
    expect(second.getTasks({ state: 'running' }).map((x) => x.id)).toEqual(['done-while-down', 'never-queued']);
    const { outcome } = second.run({ dispatch });
    expect((await outcome).status).toBe('completed');
    expect(second.getTaskStatus('done-while-down')).toMatchObject({ attempts: 1, result: { by: 'worker', attempt: 1 } });
    expect(second.getTaskStatus('never-queued')).toMatchObject({ attempts: 2, lastError: { kind: 'interrupted' } });
    expect(runs.sort()).toEqual(['done-while-down@1', 'never-queued@2']); // nothing ran twice
    await second.close();
  });

  it('close() during a dispatched run leaves the attempt to its worker: a restored supervisor re-attaches, nothing runs twice', async () => {
    const queue = queueName();
    const runs: string[] = [];
    const release = gate();
    const { dispatch } = await pair(queue, { slow: async (t, ctx) => (runs.push(`${t.id}@${ctx.attempt}`), await release.opened, { attempt: ctx.attempt }) });
    const dir = mkdtempSync(join(tmpdir(), 'overseer-bullmq-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'state.json');
    const first = createOverseer({ store: jsonFileStore(path) });
    first.scheduleTask({ id: 'a', executor: 'slow' });
    const { outcome } = first.run({ dispatch });
    await until('the worker to start a', () => runs.length === 1);
    await first.close();
    await dispatch.close(); // the supervisor's process ends
    expect(await outcome).toMatchObject({ status: 'interrupted' });
    // A new supervisor process, with its own connection to the queue.
    const second = createOverseer({ store: jsonFileStore(path), onRestoreRunning: 'keep' });
    expect(second.getTaskStatus('a')).toMatchObject({ state: 'running', attempts: 1 }); // still its worker's
    const redispatch = await BullmqDispatch.connect({ redis: redis.url, queue, report: () => {} });
    closers.push(() => redispatch.close());
    const again = second.run({ dispatch: redispatch });
    release.open();
    expect(await again.outcome).toMatchObject({ status: 'completed' });
    expect(second.getTaskStatus('a')).toMatchObject({ attempts: 1, result: { attempt: 1 } });
    expect(runs).toEqual(['a@1']); // nothing ran twice
    await second.close();
  });

  it('a shell command in a task\'s metadata is not dispatched unless the run allows commands', async () => {
    const queue = queueName();
    const { dispatch } = await pair(queue, {});
    const overseer = createOverseer();
    closers.push(() => overseer.close());
    overseer.scheduleTask({ id: 'cmd', maxRetries: 0, metadata: { executor: { type: 'shell', command: 'echo ran', cwd: tmpdir() } } });
    expect(await overseer.run({ dispatch }).outcome).toMatchObject({ status: 'failed' });
    expect(overseer.getTaskStatus('cmd')).toMatchObject({ state: 'failed', lastError: { kind: 'config', message: expect.stringContaining('run({ commands: true })') } });
  });

  it('a queue that still holds jobs of the same ids from an earlier run (no run id): each attempt runs once and succeeds', async () => {
    const queue = queueName();
    const runs: string[] = [];
    const { dispatch, reports } = await pair(queue, { ok: async (t, ctx) => (runs.push(`${t.id}@${ctx.attempt}`), t.id) });
    for (const round of [1, 2]) {
      const overseer = createOverseer();
      overseer.scheduleTasks(['a', 'b'].map((id) => ({ id, executor: 'ok', maxRetries: 0 })));
      const { outcome } = overseer.run({ dispatch });
      expect((await outcome).status, `round ${round}: ${JSON.stringify(overseer.getTasks().map((t) => t.history))}`).toBe('completed');
      expect(overseer.getTasks().map((t) => t.attempts)).toEqual([1, 1]);
      await overseer.close();
    }
    expect(runs.sort()).toEqual(['a@1', 'a@1', 'b@1', 'b@1']); // once per run, never twice in one
    expect(reports.filter((l) => /ignored a late outcome|interrupted/.test(l))).toEqual([]);
  });

  it('jobs waiting with no worker connected are reported', async () => {
    const queue = queueName();
    const reports: string[] = [];
    const dispatch = await BullmqDispatch.connect({ redis: redis.url, queue, report: (l) => reports.push(l), sweepMs: 100, noWorkerNoticeMs: 300 });
    closers.push(() => dispatch.close());
    const overseer = createOverseer();
    closers.push(() => overseer.close());
    overseer.scheduleTasks([{ id: 'a', executor: 'ok' }, { id: 'b', executor: 'ok' }]);
    const { outcome } = overseer.run({ dispatch });
    const notice = await until('the no-worker notice', () => reports.find((l) => /waiting in queue/.test(l)));
    expect(notice).toMatch(new RegExp(`^overseer: 2 job\\(s\\) waiting in queue ${queue} and no worker has taken one for \\d+ s \\(no worker is connected\\) — start \`overseer worker --redis redis://127.0.0.1:\\d+ --queue ${queue}\``));
    const worker = await startBullmqWorker({ redis: redis.url, queue, executors: { ok: async () => 'done' }, report: () => {} });
    closers.push(() => worker.close());
    expect((await outcome).status).toBe('completed');
    expect(reports.filter((l) => /waiting in queue/.test(l))).toHaveLength(1); // once, not every sweep
  });

  it('the only worker dies mid-task: the supervisor notices (no timeout needed), and a new worker completes the plan', async () => {
    const queue = queueName();
    const dir = mkdtempSync(join(tmpdir(), 'overseer-bullmq-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const reports: string[] = [];
    const dispatch = await BullmqDispatch.connect({ redis: redis.url, queue, report: (l) => reports.push(l), stalledCheckMs: 200 });
    closers.push(() => dispatch.close());
    const workerArgs = ['worker', '--redis', redis.url, '--queue', queue, '--lock-duration', '1s'];
    const first = startCli(workerArgs);
    await until('the worker ready', () => /processing .* queue/.test(first.stderr()));
    const overseer = createOverseer({ retry: { baseDelayMs: 10 } });
    closers.push(() => overseer.close());
    const command = `if [ -e ${dir}/tried ]; then echo second; else touch ${dir}/tried; echo $$ > ${dir}/pid; exec sleep 60; fi`;
    overseer.scheduleTask({ id: 'v', maxRetries: 1, metadata: { executor: { type: 'shell', command, cwd: dir }, timeoutMs: null } });
    const { outcome } = overseer.run({ dispatch, commands: true }); // a shell command: allowed, as the CLI allows it
    const pid = Number(await until('the task’s pid', () => existsSync(join(dir, 'pid')) && readFileSync(join(dir, 'pid'), 'utf8').trim()));
    // The machine dies: the worker and the work it started.
    first.child.kill('SIGKILL');
    closers.push(async () => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } });
    const failed = await until('the attempt to fail as worker_lost', () => overseer.getTaskStatus('v')!.history.find((h) => h.to === 'failed'));
    expect(failed).toMatchObject({ kind: 'worker_lost' });
    const second = startCli(workerArgs);
    await until('the new worker ready', () => /processing .* queue/.test(second.stderr()));
    expect((await outcome).status).toBe('completed');
    expect(overseer.getTaskStatus('v')).toMatchObject({ state: 'completed', attempts: 2, result: expect.objectContaining({ stdout: expect.stringContaining('second') }) });
    expect(reports.filter((l) => /late outcome/.test(l))).toEqual([]); // the lost worker's stalled job is not a late result
  });

  /** Five slow tasks, two running when Redis restarts (with its data, or without); the run must still complete with nothing failed. */
  async function throughRedisRestart(persist: boolean) {
    const own = await startRedis({ persist });
    closers.push(() => own.dispose());
    const queue = queueName();
    const release = gate();
    const runs: string[] = [];
    const reports: string[] = [];
    const worker: BullmqWorker = await startBullmqWorker({
      redis: own.url, queue, concurrency: 2, report: (l) => reports.push(`worker: ${l}`),
      executors: { slow: async (t) => (runs.push(t.id), await release.opened, t.id) },
    });
    closers.push(() => worker.close({ force: true }));
    const dispatch = await BullmqDispatch.connect({ redis: own.url, queue, report: (l) => reports.push(`dispatch: ${l}`) });
    closers.push(() => dispatch.close());
    const overseer = createOverseer({ retry: { baseDelayMs: 10 } });
    closers.push(() => overseer.close());
    overseer.scheduleTasks(['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, executor: 'slow' })));
    const { outcome } = overseer.run({ dispatch, concurrency: 4 });
    await until('two jobs running', () => runs.length === 2);
    await own.restart();
    await until('the dispatcher reconnected', () => reports.some((l) => /^dispatch: overseer: redis connection back/.test(l)));
    release.open();
    expect((await outcome).status).toBe('completed');
    const failures = overseer.getTasks().flatMap((t) => t.history.filter((h) => h.to === 'failed').map((h) => `${t.id}: ${h.reason}`));
    expect(failures, reports.join('\n') + JSON.stringify(overseer.getTasks().map((t) => t.history))).toEqual([]);
    return { runs, reports, overseer };
  }

  it('a Redis restart mid-run fails nothing, and the outage is reported once', async () => {
    const { runs, reports } = await throughRedisRestart(true);
    expect(runs.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(reports.filter((l) => /^dispatch: overseer: redis connection lost \(redis:\/\/127.0.0.1:\d+: .*\); retrying in \d+ ms/.test(l))).toHaveLength(1);
  });

  it('a Redis that lost its data in a restart: the jobs in flight are queued again and nothing fails', async () => {
    const { runs, reports, overseer } = await throughRedisRestart(false);
    // At least once: the two attempts whose jobs Redis lost ran again.
    expect([...new Set(runs)].sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(runs.filter((id) => id === 'a' || id === 'b').sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(overseer.getTasks().every((t) => t.attempts === 1)).toBe(true);
    // Said once, with the count, where the run's output shows it (not only in the tasks' logs).
    expect(reports.filter((l) => /^dispatch: overseer: redis lost \d+ job\(s\) in flight/.test(l))).toEqual([
      expect.stringMatching(/redis lost 4 job\(s\) in flight after the outage .*queued again, so their work runs again/),
    ]);
  });
});
