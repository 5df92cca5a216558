/**
 * Persistence figures of `jsonFileStore`, each in this fresh process. Prints one JSON line.
 *   node --expose-gc dist/bench/persist.js commit          group-commit latency: `flush()` after a burst
 *   node --expose-gc dist/bench/persist.js restore <path>  `createOverseer({ store })` on a written store
 *   node --expose-gc dist/bench/persist.js budget <n>      writes the store a crash leaves when the journal is at its
 *                                                          budget (default compaction policy, n W1 tasks); prints its path
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCALED, scaledBudget } from '../runtime/compaction-policy.js';
import { createOverseer, jsonFileStore } from '../runtime/index.js';
import { median, report } from './stats.js';
import { CONCURRENCY, w1 } from './workload.js';

const BURSTS = 20;

/** Bursts of `size` tasks, each scheduled, started and completed; then the time `flush()` takes to make them durable. */
async function commit() {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-commit-'));
  const store = jsonFileStore(join(dir, 'state.json'));
  const o = createOverseer({ store });
  let id = 0;
  const burst = async (size: number) => {
    const before = store.seq;
    for (let i = 0; i < size; i++) {
      o.scheduleTask({ id: `t${id++}` });
      o.markComplete(o.getNextTask()!.id);
    }
    const t = performance.now();
    await o.flush();
    return { ms: performance.now() - t, records: store.seq - before };
  };
  const measure = async (size: number) => {
    await burst(size); // warm-up
    const runs = [];
    for (let i = 0; i < BURSTS; i++) runs.push(await burst(size));
    const ms = runs.map((r) => r.ms);
    return { tasks: size, records: runs[0]!.records, medianMs: Math.round(median(ms) * 100) / 100, maxMs: Math.round(Math.max(...ms) * 100) / 100 };
  };
  const result = { bursts: BURSTS, small: await measure(1), large: await measure(1_000) };
  await o.close();
  rmSync(dir, { recursive: true, force: true });
  return result;
}

/** Restores a copy of the store at `path` (closing writes a snapshot: the original stays as it is for the next run). */
async function restore(path: string) {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-restore-'));
  const copy = join(dir, 'state.json');
  for (const suffix of ['', '.journal']) if (existsSync(path + suffix)) copyFileSync(path + suffix, copy + suffix);
  const start = performance.now();
  const o = createOverseer({ store: jsonFileStore(copy) });
  const restoreMs = Math.round(performance.now() - start);
  const tasks = o.getCounts().total;
  const replayed = o.recovery?.replayed ?? 0;
  await o.close();
  rmSync(dir, { recursive: true, force: true });
  return { restoreMs, tasks, replayed };
}

/**
 * The journal at its budget under the default policy (runtime/compaction-policy.ts) at n
 * tasks, the moment before a compaction starts (a crash during it leaves a little more): a snapshot of all n W1 tasks, then W1 run until the journal holds its whole budget
 * of records (none of them adds) — the moment before a compaction would start — or to its end
 * when it makes fewer. Copied as a killed process leaves it (flushed, not closed).
 */
async function budget(n: number) {
  const records = scaledBudget(SCALED, n);
  const dir = mkdtempSync(join(tmpdir(), 'overseer-budget-'));
  const path = join(dir, 'state.json');
  const tasks = w1(n);
  const first = createOverseer({ store: jsonFileStore(path) });
  first.scheduleTasks(tasks);
  await first.close(); // the snapshot: every task
  const store = jsonFileStore(path);
  const o = createOverseer({ store, compactEvery: Number.MAX_SAFE_INTEGER });
  await new Promise<void>((resolve, reject) => {
    let running = 0;
    const fill = () => {
      while (running < CONCURRENCY && store.journalLength < records) {
        const next = o.getNextTask();
        if (!next) break;
        running++;
        setImmediate(() => {
          o.markComplete(next.id);
          running--;
          fill();
        });
      }
      // Once the budget is reached nothing new starts; done when what was in flight has completed
      // (a small W1 makes fewer records than the floor of the budget: then all of them).
      if (running > 0) return;
      if (store.journalLength >= records || o.getCounts().completed === n) resolve();
      else reject(new Error(`W1 stuck at ${store.journalLength} records`));
    };
    fill();
  });
  await o.flush();
  const journaled = store.journalLength;
  const crash = join(dir, 'crash');
  mkdirSync(crash);
  copyFileSync(path, join(crash, 'state.json'));
  copyFileSync(`${path}.journal`, join(crash, 'state.json.journal'));
  await o.close();
  return { path: join(crash, 'state.json'), records: journaled };
}

if (process.argv[1]?.endsWith('persist.js')) {
  const [what = 'commit', path = ''] = process.argv.slice(2);
  if (what === 'commit') report(await commit());
  else if (what === 'restore') report(await restore(path));
  else if (what === 'budget') report(await budget(Number(path)));
  else throw new Error(`unknown persistence benchmark ${what} (known: commit, restore, budget)`);
}
