/**
 * One W1 run of one contender, in its own process (so heap figures are its own).
 * Prints one JSON line. Usage: node --expose-gc dist/bench/w1-child.js <contender> <n> [seed]
 */
import { createOverseer } from '../runtime/index.js';
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
}

interface Contender {
  schedule(task: W1Task): void;
  next(): string | null;
  complete(id: string): void;
  transitions(): number;
}

function overseer(): Contender {
  const o = createOverseer();
  let transitions = 0;
  o.on('task.transition', () => transitions++);
  return {
    schedule: (task) => void o.scheduleTask(task),
    next: () => o.getNextTask()?.id ?? null,
    complete: (id) => void o.markComplete(id),
    transitions: () => transitions,
  };
}

function plain(): Contender {
  const s = new PlainScheduler();
  return { schedule: (t) => s.add(t), next: () => s.next(), complete: (id) => s.complete(id), transitions: () => 0 };
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** Schedules every task, then keeps CONCURRENCY tasks in flight, completing the oldest first. */
export function runW1(name: string, make: () => Contender, tasks: W1Task[]): W1Result {
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
  return result;
}

const CONTENDERS: Record<string, () => Contender> = { overseer, plain };

if (process.argv[1]?.endsWith('w1-child.js')) {
  const [name = 'overseer', n = '10000', seed = '1'] = process.argv.slice(2);
  const make = CONTENDERS[name];
  if (!make) throw new Error(`unknown contender ${name}`);
  const tasks = w1(Number(n), Number(seed));
  console.log(JSON.stringify(runW1(name, make, tasks)));
}
