/** The compaction worker thread: makes one snapshot (runtime/compactor.ts) and exits. */
import { parentPort, workerData } from 'node:worker_threads';
import type { SnapshotSource } from '../store/types.js';
import { snapshotFromFiles, type SnapshotLimits } from './compactor.js';

try {
  const { source, limits } = workerData as { source: SnapshotSource; limits: SnapshotLimits };
  snapshotFromFiles(source, limits);
  parentPort!.postMessage({ ok: true });
} catch (error) {
  parentPort!.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error), stack: error instanceof Error ? error.stack : undefined });
}
