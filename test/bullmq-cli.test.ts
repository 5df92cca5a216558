/**
 * The BullMQ dispatch mode end to end, as users run it: `overseer run --dispatch bullmq` and
 * `overseer worker` as separate processes, against a real redis-server on 127.0.0.1 (started
 * and stopped here, on a free port). Tasks are shell commands that leave files behind, so the
 * tests wait for conditions (never fixed sleeps) and count executions.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOverseer, jsonFileStore, type TaskView } from '../runtime/index.js';
import { cleanUpClis, startCli, tempDir as tempDirIn, until as untilWithin } from './helpers/cli.js';
import { alive } from './helpers/processes.js';
import { HAS_REDIS, NO_REDIS_MESSAGE, startRedis, type TestRedis } from './helpers/redis.js';

if (!HAS_REDIS) console.warn(NO_REDIS_MESSAGE);

const groups: number[] = [];

/** Starts `overseer <args>`; `exited` is its exit code. */
function overseer(args: string[]) {
  const run = startCli(args);
  return { child: run.child, stdout: run.stdout, stderr: run.stderr, exited: run.exited.then((e) => e.code) };
}

type Proc = ReturnType<typeof overseer>;
const until = <T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 20_000) => untilWithin(what, probe, timeoutMs);
const tempDir = () => tempDirIn('overseer-bullmq-cli-');

function writePlan(dir: string, plan: object): string {
  const path = join(dir, 'plan.json');
  writeFileSync(path, JSON.stringify(plan));
  return path;
}

async function readTasks(store: string): Promise<TaskView[]> {
  const o = createOverseer({ store: jsonFileStore(store) });
  const tasks = o.getTasks();
  await o.close();
  return tasks;
}

const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);

