/**
 * Micro benchmarks on the public API, each in this fresh process, at N tasks (default 100,000).
 * Prints one JSON line. Usage: node --expose-gc dist/bench/micro.js <latency|graph|next> [n]
 *
 *   latency  W1 through getNextTask/markComplete: from the start of a task's markComplete to
 *            each dependent it releases becoming ready, and to that dependent being handed out
 *   graph    detectDeadlock and resolveDependencies on one project of N tasks (~1.5 N edges)
 *   next     getNextTask with N ready tasks (10 projects, no dependencies)
 */
import { createOverseer } from '../runtime/index.js';
import { gc, median, percentile, report } from './stats.js';
import { CONCURRENCY, w1 } from './workload.js';

const us = (ms: number) => Math.round(ms * 1000 * 10) / 10;
const spread = (xs: number[]) => ({ p50Us: us(percentile(xs, 50)), p99Us: us(percentile(xs, 99)), maxUs: us(Math.max(...xs)) });

/** One untimed warm-up call, then `runs` timed calls: median and worst, in ms. */
function timeCalls<T>(fn: () => T, runs = 5): { medianMs: number; maxMs: number; result: T } {
  let result = fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    gc();
    const t = performance.now();
    result = fn();
    times.push(performance.now() - t);
  }
  return { medianMs: Math.round(median(times) * 10) / 10, maxMs: Math.round(Math.max(...times) * 10) / 10, result };
}

function latency(n: number) {
  const o = createOverseer();
  for (const t of w1(n, 1)) o.scheduleTask(t);
  const releasedAt = new Map<string, number>(); // dependent → when the markComplete that released it began
  const ready: number[] = [];
  const start: number[] = [];
  let completing = -1;
  o.on('task.transition', (e) => {
    if (e.to !== 'ready' || completing < 0) return;
    ready.push(performance.now() - completing);
    releasedAt.set(e.taskId, completing);
  });
  const inFlight: string[] = [];
  let head = 0;
  for (let done = 0; done < n; done++) {
    while (inFlight.length - head < CONCURRENCY) {
      const task = o.getNextTask();
      if (!task) break;
      const since = releasedAt.get(task.id);
      if (since !== undefined) start.push(performance.now() - since);
      inFlight.push(task.id);
    }
    completing = performance.now();
    o.markComplete(inFlight[head++]!);
    completing = -1;
  }
  return { n, dependents: ready.length, ready: spread(ready), start: spread(start) };
}

function graph(n: number) {
  const tasks = w1(n, 2, 1); // one project: every edge inside it
  const projectId = tasks[0]!.projectId;
  const edges = tasks.reduce((sum, t) => sum + t.dependencies.length, 0);
  const o = createOverseer();
  const t = performance.now();
  o.scheduleTasks(tasks);
  const scheduleTasksMs = Math.round(performance.now() - t);
  const ids = tasks.map((t) => t.id);
  const healthy = timeCalls(() => o.detectDeadlock(projectId));
  if (healthy.result !== null) throw new Error('W1 has no deadlock');
  const resolve = timeCalls(() => o.resolveDependencies(ids));
  o.cancelTask(ids[0]!); // its dependents, and theirs, can never run now
  const stuck = timeCalls(() => o.detectDeadlock(projectId));
  return {
    n,
    edges,
    scheduleTasksMs,
    detectDeadlock: { medianMs: healthy.medianMs, maxMs: healthy.maxMs },
    detectDeadlockStuck: { medianMs: stuck.medianMs, maxMs: stuck.maxMs, stuck: stuck.result?.stuck.length ?? 0 },
    resolveDependencies: { medianMs: resolve.medianMs, maxMs: resolve.maxMs },
  };
}

function next(n: number) {
  const o = createOverseer();
  o.scheduleTasks(w1(n, 3).map((t) => ({ ...t, dependencies: [] })));
  const calls = Math.min(n, 10_000); // the first 10,000 of them: N to N - 10,000 ready
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    if (!o.getNextTask()) throw new Error('nothing ready');
    times.push(performance.now() - t);
  }
  return { n, calls, meanUs: us(times.reduce((a, b) => a + b, 0) / calls), ...spread(times) };
}

const BENCHES: Record<string, (n: number) => unknown> = { latency, graph, next };

if (process.argv[1]?.endsWith('micro.js')) {
  const [name = 'graph', n = '100000'] = process.argv.slice(2);
  const bench = BENCHES[name];
  if (!bench) throw new Error(`unknown micro benchmark ${name} (known: ${Object.keys(BENCHES).join(', ')})`);
  report(bench(Number(n)));
}
