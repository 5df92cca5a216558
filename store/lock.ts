/**
 * One writer per store: a lock file holding the writer's pid.
 *
 * `open(lock, 'wx')` creates it only if absent. A lock whose process is gone (crash,
 * SIGKILL) is stale: it is renamed aside — rename is atomic, so of two processes
 * taking over at once only one succeeds — and the take-over is retried.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { StoreLockedError } from './errors.js';

interface LockInfo {
  pid: number;
  hostname: string;
  since: string;
}

export interface Lock {
  release(): void;
  /** The stale holder that was replaced, if any. */
  replacedPid: number | null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof info.pid === 'number' ? info : null;
  } catch {
    return null; // vanished, or half-written by a process that died while writing it
  }
}

/** Whether the lock's writer still holds it: a live process here, or one on another host (which cannot be asked). */
const holds = (holder: LockInfo): boolean => holder.hostname !== hostname() || isAlive(holder.pid);

/** Who holds the lock at `path`, as `acquireLock` judges it; null when nobody does. */
export function lockHolder(path: string): { pid: number; hostname: string } | null {
  const holder = readLock(path);
  return holder !== null && holds(holder) ? { pid: holder.pid, hostname: holder.hostname } : null;
}

export function acquireLock(path: string, location: string): Lock {
  const mine: LockInfo = { pid: process.pid, hostname: hostname(), since: new Date().toISOString() };
  let replacedPid: number | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify(mine));
      closeSync(fd);
      return {
        replacedPid,
        release: () => {
          if (readLock(path)?.pid === process.pid) unlinkSync(path);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readLock(path);
    if (holder && holder.hostname === mine.hostname && holder.pid === process.pid) {
      throw new StoreLockedError(location, holder.pid, ' (this process: it is already open)');
    }
    if (holder && holds(holder)) {
      const where = holder.hostname === mine.hostname ? '' : ` on ${holder.hostname}`;
      throw new StoreLockedError(location, holder.pid, `${where}, since ${holder.since}`);
    }
    // Stale: its process is gone (or it died while writing the lock).
    const aside = `${path}.stale-${process.pid}-${attempt}`;
    try {
      renameSync(path, aside);
      const moved = readLock(aside);
      // We moved a lock that someone took over meanwhile: put it back (link fails if the name is taken).
      if (moved && moved.pid !== holder?.pid) linkSync(aside, path);
      unlinkSync(aside);
    } catch {
      // Another process moved it first: the next round decides.
    }
    replacedPid = holder?.pid ?? -1;
  }
  throw new StoreLockedError(location, readLock(path)?.pid ?? -1, ' (the lock kept changing hands)');
}
