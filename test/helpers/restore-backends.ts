/**
 * The two stores, and the two ways a runtime stops, for restore tests (see test/restore.test.ts):
 *   close — `overseer.close()`: a final snapshot, an empty journal.
 *   crash — what the next process sees if this one died right after `flush()`: no final
 *           snapshot, so the journal is replayed. For the file store the snapshot and
 *           journal are copied aside (the dying process would still hold the lock in this
 *           process); for the memory store the store itself is closed, not the runtime.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { SimulatedClock } from 'xstate';
import { createOverseer, jsonFileStore, memoryStore, type Overseer, type OverseerOptions, type Store } from '../../runtime/index.js';
import { tempStorePath } from './temp.js';

export const T0 = 1_700_000_000_000;
export const HOW = ['close', 'crash'] as const;
export type How = (typeof HOW)[number];

const tempPath = () => tempStorePath('overseer-restore-');

/** fresh: a store for a new run; afterClose: it again; afterCrash: what a restart sees if `old` died now. */
export interface Backend { fresh(): Store; afterClose(): Store; afterCrash(old: Overseer): Promise<Store> }

export const backends: [string, () => Backend][] = [
  ['memoryStore', () => {
    let store: Store;
    return {
      fresh: () => (store = memoryStore()),
      afterClose: () => store,
      // Releasing the store without the runtime's final snapshot is exactly what a dead process leaves.
      afterCrash: async (old) => (await old.flush(), await store.close(), store),
    };
  }],
  ['jsonFileStore', () => {
    let path: string;
    return {
      fresh: () => jsonFileStore((path = tempPath())),
      afterClose: () => jsonFileStore(path),
      afterCrash: async (old) => {
        await old.flush();
        const copy = tempPath();
        for (const suffix of ['', '.journal']) if (existsSync(path + suffix)) copyFileSync(path + suffix, copy + suffix);
        await old.close(); // releases its lock; the copy was taken before, so this cannot change it
        path = copy;
        return jsonFileStore(copy);
      },
    };
  }],
];

export interface Run { clock: SimulatedClock; overseer: Overseer }

export function start(store: Store, at = T0, options: Omit<OverseerOptions, 'clock' | 'store'> = {}): Run {
  const clock = new SimulatedClock();
  clock.set(at);
  return { clock, overseer: createOverseer({ clock, store, ...options }) };
}


/** Stops `run` the way `how` says and starts a runtime on what it left, at the same time. */
export async function restart(backend: Backend, how: How, run: Run, options: Omit<OverseerOptions, 'clock' | 'store'> = {}): Promise<Run> {
  const at = run.clock.now();
  if (how === 'close') await run.overseer.close();
  return start(how === 'close' ? backend.afterClose() : await backend.afterCrash(run.overseer), at, options);
}
