/** The compaction worker thread: makes the snapshots it is asked for (runtime/compactor.ts), one at a time, keeping the last. */
import { parentPort } from 'node:worker_threads';
import type { SnapshotSource } from '../store/types.js';
import { SnapshotMaker, type SnapshotLimits } from './compactor.js';

const maker = new SnapshotMaker();
parentPort!.on('message', ({ source, limits }: { source: SnapshotSource; limits: SnapshotLimits }) => {
  try {
    maker.make(source, limits);
    parentPort!.postMessage({ ok: true, reused: maker.reused });
  } catch (error) {
    parentPort!.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error), stack: error instanceof Error ? error.stack : undefined });
  }
});
