/**
 * One W1 run of one contender, in its own process (so heap figures are its own).
 * Prints one JSON line. Usage: node --expose-gc dist/bench/w1-child.js <contender> <n> [seed]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOverseer, jsonFileStore, memoryStore, type Store } from '../runtime/index.js';
import { PlainScheduler } from './baseline.js';
import { w1, type W1Task } from './workload.js';

const CONCURRENCY = 64;

export interface W1Result {
  contender: string;
  n: number;
  ms: number;
  tasksPerSecond: number;
  heapBytesPerTask: number;
  peakRssMB: number;
  transitions: number;
  /** Store contenders: time to make everything durable after the run, and to close (final compaction). */
  flushMs?: number;
  closeMs?: number;
  snapshotBytes?: number;
}

interface Contender {
  schedule(task: W1Task): void;
  next(): string | null;
  complete(id: string): void;
  transitions(): number;
  flush?(): Promise<void>;
  close?(): Promise<void>;
  snapshotBytes?(): number;
}

function overseer(store?: Store): Contender {
  const o = createOverseer(store ? { store } : {});
  let transitions = 0;
  o.on('task.transition', () => transitions++);
  return {
    schedule: (task) => void o.scheduleTask(task),
    next: () => o.getNextTask()?.id ?? null,
    complete: (id) => void o.markComplete(id),
    transitions: () => transitions,
    flush: () => o.flush(),
    close: () => o.close(),
  };
}

let storeDir: string | null = null;
function fileStorePath(): string {
  storeDir ??= mkdtempSync(join(tmpdir(), 'overseer-bench-'));
  return join(storeDir, 'state.json');
}

function plain(): Contender {
  const s = new PlainScheduler();
  return { schedule: (t) => s.add(t), next: () => s.next(), complete: (id) => s.complete(id), transitions: () => 0 };
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** Schedules every task, then keeps CONCURRENCY tasks in flight, completing the oldest first; then makes it durable. */
export async function runW1(name: string, make: () => Contender, tasks: W1Task[]): Promise<W1Result> {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = performance.now();
  const c = make();
  for (const task of tasks) c.schedule(task);
  const inFlight: string[] = [];
  let head = 0;
  let done = 0;
  while (done < tasks.length) {
    while (inFlight.length - head < CONCURRENCY) {
      const id = c.next();
      if (id === null) break;
      inFlight.push(id);
    }
    if (head === inFlight.length) throw new Error(`stuck after ${done} tasks`);
    c.complete(inFlight[head++]!);
    done++;
  }
  let flushMs: number | undefined;
  if (c.flush) {
    const t = performance.now();
    await c.flush();
    flushMs = Math.round(performance.now() - t);
  }
  const ms = performance.now() - start;
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const result: W1Result = {
    contender: name,
    n: tasks.length,
    ms: Math.round(ms),
    tasksPerSecond: Math.round(tasks.length / (ms / 1000)),
    heapBytesPerTask: Math.round((heapAfter - heapBefore) / tasks.length),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    transitions: c.transitions(),
  };
  // Keep the contender alive until measured, so its state counts as retained heap.
  if (c.next() !== null) throw new Error('a task was left');
  if (flushMs !== undefined) result.flushMs = flushMs;
  if (c.close) {
    const t = performance.now();
    await c.close();
    result.closeMs = Math.round(performance.now() - t);
  }
  if (storeDir) result.snapshotBytes = statSync(fileStorePath()).size;
  return result;
}

const CONTENDERS: Record<string, () => Contender> = {
  plain,
  overseer: () => overseer(),
  'overseer+memoryStore': () => overseer(memoryStore()),
  'overseer+jsonFileStore': () => overseer(jsonFileStore(fileStorePath())),
};

/** Restore: a W1 store of n tasks written once, then reopened in this fresh process. */
async function restore(path: string): Promise<{ restoreMs: number; tasks: number }> {
  const start = performance.now();
  const o = createOverseer({ store: jsonFileStore(path) });
  const restoreMs = Math.round(performance.now() - start);
  const tasks = o.getCounts().total;
  await o.close();
  return { restoreMs, tasks };
}

if (process.argv[1]?.endsWith('w1-child.js')) {
  const [name = 'overseer', n = '10000', seed = '1'] = process.argv.slice(2);
  if (name === 'restore') {
    console.log(JSON.stringify(await restore(n)));
  } else {
    const make = CONTENDERS[name];
    if (!make) throw new Error(`unknown contender ${name}`);
    const tasks = w1(Number(n), Number(seed));
    const result = await runW1(name, make, tasks);
    if (storeDir && process.env.KEEP_STORE) {
      console.log(JSON.stringify({ ...result, store: fileStorePath() }));
    } else {
      if (storeDir) rmSync(storeDir, { recursive: true, force: true });
      console.log(JSON.stringify(result));
    }
  }
}
