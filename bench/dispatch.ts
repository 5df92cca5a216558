/**
 * W1 through the BullMQ dispatch mode: the Overseer runner on this process hands every attempt
 * to `BullmqDispatch`, and 1 or 2 `overseer worker` processes on this machine run the no-op work
 * (`bench/noop-executors.ts`). Same tasks, dependencies and priorities as the other Overseer rows,
 * CONCURRENCY attempts out at once. Workers are started (and ready) before the clock starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BullmqDispatch } from '../actors/bullmq-dispatch.js';
import { createOverseer } from '../runtime/index.js';
import type { Run } from './w1-child.js';
import { CONCURRENCY } from './workload.js';

function startWorker(url: string, queue: string): Promise<ChildProcess> {
  const cli = fileURLToPath(new URL('../runtime/cli.js', import.meta.url));
  const executors = fileURLToPath(new URL('./noop-executors.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'worker', '--redis', url, '--queue', queue, '--concurrency', String(CONCURRENCY), '--executors', executors], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      if (/processing .* queue/.test(err)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`overseer worker exited with ${code}: ${err}`)));
  });
}

export async function overseerBullmq(port: number, workers: number): Promise<Run> {
  if (!port) throw new Error('overseer+bullmq: REDIS_PORT is not set');
  const url = `redis://127.0.0.1:${port}`;
  const queue = `w1d-${process.pid}`;
  const children = await Promise.all(Array.from({ length: workers }, () => startWorker(url, queue)));
  const dispatch = await BullmqDispatch.connect({ redis: url, queue });
  return async (tasks, meter) => {
    const o = createOverseer();
    for (const t of tasks) o.scheduleTask({ ...t, executor: 'noop' });
    meter.sample();
    const { outcome } = o.run({ dispatch, concurrency: CONCURRENCY });
    const result = await outcome;
    meter.stop();
    meter.sample();
    if (result.counts.completed !== tasks.length) throw new Error(`not every task completed: ${JSON.stringify(result.counts)}`);
    await dispatch.close();
    for (const child of children) child.kill('SIGKILL');
    await o.close();
    return {};
  };
}
