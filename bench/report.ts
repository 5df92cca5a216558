/** The markdown of docs/benchmarks.md: the measured figures, a verdict per target, the profiles. */
import os from 'node:os';
import type { ProfileSummary } from './profile.js';
import { workerByDefault } from '../runtime/compaction-policy.js';
import { redisArgs } from './redis.js';

export interface W1Row {
  n: number;
  contender: string;
  ms: number;
  tps: number;
  heap: number;
  rss: number;
  flushMs?: number | undefined;
  closeMs?: number | undefined;
  journalBytes?: number | undefined;
  journalRecords?: number | undefined;
  snapshotBytes?: number | undefined;
  redisBytes?: number | undefined;
}

type Spread = { p50Us: number; p99Us: number; maxUs: number };
type Timed = { medianMs: number; maxMs: number };
type Burst = { tasks: number; records: number; medianMs: number; maxMs: number };

export interface Measured {
  runs: number;
  peers: boolean;
  bullmqNote: string;
  w1: W1Row[];
  /** crash: a copy taken after W1's final flush; budget: the largest journal the default compaction policy lets a crash leave (persist.js budget). */
  restores: { n: number; closedMs: number; crashMs: number; replayed: number; budgetMs: number; budgetRecords: number }[];
  commit: { bursts: number; small: Burst; large: Burst };
  latency: { n: number; dependents: number; ready: Spread; start: Spread };
  graph: { n: number; edges: number; scheduleTasksMs: number; detectDeadlock: Timed; detectDeadlockStuck: Timed & { stuck: number }; resolveDependencies: Timed };
  next: { n: number; calls: number; meanUs: number } & Spread;
  profiles: { title: string; command: string; summary: ProfileSummary }[];
  seconds: number;
}

const OVERSEERS = ['overseer', 'overseer+memoryStore', 'overseer+jsonFileStore'];
const int = (x: number) => Math.round(x).toLocaleString('en-US');
const x2 = (x: number) => `${x.toFixed(2)}×`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const ms = (x: number) => (x < 10 ? `${x.toFixed(1)} ms` : `${int(x)} ms`);
const verdict = (ok: boolean | null, what: string, detail: string) => `- **${ok === null ? 'not measured' : ok ? 'met' : 'missed'}** — ${what}: ${detail}`;

function targets(m: Measured): string[] {
  const n = Math.max(...m.w1.map((r) => r.n));
  const row = (c: string) => m.w1.find((r) => r.n === n && r.contender === c);
  const overseers = OVERSEERS.map(row).filter((r) => r !== undefined);
  const versus = (peer: string, min: number) => {
    const p = row(peer);
    const name = peer === 'bullmq' ? 'BullMQ' : peer;
    if (!p) return verdict(null, `≥ ${min}× ${name}'s tasks/s`, m.bullmqNote);
    const list = overseers.map((o) => `${o.contender} ${x2(o.tps / p.tps)} (${int(o.tps)} vs ${int(p.tps)} tasks/s)`);
    return verdict(overseers.every((o) => o.tps / p.tps >= min), `≥ ${min}× ${name}'s tasks/s at ${int(n)} tasks, same run`, list.join('; '));
  };
  const file = row('overseer+jsonFileStore')!;
  const mem = row('overseer+memoryStore')!;
  const durablePeer = row('bullmq+aof');
  // Not a target: the issue's BullMQ runs on a Redis without persistence, as the stores without a file do.
  const durable = durablePeer
    ? [`- **for comparison** — the durable contenders side by side at ${int(n)} tasks: overseer+jsonFileStore (its journal fdatasync'ed within 50 ms) ${x2(file.tps / durablePeer.tps)} BullMQ on a Redis whose append-only file is fsynced every second (${int(file.tps)} vs ${int(durablePeer.tps)} tasks/s)`]
    : [];
  const restore = m.restores.find((r) => r.n === n)!;
  const g = m.graph;
  return [
    versus('bullmq', 4),
    ...durable,
    versus('p-queue', 0.5),
    verdict(overseers.every((o) => o.heap <= 2048), `≤ 2 KB (2,048 B) heap per task at ${int(n)} tasks`, overseers.map((o) => `${o.contender} ${int(o.heap)} B`).join('; ')),
    verdict(file.ms / mem.ms <= 1.5, 'file store ≤ 1.5× memory store (W1 time)', `${x2(file.ms / mem.ms)} (${int(file.ms)} vs ${int(mem.ms)} ms)`),
    verdict(
      restore.closedMs <= 2000 && restore.crashMs <= 2000 && restore.budgetMs <= 2000,
      `restore ≤ 2 s at ${int(n)} tasks`,
      `after close ${ms(restore.closedMs)}; after a crash at the end of W1 (snapshot + ${int(restore.replayed)} journal records) ${ms(restore.crashMs)}; ` +
        `after a crash at the journal's budget, the moment before a compaction starts (snapshot + ${int(restore.budgetRecords)} records) ${ms(restore.budgetMs)}`,
    ),
    verdict(
      g.detectDeadlock.medianMs <= 100 && g.detectDeadlockStuck.medianMs <= 100,
      `detectDeadlock ≤ 100 ms at ${int(g.n)} tasks / ${int(g.edges)} edges`,
      `${ms(g.detectDeadlock.medianMs)} without a deadlock, ${ms(g.detectDeadlockStuck.medianMs)} with ${int(g.detectDeadlockStuck.stuck)} stuck tasks`,
    ),
  ];
}

