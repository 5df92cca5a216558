/**
 * A throwaway `redis-server` for the BullMQ tests: a free port of 127.0.0.1, its own
 * temporary directory, stopped by the test. `persist: true` keeps an append-only file, so
 * `restart()` brings the same data back (a network blip, not a data loss).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ping } from '../../bench/redis.js';

export const HAS_REDIS = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
export const NO_REDIS_MESSAGE = 'redis-server is not installed: the BullMQ tests are skipped (install it, e.g. `apt-get install redis-server`)';

export interface TestRedis {
  port: number;
  url: string;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port (and, with persist, the same data). */
  restart(): Promise<void>;
  /** Stops it for good and removes its directory. */
  dispose(): Promise<void>;
}

export { freePort };

export async function startRedis({ persist = false }: { persist?: boolean } = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'overseer-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...(persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const launch = async () => {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child = c;
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      if (c.exitCode !== null) break;
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not answer on 127.0.0.1:${port} within 10 s`);
  };
  const stop = async () => {
    const c = child as ChildProcess | null;
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
