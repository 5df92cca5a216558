/**
 * `npm run bench` / `npm run bench:peers` (adds BullMQ on a local Redis it starts itself).
 * Every measurement runs in a fresh process; W1 figures are medians of BENCH_RUNS runs.
 * Prints a markdown report and writes it to docs/benchmarks.md.
 *
 *   BENCH_RUNS=3  BENCH_SIZES=10000,100000  BENCH_PROFILE=1 (0: no CPU profiles)
 *   BENCH_DISPATCH_SIZE=10000 (W1 through BullMQ dispatch with 1 and 2 worker processes, with --peers)
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { profileChild } from './profile.js';
import { hasRedisServer, startRedis, type Redis } from './redis.js';
import { render, type Measured, type W1Row } from './report.js';
import { median } from './stats.js';
import type { W1Result } from './w1-child.js';

const PEERS = process.argv.includes('--peers');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '10000,100000').split(',').map(Number);
const LARGEST = Math.max(...SIZES);
const DISPATCH_SIZE = Number(process.env.BENCH_DISPATCH_SIZE ?? 10_000);
const DISPATCHED = ['overseer+bullmq 1 worker', 'overseer+bullmq 2 workers'];
const PROFILE = process.env.BENCH_PROFILE !== '0';
const began = Date.now();

const log = (line: string) => process.stderr.write(`[${Math.round((Date.now() - began) / 1000)} s] ${line}\n`);

function child<T>(script: string, args: (string | number)[], env: Record<string, string> = {}): T {
  const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(new URL(`./${script}`, import.meta.url)), ...args.map(String)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 * 2 ** 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

/** The medians of one contender's runs at one size. */
function w1Row(n: number, contender: string, rs: W1Result[]): W1Row {
  const med = (f: (r: W1Result) => number | undefined) => (f(rs[0]!) !== undefined ? median(rs.map((r) => f(r)!)) : undefined);
  const { journalBytes, journalRecords, snapshotBytes } = rs[0]!; // the same in every run
  return {
    n,
    contender,
    ms: med((r) => r.ms)!,
    tps: med((r) => r.tasksPerSecond)!,
    heap: med((r) => r.heapBytesPerTask)!,
    rss: med((r) => r.peakRssMB)!,
    flushMs: med((r) => r.flushMs),
    closeMs: med((r) => r.closeMs),
    redisBytes: med((r) => r.redisBytesPerTask),
    journalBytes,
    journalRecords,
    snapshotBytes,
  };
}

/** Restores the store a file-store run kept, closed and as a crash leaves it, and the store a crash leaves at the journal's budget (persist.js budget); then deletes them. */
function restoreFigures(n: number, kept: W1Result, profiles: Measured['profiles']): Measured['restores'][number] {
  const restore = (path: string) => Array.from({ length: RUNS }, () => child<{ restoreMs: number; replayed: number }>('persist.js', ['restore', path]));
  const closed = restore(kept.store!);
  const crash = restore(kept.crashStore!);
  const atBudget = child<{ path: string; records: number }>('persist.js', ['budget', n]);
  const budget = restore(atBudget.path);
  log(`restore n=${n}: closed ${JSON.stringify(closed)}, crash ${JSON.stringify(crash)}, at the budget ${JSON.stringify(budget)}`);
  if (n === LARGEST && PROFILE) {
    profiles.push({
      title: `Restore after a crash at the journal's budget, ${n.toLocaleString('en-US')} tasks: snapshot + ${atBudget.records.toLocaleString('en-US')} journal records (the whole child process, close included)`,
      command: 'node dist/bench/profile.js persist.js restore <the store persist.js budget wrote>',
      summary: profileChild('persist.js', ['restore', atBudget.path]),
    });
  }
  rmSync(dirname(dirname(atBudget.path)), { recursive: true, force: true });
  rmSync(dirname(kept.store!), { recursive: true, force: true });
  return {
    n,
    closedMs: median(closed.map((r) => r.restoreMs)),
    crashMs: median(crash.map((r) => r.restoreMs)),
    replayed: crash[0]!.replayed,
    budgetMs: median(budget.map((r) => r.restoreMs)),
    budgetRecords: atBudget.records,
  };
}