function w1Table(m: Measured): string[] {
  const tps = (n: number, c: string) => m.w1.find((r) => r.n === n && r.contender === c)?.tps;
  const ratio = (r: W1Row, peer: string) => {
    const p = tps(r.n, peer);
    return p ? x2(r.tps / p) : '–';
  };
  const rows = m.w1.map(
    (r) =>
      `| ${int(r.n)} | ${r.contender} | ${int(r.ms)} | ${int(r.tps)} | ${ratio(r, 'plain')} | ${ratio(r, 'p-queue')} | ${ratio(r, 'bullmq')} | ${ratio(r, 'bullmq+aof')} | ${int(r.heap)} | ${int(r.rss)} |`,
  );
  const redis = m.w1.filter((r) => r.redisBytes !== undefined).map((r) => `${int(r.redisBytes!)} B per job at ${int(r.n)} (${r.contender})`);
  return [
    '| tasks | contender | ms | tasks/s | ÷ plain | ÷ p-queue | ÷ BullMQ | ÷ BullMQ+AOF | heap B/task | peak RSS MB |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    ...(redis.length ? [`BullMQ keeps its jobs in Redis, not in the heap: Redis \`used_memory\` grew by ${redis.join(', ')} (completed jobs are kept, as Overseer keeps its tasks).`] : []),
    ...(m.bullmqNote ? [m.bullmqNote] : []),
  ];
}

/** The redis-server command line bench/redis.ts runs, as a shell would take it. */
const redisCommand = (durable: boolean) => ['redis-server', ...redisArgs('<free port>', durable)].map((a) => (a === '' ? "''" : a)).join(' ');

/** Where this machine's file store compacts by default (runtime/compaction-policy.ts, workerByDefault). */
const compactsWhere = () =>
  workerByDefault(os.availableParallelism())
    ? 'in a worker thread (a spare core), the main thread taking over when it falls behind'
    : `on the main thread, a slice of tasks per turn of the event loop (${os.availableParallelism()} cores: no spare one for a worker)`;

