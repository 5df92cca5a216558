/**
 * Compaction off the main thread.
 *
 * A compaction writes the whole state as one JSON snapshot: at 100,000 tasks that is
 * ~60 MB of JSON.stringify and write, ~0.8 s during which the event loop of the service
 * embedding Overseer would stand still (and, in the W1 benchmark, over half the cost of
 * running with the file store). The state at any point of the journal is a pure
 * function of the last snapshot and the journal up to there: it is what a restore
 * computes (`replay`). So a worker thread can make the snapshot from the store's files
 * alone, while the main thread goes on appending, and the store swaps it in.
 *
 * One worker per compaction: it exits when done, so the copy of the state it builds is
 * freed with it. Under vitest and tsx (sources in TypeScript), the worker registers tsx
 * first.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { readSnapshot } from '../store/json-file.js';
import { readJournal } from '../store/journal.js';
import type { SnapshotSource } from '../store/types.js';
import { buildImage, replay } from './persistence.js';
import { TaskHost } from './task-host.js';

/** What the live runtime trims that a replay keeps: the quality controller's history is capped. */
export interface SnapshotLimits {
  maxQualityHistory: number;
}

/** Makes the snapshot `source` asks for: the old snapshot plus the journal prefix, replayed, written to `source.target`. */
export function snapshotFromFiles(source: SnapshotSource, limits: SnapshotLimits): void {
  const { image } = readSnapshot(source.snapshot);
  const journal = readJournal(source.journal, source.journalBytes);
  const records = image ? journal.records.filter((r) => r.s > image.seq) : journal.records;
  const last = records.at(-1)?.s ?? image?.seq ?? 0;
  if (last !== source.seq) throw new Error(`${source.journal}: expected records up to ${source.seq}, found up to ${last}`);
  const { replayed: _, ...parts } = replay({ image, journal: records, warnings: [] }, new TaskHost(), source.journal);
  // As the controller keeps it (it drops the oldest beyond its cap), so the snapshot is the one the runtime would write.
  parts.qualityHistory = parts.qualityHistory.slice(-limits.maxQualityHistory);
  const fd = openSync(source.target, 'w');
  try {
    writeSync(fd, JSON.stringify(buildImage(parts, source.seq)));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const WORKER = new URL(import.meta.url.endsWith('.ts') ? './compactor-worker.ts' : './compactor-worker.js', import.meta.url);

/**
 * `snapshotFromFiles` in a worker thread; resolves when the snapshot is written and fsynced.
 * `signal` stops the worker (the promise rejects with the signal's reason).
 */
export function snapshotInWorker(source: SnapshotSource, limits: SnapshotLimits, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const worker = WORKER.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER.href)}); });`, { eval: true, workerData: { source, limits } })
      : new Worker(WORKER, { workerData: { source, limits } });
    // A process that ends without close() does not wait for a compaction: the old snapshot and the journal still hold everything.
    worker.unref();
    let settled = false;
    worker.once('message', (message: { ok: true } | { ok: false; message: string; stack?: string }) => {
      settled = true;
      if (message.ok) resolve();
      else reject(Object.assign(new Error(message.message), message.stack ? { stack: message.stack } : {}));
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(signal?.aborted ? signal.reason : new Error(`the compaction worker exited with code ${code} before finishing`));
    });
    signal?.addEventListener('abort', () => void worker.terminate(), { once: true });
  });
}
