/**
 * The peers, on W1 without dependencies (neither has them): p-queue in memory, and
 * BullMQ on a local Redis (a Queue and a Worker in this process), without persistence
 * and with its append-only file (bench/redis.ts). Same concurrency, same priorities,
 * same no-op work as the Overseer contenders.
 */
import { Queue, Worker } from 'bullmq';
import PQueue from 'p-queue';
import type { Run } from './w1-child.js';
import { CONCURRENCY } from './workload.js';

export async function pQueue(): Promise<Run> {
  return async (tasks, meter) => {
    const queue = new PQueue({ concurrency: CONCURRENCY });
    const work = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (const t of tasks) void queue.add(work, { priority: t.priority });
    meter.sample(); // everything is queued: the peak
    await queue.onIdle();
    meter.stop();
    return {};
  };
}

const CHUNK = 1_000;

/** `portVariable`: the environment variable that names the Redis's port. */
export async function bullmq(portVariable: string): Promise<Run> {
  const port = Number(process.env[portVariable]);
  if (!port) throw new Error(`bullmq: ${portVariable} is not set`);
  const connection = { host: '127.0.0.1', port };
  const name = `w1-${process.pid}`;
  const queue = new Queue(name, { connection });
  // The default adapter is ioredis; only these two commands are needed here.
  const client = (await queue.client) as unknown as { flushall(): Promise<unknown>; info(section: string): Promise<string> };
  await client.flushall();
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
  const before = await usedMemory();
  const worker = new Worker(name, async () => {}, { connection, concurrency: CONCURRENCY });
  await worker.waitUntilReady();
  return async (tasks, meter) => {
    const all = new Promise<void>((resolve, reject) => {
      let completed = 0;
      worker.on('completed', () => {
        if (++completed === tasks.length) resolve();
      });
      worker.on('failed', (_job, error) => reject(error));
    });
    for (let i = 0; i < tasks.length; i += CHUNK) {
      // BullMQ: 1 is the highest priority; W1: 10 is.
      const jobs = tasks.slice(i, i + CHUNK).map((t) => ({ name: 'w1', data: { id: t.id, projectId: t.projectId }, opts: { priority: 11 - t.priority } }));
      await queue.addBulk(jobs);
    }
    meter.sample();
    await all;
    meter.stop();
    const redisBytesPerTask = Math.round(((await usedMemory()) - before) / tasks.length);
    await worker.close();
    await queue.close();
    return { redisBytesPerTask };
  };
}