function persistence(m: Measured): string[] {
  const c = m.commit;
  const burst = (b: Burst) => `| ${int(b.tasks)} task${b.tasks === 1 ? '' : 's'} scheduled, started, completed | ${int(b.records)} | ${b.medianMs} | ${b.maxMs} |`;
  const rows = m.restores.map((r) => {
    const file = m.w1.find((w) => w.n === r.n && w.contender === 'overseer+jsonFileStore')!;
    const mem = m.w1.find((w) => w.n === r.n && w.contender === 'overseer+memoryStore')!;
    const journal = `${int(file.journalRecords!)} records, ${mb(file.journalBytes!)} (${int(file.journalBytes! / file.journalRecords!)} B/record)`;
    return `| ${int(r.n)} | ${x2(file.ms / mem.ms)} | ${ms(file.flushMs!)} | ${journal} | ${ms(file.closeMs!)} | ${mb(file.snapshotBytes!)} (${int(file.snapshotBytes! / r.n)} B/task) | ${ms(r.closedMs)} | ${ms(r.crashMs)} (${int(r.replayed)} records) | ${ms(r.budgetMs)} (${int(r.budgetRecords)} records) |`;
  });
  return [
    `Group commit: \`flush()\` right after a burst (the journal's write and fdatasync), median and worst of ${c.bursts} bursts, on ${os.tmpdir()}.`,
    '',
    '| burst | journal records | flush median ms | flush max ms |',
    '|---|---:|---:|---:|',
    burst(c.small),
    burst(c.large),
    '',
    'Per W1 size: file ÷ memory store = W1 time ratio; final flush after W1; the journal just before `close()` (the rest is in the',
    'snapshot: with the default policy, runtime/compaction-policy.ts, the store compacts when the journal holds 1.5 records per task',
    `besides the adds, at least 100,000, ${compactsWhere()},`,
    'serializing only the tasks changed since the last snapshot, in the compact form of store/task-codec.ts);',
    '`close()` = the final compaction; restore = `createOverseer({ store })` in a fresh process: on the closed store; on a copy',
    'taken after the final flush but before close (what a killed process leaves); and at the journal\'s budget, the moment before',
    'a compaction starts (`persist.js budget`: a snapshot of every task, then W1 run until the journal holds its whole budget, or to',
    'its end when it makes fewer records, copied then; a crash during that compaction leaves a little more: what came while it ran).',
    '',
    '| tasks | file ÷ memory store | final flush | journal before close | close (compaction) | snapshot | restore after close | restore after crash (replayed) | restore at the budget (replayed) |',
    '|---:|---:|---:|---|---:|---|---:|---:|---:|',
    ...rows,
  ];
}

function profile(p: Measured['profiles'][number]): string[] {
  const s = p.summary;
  const pct = (x: number) => `${((100 * x) / s.totalMs).toFixed(1)}%`;
  return [
    `### ${p.title}`,
    '',
    `\`${p.command}\` — ${int(s.totalMs)} ms sampled. By part: ${s.parts.filter((x) => x.ms / s.totalMs >= 0.01).map((x) => `${x.part} ${pct(x.ms)}`).join(', ')}.`,
    '',
    '| self ms | share | function | where (source line; packages: file in node_modules) |',
    '|---:|---:|---|---|',
    ...s.functions.map((f) => `| ${int(f.ms)} | ${pct(f.ms)} | \`${f.name}\` | ${f.where || '(native)'} |`),
    '',
  ];
}