afterEach(async () => {
  await cleanUpClis(0);
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe('bad input', () => {
  it('refuses a missing or malformed Redis URL and an unknown mode with exit 2, and explains the options', async () => {
    const dir = tempDir();
    const plan = writePlan(dir, { name: 'p', tasks: [{ id: 'a', command: 'true' }] });
    const store = join(dir, 's.json');
    const noUrl = overseer(['run', plan, '--store', store, '--dispatch', 'bullmq']);
    const badUrl = overseer(['run', plan, '--store', store, '--dispatch', 'bullmq', '--redis', 'http://127.0.0.1:6379']);
    const badMode = overseer(['run', plan, '--store', store, '--dispatch', 'carrier-pigeon']);
    const unreachable = overseer(['worker', '--redis', 'redis://127.0.0.1:1', '--connect-timeout', '300ms']);
    const help = overseer(['run', '--help']);
    const workerHelp = overseer(['worker', '--help']);
    const badExecutors = overseer(['worker', '--redis', 'redis://127.0.0.1:1', '--executors', join(dir, 'missing.js')]);
    expect(await noUrl.exited).toBe(2);
    expect(noUrl.stderr()).toMatch(/--dispatch bullmq.*needs --redis <url>/s);
    expect(await badUrl.exited).toBe(2);
    expect(badUrl.stderr()).toMatch(/--redis.*must start with redis:\/\//s);
    expect(await badMode.exited).toBe(2);
    expect(badMode.stderr()).toMatch(/must be local or bullmq/);
    expect(await unreachable.exited).toBe(2);
    expect(unreachable.stderr()).toMatch(/cannot reach redis at redis:\/\/127.0.0.1:1/);
    expect(await badExecutors.exited).toBe(2);
    expect(badExecutors.stderr()).toMatch(/--executors.*cannot load/s);
    expect(await help.exited).toBe(0);
    expect(await workerHelp.exited).toBe(0);
    expect(help.stdout()).toMatch(/--dispatch <mode>.*bullmq/s);
    expect(help.stdout()).toMatch(/--redis <url>/);
    expect(workerHelp.stdout()).toMatch(/--redis <url>\s+\(required\)/);
    expect(existsSync(store)).toBe(false);
  });

  it('--fresh discards nothing when Redis cannot be reached', async () => {
    const dir = tempDir();
    const plan = writePlan(dir, { name: 'p', tasks: [{ id: 'a', command: 'true' }] });
    const store = join(dir, 'kept.json');
    const local = overseer(['run', plan, '--store', store]);
    expect(await local.exited, local.stderr()).toBe(0);
    const fresh = overseer(['run', plan, '--store', store, '--fresh', '--dispatch', 'bullmq', '--redis', 'redis://127.0.0.1:1', '--connect-timeout', '300ms']);
    expect(await fresh.exited).toBe(2);
    expect(fresh.stderr()).toMatch(/cannot reach redis/);
    expect((await readTasks(store)).map((t) => t.state)).toEqual(['completed']);
  });
});

describe.skipIf(!HAS_REDIS)('overseer run --dispatch bullmq with overseer worker processes', () => {
  let redis: TestRedis;
  let n = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  /** Starts a worker and waits until it takes jobs. */
  async function worker(queue: string, ...extra: string[]): Promise<Proc> {
    const w = overseer(['worker', '--redis', redis.url, '--queue', queue, ...extra]);
    await until(`worker ${w.child.pid} ready\n${w.stderr()}`, () => /processing .* queue/.test(w.stderr()) || w.child.exitCode !== null);
    expect(w.child.exitCode).toBeNull();
    return w;
  }

  const dispatchArgs = (queue: string) => ['--dispatch', 'bullmq', '--redis', redis.url, '--queue', queue];

  it('runs a plan across two worker processes, and the supervisor’s concurrency holds across them', async () => {
    const dir = tempDir();
    const queue = `spread-${process.pid}-${++n}`;
    const ids = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'];
    writeFileSync(join(dir, '.keep'), '');
    const plan = writePlan(dir, {
      name: 'spread',
      concurrency: { global: 3 },
      defaults: { cwd: '.' },
      tasks: ids.map((id) => ({
        id,
        command: `mkdir -p running && touch running/${id} && ls running | wc -l >> counts && sleep 0.4 && rm running/${id} && echo ${id} >> done`,
      })),
    });
    const [a, b] = [await worker(queue, '--concurrency', '2'), await worker(queue, '--concurrency', '2')];
    const run = overseer(['run', plan, '--store', join(dir, 's.json'), ...dispatchArgs(queue)]);
    expect(await run.exited, run.stderr()).toBe(0);
    const did = (w: Proc) => [...w.stdout().matchAll(/: (t\d) attempt 1 \(job \w+\/t\d@1\) completed/g)].map((m) => m[1]!);
    expect(did(a).length).toBeGreaterThan(0);
    expect(did(b).length).toBeGreaterThan(0);
    expect([...did(a), ...did(b)].sort()).toEqual(ids);
    expect(lines(join(dir, 'done')).sort()).toEqual(ids); // each ran once
    // 4 worker slots, but never more than the supervisor's 3 at once.
    expect(Math.max(...lines(join(dir, 'counts')).map(Number))).toBeLessThanOrEqual(3);
    expect((await readTasks(join(dir, 's.json'))).every((t) => t.state === 'completed' && t.attempts === 1)).toBe(true);
  });

  it('a worker killed mid-task: its job is retried through the retry policy and the plan completes', async () => {
    const dir = tempDir();
    const queue = `kill-${process.pid}-${++n}`;
    const plan = writePlan(dir, {
      name: 'kill',
      concurrency: { global: 2 },
      defaults: { cwd: '.', retries: 2, retryDelay: '1m' },
      tasks: [
        { id: 'victim', command: 'if [ -e attempted ]; then echo second time; else touch attempted; echo $$ > victim.pid; exec sleep 60; fi' },
        { id: 'after', command: 'echo after', dependsOn: ['victim'] },
      ],
    });
    const workers = [await worker(queue, '--lock-duration', '1s'), await worker(queue, '--lock-duration', '1s')];
    const store = join(dir, 's.json');
    const run = overseer(['run', plan, '--store', store, ...dispatchArgs(queue)]);
    const pid = Number(await until('the victim’s pid file', () => existsSync(join(dir, 'victim.pid')) && readFileSync(join(dir, 'victim.pid'), 'utf8').trim()));
    groups.push(pid);
    const doomed = await until('the worker running the victim', () => workers.find((w) => /victim attempt 1 \(job \w+\/victim@1\) started/.test(w.stdout())));
    const survivor = workers.find((w) => w !== doomed)!;
    // The machine dies: the worker and the work it started.
    doomed.child.kill('SIGKILL');
    process.kill(-pid, 'SIGKILL');
    expect(await run.exited, run.stderr()).toBe(0);
    expect(survivor.stdout()).toMatch(/victim attempt 2 \(job \w+\/victim@2\) completed/);
    const victim = (await readTasks(store)).find((t) => t.id === 'victim')!;
    expect(victim).toMatchObject({ state: 'completed', attempts: 2, retries: 1 });
    expect(victim.history.find((h) => h.to === 'failed')).toMatchObject({ kind: 'worker_lost' });
    expect(victim.history.find((h) => h.to === 'failed')!.reason).toMatch(/worker lost/);
  });

  it('a worker killed with SIGKILL: the next worker started on the machine stops the task processes it left running', async () => {
    const dir = tempDir();
    const state = join(dir, 'workers');
    const queue = `orphan-${process.pid}-${++n}`;
    const sleeper = (id: string, priority: number) => ({ id, priority, command: `echo $$ > ${id}.pid; exec sleep 60` });
    const plan = writePlan(dir, { name: 'orphan', defaults: { cwd: '.', retries: 2, retryDelay: '1m' }, tasks: [sleeper('victim', 9), sleeper('other', 1)] });
    const pidOf = (id: string) => until(`${id}’s pid file`, () => existsSync(join(dir, `${id}.pid`)) && Number(readFileSync(join(dir, `${id}.pid`), 'utf8').trim()));
    const doomed = await worker(queue, '--state-dir', state, '--lock-duration', '1s');
    overseer(['run', plan, '--store', join(dir, 's.json'), ...dispatchArgs(queue)]);
    const victim = await pidOf('victim');
    groups.push(victim);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    expect(alive(victim)).toBe(true); // nothing stopped it: it runs on, unsupervised
    const next = await worker(queue, '--state-dir', state);
    expect(next.stderr()).toMatch(/stopped the processes a killed worker left running \(1 task process group\(s\)\): .*victim/);
    await until('the orphan gone', () => !alive(victim));
    // The next worker takes the other task; a worker started beside it leaves a live worker's processes alone.
    const other = await pidOf('other');
    groups.push(other);
    const third = await worker(queue, '--state-dir', state);
    expect(third.stderr()).not.toMatch(/stopped the processes/);
    expect(alive(other)).toBe(true);
  });

  it('a supervisor killed mid-run and resumed: jobs finished while it was down are applied once, nothing lost or run twice', async () => {
    const dir = tempDir();
    const queue = `restart-${process.pid}-${++n}`;
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    const plan = writePlan(dir, {
      name: 'restart',
      concurrency: { global: 3 },
      defaults: { cwd: '.', retryDelay: '1s' },
      tasks: ids.map((id) => ({ id, command: `echo s >> starts.${id} && sleep 1 && echo e >> ends.${id}` })),
    });
    await worker(queue, '--concurrency', '2', '--lock-duration', '10s');
    await worker(queue, '--concurrency', '2', '--lock-duration', '10s');
    const store = join(dir, 's.json');
    const first = overseer(['run', plan, '--store', store, ...dispatchArgs(queue)]);
    const started = () => readdirSync(dir).filter((f) => f.startsWith('starts.')).map((f) => f.slice(7));
    const ended = () => readdirSync(dir).filter((f) => f.startsWith('ends.')).map((f) => f.slice(5));
    const inFlight = await until('attempts running on the workers', () => {
      const running = started().filter((id) => !ended().includes(id));
      return running.length >= 2 && running;
    });
    first.child.kill('SIGKILL');
    await first.exited;
    // While the supervisor is down, the workers finish what they had.
    await until('the in-flight attempts to finish without a supervisor', () => inFlight.every((id) => ended().includes(id)));
    // A resume that forgot how the store was run is refused, before it touches anything.
    const forgot = overseer(['resume', '--store', store]);
    expect(await forgot.exited).toBe(2);
    expect(forgot.stderr()).toMatch(new RegExp(`last run with --dispatch bullmq --queue ${queue}: give --redis <url>`));
    const otherQueue = overseer(['resume', '--store', store, '--dispatch', 'bullmq', '--redis', redis.url, '--queue', 'elsewhere']);
    expect(await otherQueue.exited).toBe(2);
    expect(otherQueue.stderr()).toMatch(new RegExp(`--queue elsewhere: .* last run on queue ${queue}`));
    const resumed = overseer(['resume', '--store', store, '--redis', redis.url]); // the queue and mode are remembered
    expect(await resumed.exited, resumed.stderr()).toBe(0);
    expect(resumed.stderr()).toMatch(/were running when the supervisor stopped; reconciling them with the queue/);
    const tasks = await readTasks(store);
    expect(tasks.map((t) => t.state)).toEqual(ids.map(() => 'completed'));
    for (const id of ids) {
      expect(lines(join(dir, `ends.${id}`)), `${id} ran to its end exactly once`).toHaveLength(1);
      expect(lines(join(dir, `starts.${id}`)), `${id} started exactly once`).toHaveLength(1);
    }
    // The attempts that finished while the supervisor was down were applied, not run again.
    for (const id of inFlight) expect(tasks.find((t) => t.id === id)!.attempts).toBe(1);
  });

  it('a plan run again on the same queue with --fresh: every task runs exactly once per run, within the limit', async () => {
    const dir = tempDir();
    const queue = `again-${process.pid}-${++n}`;
    const ids = ['a', 'b', 'c'];
    const plan = writePlan(dir, {
      name: 'again',
      concurrency: { global: 2 },
      defaults: { cwd: '.', retries: 0 },
      tasks: ids.map((id) => ({ id, command: `mkdir -p running && touch running/${id} && ls running | wc -l >> counts && echo ${id} >> ran && sleep 0.2 && rm running/${id}` })),
    });
    await worker(queue, '--concurrency', '3');
    const store = join(dir, 's.json');
    const runIds: string[] = [];
    for (const round of [1, 2]) {
      const run = overseer(['run', plan, '--store', store, '--fresh', ...dispatchArgs(queue)]);
      expect(await run.exited, `round ${round}: ${run.stderr()}`).toBe(0);
      expect(lines(join(dir, 'ran')).sort(), `round ${round}`).toEqual(ids.flatMap((id) => Array(round).fill(id)).sort());
      expect((await readTasks(store)).map((t) => [t.id, t.state, t.attempts])).toEqual(ids.map((id) => [id, 'completed', 1]));
      runIds.push(JSON.parse(readFileSync(`${store}.dispatch`, 'utf8')).runId);
    }
    expect(Math.max(...lines(join(dir, 'counts')).map(Number))).toBeLessThanOrEqual(2);
    // --fresh starts over with a new run id: the jobs kept from the first run are never touched.
    expect(runIds[0]).toMatch(/^[0-9a-f]{10}$/);
    expect(runIds[1]).not.toBe(runIds[0]);
  });

  it('a database number the server does not have is bad input (exit 2), said once', async () => {
    const dir = tempDir();
    const plan = writePlan(dir, { name: 'p', tasks: [{ id: 'a', command: 'true' }] });
    const url = `${redis.url}/99`;
    const run = overseer(['run', plan, '--store', join(dir, 's.json'), '--dispatch', 'bullmq', '--redis', url]);
    const w = overseer(['worker', '--redis', url]);
    for (const p of [run, w]) {
      expect(await p.exited, p.stderr()).toBe(2);
      expect(p.stderr()).toMatch(/redis has no database 99 \(ERR DB index is out of range\)/);
      expect(p.stderr().match(/DB index/g)).toHaveLength(1);
    }
  });

  it('cancelling a task stops its process on the worker', async () => {
    const dir = tempDir();
    const queue = `cancel-${process.pid}-${++n}`;
    const plan = writePlan(dir, { name: 'cancel', defaults: { cwd: '.' }, tasks: [{ id: 'long', command: 'echo $$ > long.pid; echo about to wait >&2; sleep 60 & wait' }] });
    const w = await worker(queue, '--kill-grace', '2s');
    const store = join(dir, 's.json');
    const run = overseer(['run', plan, '--store', store, ...dispatchArgs(queue)]);
    const pid = Number(await until('the task’s pid file', () => existsSync(join(dir, 'long.pid')) && readFileSync(join(dir, 'long.pid'), 'utf8').trim()));
    groups.push(pid);
    expect(alive(pid)).toBe(true);
    const cancel = overseer(['cancel', 'long', '--store', store, '--reason', 'changed my mind']);
    expect(await cancel.exited, cancel.stderr()).toBe(0);
    await until('the task’s process to be gone', () => !alive(pid));
    expect(await run.exited).toBe(1); // a cancelled task: not everything completed
    await until('the worker to report it', () => /long attempt 1 \(job \w+\/long@1\) failed \(cancelled\): .*was cancelled \(cancelled: changed my mind\)/.test(w.stdout()));
    expect(w.stdout()).toMatch(/\n {4}\| about to wait\n/); // what the work printed last, under its failure line
    expect((await readTasks(store))[0]).toMatchObject({ state: 'cancelled' });
  });
});
