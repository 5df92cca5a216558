/**
 * A throwaway Redis for the BullMQ peer: `redis-server` on a free port of 127.0.0.1,
 * stopped when the benchmark ends (also on failure or Ctrl-C). Without persistence, or
 * (`durable`) with its append-only file fsynced every second in a temporary folder, the
 * usual setting for a Redis that must keep its jobs: the peer of Overseer's file store.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Redis {
  port: number;
  stop(): Promise<void>;
}

export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A port of 127.0.0.1 nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Whether a Redis answers PING on 127.0.0.1:port. */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.setTimeout(500);
    socket.on('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The arguments `startRedis` gives `redis-server` (docs/benchmarks.md quotes them). */
export const redisArgs = (port: number | string, durable: boolean, dir = '<temporary folder>'): string[] => [
  '--port', String(port), '--bind', '127.0.0.1', '--save', '',
  // No automatic rewrite of the file: one (a forked child) started by a large run would go on into the next contender's.
  ...(durable ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--auto-aof-rewrite-percentage', '0', '--dir', dir] : ['--appendonly', 'no']),
];

export async function startRedis(durable = false): Promise<Redis> {
  const port = await freePort();
  const dir = durable ? mkdtempSync(join(tmpdir(), 'overseer-bench-redis-')) : null;
  const child = spawn('redis-server', redisArgs(port, durable, dir ?? undefined), { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    kill();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('exit', kill);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stop = async () => {
    kill();
    await exited;
    if (dir) rmSync(dir, { recursive: true, force: true }); // what it wrote while stopping
    process.off('exit', kill);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) break;
    if (await ping(port)) return { port, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`redis-server did not answer on 127.0.0.1:${port} within 10 s`);
}
