/**
 * One W1 run of one contender, in its own process (so heap and RSS figures are its own).
 * Prints one JSON line. Usage: node --expose-gc dist/bench/w1-child.js <contender> <n> [seed]
 *
 * Every contender gets the same work: N tasks, each a no-op that completes on the next turn
 * of the event loop (`setImmediate`, as work that does any I/O would: timers and I/O callbacks
 * such as the file store's group commit and compaction get their turn), CONCURRENCY in flight.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOverseer, jsonFileStore, memoryStore, type Store } from '../runtime/index.js';
import { PlainScheduler } from './baseline.js';
import { Meter, report } from './stats.js';
import { CONCURRENCY, w1, type W1Task } from './workload.js';

export interface W1Result {
  contender: string;
  n: number;
  ms: number;
  tasksPerSecond: number;
  /** Peak retained heap (after a full GC) above the start, ÷ N. */
  heapBytesPerTask: number;
  peakRssMB: number;
  /** File store: the final `flush()`, the journal before close, `close()` (final compaction), the snapshot. */
  flushMs?: number;
  journalBytes?: number;
  journalRecords?: number;
  closeMs?: number;
  snapshotBytes?: number;
  /** BullMQ: Redis `used_memory` after the run (jobs are kept, as Overseer keeps tasks) ÷ N. */
  redisBytesPerTask?: number;
  /** KEEP_STORE=1: the closed store, and a copy taken before close (what a crash leaves). */
  store?: string;
  crashStore?: string;
}

export type Extras = Omit<Partial<W1Result>, 'contender' | 'n' | 'ms' | 'tasksPerSecond' | 'heapBytesPerTask' | 'peakRssMB'>;
/** Runs W1 (timed) and returns what else it measured. Setup happens before, untimed. */
export type Run = (tasks: W1Task[], meter: Meter) => Promise<Extras>;

/** A scheduler the harness drives itself, once every task is added. */
interface Driven {
  next(): string | null;
  complete(id: string): void;
}

/** Keeps CONCURRENCY no-op tasks in flight; each completes on the next turn of the event loop, the oldest first. */
function drive(c: Driven, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let running = 0;
    let done = 0;
    const finish = (id: string) => {
      c.complete(id);
      running--;
      if (++done === n) resolve();
      else fill();
    };
    const fill = () => {
      while (running < CONCURRENCY) {
        const id = c.next();
        if (id === null) break;
        running++;
        setImmediate(() => finish(id));
      }
      if (running === 0) reject(new Error(`stuck after ${done} tasks`));
    };
    fill();
  });
}

const plain = async (): Promise<Run> => async (tasks, meter) => {
  const s = new PlainScheduler();
  for (const t of tasks) s.add(t);
  meter.sample();
  await drive({ next: () => s.next(), complete: (id) => s.complete(id) }, tasks.length);
  meter.stop();
  meter.sample();
  if (s.next() !== null) throw new Error('a task was left');
  return {};
};

function overseer(kind: 'none' | 'memory' | 'file'): () => Promise<Run> {
  return async () => async (tasks, meter) => {
    const dir = kind === 'file' ? mkdtempSync(join(tmpdir(), 'overseer-bench-')) : null;
    const path = dir ? join(dir, 'state.json') : '';
    const store: Store | undefined = kind === 'memory' ? memoryStore() : dir ? jsonFileStore(path) : undefined;
    const o = createOverseer(store ? { store } : {});
    let transitions = 0;
    o.on('task.transition', () => transitions++); // an embedding service listens
    for (const t of tasks) o.scheduleTask(t);
    meter.sample();
    await drive({ next: () => o.getNextTask()?.id ?? null, complete: (id) => void o.markComplete(id) }, tasks.length);
    const t = performance.now();
    await o.flush();
    const extras: Extras = { flushMs: Math.round(performance.now() - t) };
    meter.stop();
    meter.sample(); // the runtime is still alive: everything it keeps counts
    if (o.getCounts().completed !== tasks.length || transitions < 3 * tasks.length) throw new Error('not every task completed');
    if (dir) {
      extras.journalBytes = statSync(`${path}.journal`).size;
      extras.journalRecords = store!.journalLength;
      if (process.env.KEEP_STORE) extras.crashStore = copyStore(path, join(dir, 'crash'));
    }
    const c = performance.now();
    await o.close();
    extras.closeMs = Math.round(performance.now() - c);
    if (dir) {
      extras.snapshotBytes = statSync(path).size;
      if (process.env.KEEP_STORE) extras.store = path;
      else rmSync(dir, { recursive: true, force: true });
    }
    return extras;
  };
}

/** Copies a flushed, still open store: what a killed process leaves behind. */
function copyStore(path: string, dir: string): string {
  mkdirSync(dir);
  const to = join(dir, 'state.json');
  if (existsSync(path)) copyFileSync(path, to);
  copyFileSync(`${path}.journal`, `${to}.journal`);
  return to;
}

export const CONTENDERS: Record<string, () => Promise<Run>> = {
  plain,
  overseer: overseer('none'),
  'overseer+memoryStore': overseer('memory'),
  'overseer+jsonFileStore': overseer('file'),
  'p-queue': async () => (await import('./peers.js')).pQueue(),
  bullmq: async () => (await import('./peers.js')).bullmq('REDIS_PORT'),
  'bullmq+aof': async () => (await import('./peers.js')).bullmq('REDIS_AOF_PORT'),
  'overseer+bullmq 1 worker': async () => (await import('./dispatch.js')).overseerBullmq(Number(process.env.REDIS_PORT), 1),
  'overseer+bullmq 2 workers': async () => (await import('./dispatch.js')).overseerBullmq(Number(process.env.REDIS_PORT), 2),
};

export async function runW1(name: string, n: number, seed = 1): Promise<W1Result> {
  const prepare = CONTENDERS[name];
  if (!prepare) throw new Error(`unknown contender ${name} (known: ${Object.keys(CONTENDERS).join(', ')})`);
  const tasks = w1(n, seed);
  const run = await prepare();
  const meter = new Meter();
  const extras = await run(tasks, meter);
  meter.stop();
  const ms = meter.elapsed();
  return {
    contender: name,
    n,
    ms: Math.round(ms),
    tasksPerSecond: Math.round(n / (ms / 1000)),
    heapBytesPerTask: Math.round(meter.peakHeap / n),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    ...extras,
  };
}

if (process.argv[1]?.endsWith('w1-child.js')) {
  const [name = 'overseer', n = '10000', seed = '1'] = process.argv.slice(2);
  report(await runW1(name, Number(n), Number(seed)));
  process.exit(0); // a peer's sockets or timers must not keep the process
}