export function render(m: Measured): string {
  const cpu = os.cpus();
  const l = m.latency;
  const g = m.graph;
  const command = m.peers ? 'npm run bench:peers' : 'npm run bench';
  return [
    '# Benchmarks',
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`,
    `\`${command}\`: every measurement in a fresh process; W1 figures are medians of ${m.runs} runs (\`BENCH_RUNS\`). This run took ${Math.round(m.seconds / 6) / 10} min, build excluded.`,
    '',
    '`npm run bench` measures everything but BullMQ and needs no Redis; `npm run bench:peers` adds BullMQ, starting',
    `\`${redisCommand(false)}\` and, for \`bullmq+aof\`, \`${redisCommand(true)}\``,
    'itself and stopping them at the end (BullMQ is',
    'skipped, with a message, when `redis-server` is not on PATH). `BENCH_RUNS` (3), `BENCH_SIZES` (10000,100000), `BENCH_PROFILE=0`',
    '(no profiles). One piece at a time, after `npm run build`: `node --expose-gc dist/bench/w1-child.js <contender> <n>`,',
    '`node --expose-gc dist/bench/micro.js <latency|graph|next> [n]`, `node --expose-gc dist/bench/persist.js commit`,',
    '`node dist/bench/profile.js <child script> [its arguments]`.',
    '',
    '## Targets',
    '',
    ...targets(m),
    '',
    'Why the file store stands where it does against the memory store, what was tried, and what would close the gap: [file-store-performance.md](file-store-performance.md).',
    '',
    '## W1',
    '',
    'N tasks over 10 projects, priority 1..10, 0–3 dependencies on earlier tasks of the same project (seeded), no-op work: each task',
    'completes on the next turn of the event loop (`setImmediate`), 64 in flight. Time runs from the first task added to the last completed',
    '(and, with a store, flushed). `plain` is a bare heap scheduler with dependency counting: the limit. Overseer runs every transition',
    "through its task machine (the statechart's compiled transition table, runtime/flat-machine.ts), emits `task.transition` to a",
    `listener, and with a store journals each one (the file store compacts ${compactsWhere()}). p-queue and BullMQ`,
    '(a Queue and a Worker in the same process, `addBulk` in chunks of 1,000; `bullmq` on a Redis without persistence, `bullmq+aof` on one',
    'that appends every write to a file it fsyncs every second, as a Redis that must keep its jobs does) get the same priorities and',
    'no dependencies. Heap B/task = peak retained heap (after a full GC, once all tasks are added and once at the end, the contender',
    'still alive) ÷ N. The ratio columns divide the row\'s tasks/s by that contender\'s at the same N.',
    '`overseer+bullmq 1 worker` / `2 workers` (with `bench:peers`, at `BENCH_DISPATCH_SIZE`, default 10,000): the same W1 through the',
    'BullMQ dispatch mode — the runner here, every attempt a job in Redis run by `overseer worker` processes on this machine (started',
    'before the clock), its outcome back through QueueEvents. It measures the round trip per attempt, not the scheduler.',
    '',
    ...w1Table(m),
    '',
    `## Dependency latency (${int(l.n)} tasks)`,
    '',
    `W1 through \`getNextTask\`/\`markComplete\` (no store), 64 in flight: for each of the ${int(l.dependents)} tasks released by a completion, the time from`,
    'the start of that `markComplete` to the dependent becoming ready, and to `getNextTask` handing it out. The second includes the',
    'wait behind higher-priority ready tasks (priority order, not overhead: a priority-1 task waits for most of the run).',
    '',
    '| from the last dependency\'s markComplete to | p50 µs | p99 µs | max µs |',
    '|---|---:|---:|---:|',
    `| the dependent ready | ${l.ready.p50Us} | ${l.ready.p99Us} | ${int(l.ready.maxUs)} |`,
    `| the dependent handed out (started) | ${l.start.p50Us} | ${int(l.start.p99Us)} | ${int(l.start.maxUs)} |`,
    '',
    `## Graph and queue operations (${int(g.n)} tasks)`,
    '',
    `One project of ${int(g.n)} W1 tasks with ${int(g.edges)} dependency edges, added with one \`scheduleTasks\` call (${int(g.scheduleTasksMs)} ms); median and worst of 5 calls after a warm-up.`,
    '',
    '| operation | median ms | max ms |',
    '|---|---:|---:|',
    `| \`detectDeadlock\`, no deadlock | ${g.detectDeadlock.medianMs} | ${g.detectDeadlock.maxMs} |`,
    `| \`detectDeadlock\`, first task cancelled (${int(g.detectDeadlockStuck.stuck)} stuck) | ${g.detectDeadlockStuck.medianMs} | ${g.detectDeadlockStuck.maxMs} |`,
    `| \`resolveDependencies\` of all ${int(g.n)} | ${g.resolveDependencies.medianMs} | ${g.resolveDependencies.maxMs} |`,
    '',
    `\`getNextTask\` with ${int(m.next.n)} ready tasks (10 projects, no dependencies), each of the first ${int(m.next.calls)} calls timed: p50 ${m.next.p50Us} µs, p99 ${m.next.p99Us} µs, mean ${m.next.meanUs} µs, max ${int(m.next.maxUs)} µs.`,
    '',
    '## Persistence (jsonFileStore)',
    '',
    ...persistence(m),
    '',
    ...(m.profiles.length ? ['## Where the time goes', '', 'CPU profiles (`node --cpu-prof`), self time by function, top 15.', '', ...m.profiles.flatMap(profile)] : []),
  ].join('\n');
}