async function measure(redis: Redis | null, durableRedis: Redis | null, bullmqNote: string): Promise<Measured> {
  const contenders = ['plain', 'overseer', 'overseer+memoryStore', 'overseer+jsonFileStore', 'p-queue', ...(redis ? ['bullmq'] : []), ...(durableRedis ? ['bullmq+aof'] : [])];
  const env: Record<string, string> = {
    ...(redis ? { REDIS_PORT: String(redis.port) } : {}),
    ...(durableRedis ? { REDIS_AOF_PORT: String(durableRedis.port) } : {}),
  };
  const w1: W1Row[] = [];
  const restores: Measured['restores'] = [];
  const restoreProfiles: Measured['profiles'] = [];
  for (const n of SIZES) {
    const runs = new Map<string, W1Result[]>(contenders.map((c) => [c, []]));
    // Runs interleaved, so a slow stretch of the machine hits every contender alike.
    for (let r = 0; r < RUNS; r++) {
      for (const c of contenders) {
        const keep = c === 'overseer+jsonFileStore' && r === 0; // its store is restored below
        const result = child<W1Result>('w1-child.js', [c, n], keep ? { ...env, KEEP_STORE: '1' } : env);
        runs.get(c)!.push(result);
        log(`W1 n=${n} run ${r + 1}/${RUNS} ${c}: ${result.tasksPerSecond} tasks/s, ${result.heapBytesPerTask} B/task`);
      }
    }
    for (const [contender, rs] of runs) w1.push(w1Row(n, contender, rs));
    restores.push(restoreFigures(n, runs.get('overseer+jsonFileStore')![0]!, restoreProfiles));
  }
  // The dispatch mode at its own (smaller) size: every attempt is a job through Redis and a worker process.
  if (redis) {
    const runs = new Map<string, W1Result[]>(DISPATCHED.map((c) => [c, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const c of DISPATCHED) {
        const result = child<W1Result>('w1-child.js', [c, DISPATCH_SIZE], env);
        runs.get(c)!.push(result);
        log(`W1 n=${DISPATCH_SIZE} run ${r + 1}/${RUNS} ${c}: ${result.tasksPerSecond} tasks/s`);
      }
    }
    for (const [contender, rs] of runs) w1.push(w1Row(DISPATCH_SIZE, contender, rs));
  }
  const commit = child<Measured['commit']>('persist.js', ['commit']);
  log(`group commit: ${JSON.stringify(commit)}`);
  const latency = child<Measured['latency']>('micro.js', ['latency', LARGEST]);
  log(`dependency latency: ${JSON.stringify(latency)}`);
  const graph = child<Measured['graph']>('micro.js', ['graph', LARGEST]);
  log(`graph: ${JSON.stringify(graph)}`);
  const next = child<Measured['next']>('micro.js', ['next', LARGEST]);
  log(`getNextTask: ${JSON.stringify(next)}`);
  const profiles: Measured['profiles'] = [];
  if (PROFILE) {
    for (const [title, script, args] of [
      [`W1, overseer+jsonFileStore, ${LARGEST.toLocaleString('en-US')} tasks (the whole child process)`, 'w1-child.js', ['overseer+jsonFileStore', String(LARGEST)]],
      [`detectDeadlock and resolveDependencies, ${LARGEST.toLocaleString('en-US')} tasks (the graph micro benchmark, setup included)`, 'micro.js', ['graph', String(LARGEST)]],
    ] as const) {
      profiles.push({ title, command: `node dist/bench/profile.js ${script} ${args.join(' ')}`, summary: profileChild(script, [...args]) });
      log(`profiled ${script} ${args.join(' ')}`);
    }
  }
  profiles.push(...restoreProfiles);
  return { runs: RUNS, peers: PEERS, bullmqNote, w1, restores, commit, latency, graph, next, profiles, seconds: 0 };
}

let redis: Redis | null = null;
let durableRedis: Redis | null = null;
let bullmqNote = '';
if (!PEERS) bullmqNote = 'BullMQ was not run: `npm run bench:peers` runs it on a local Redis.';
else if (!hasRedisServer()) bullmqNote = 'BullMQ was skipped: `redis-server` is not on PATH (install Redis, e.g. `apt-get install redis-server`, and run `npm run bench:peers` again).';
if (bullmqNote) log(bullmqNote);
if (PEERS && !bullmqNote) {
  redis = await startRedis();
  log(`redis-server started on 127.0.0.1:${redis.port}`);
  durableRedis = await startRedis(true);
  log(`redis-server with an append-only file started on 127.0.0.1:${durableRedis.port}`);
}
let measured: Measured;
try {
  measured = await measure(redis, durableRedis, bullmqNote);
} finally {
  for (const r of [redis, durableRedis]) if (r) await r.stop();
  if (redis) log('redis-server stopped');
}
measured.seconds = Math.round((Date.now() - began) / 1000);
const markdown = render(measured);
console.log(markdown);
writeFileSync(new URL('../../docs/benchmarks.md', import.meta.url), markdown);
log(`wrote docs/benchmarks.md (${measured.seconds} s in all)`);
