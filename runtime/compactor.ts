/**
 * Compaction off the main thread.
 *
 * A compaction writes the whole state as one JSON snapshot: at 100,000 tasks ~18 MB in
 * the compact task form (store/task-codec.ts), and even serializing only the tasks that
 * changed since the last one (store/snapshot-text.ts) costs the main thread ~0.3–0.45 s of
 * CPU (in slices, so the event loop keeps turning). The state at any point of the journal is a pure
 * function of the last snapshot and the journal up to there: it is what a restore
 * computes (`replay`). So a worker thread can make the snapshot from the store's files
 * alone, while the main thread goes on appending, and the store swaps it in.
 *
 * The worker lives from one compaction to the next and keeps what it wrote (see
 * `SnapshotMaker`): the next compaction replays and serializes only what changed since,
 * instead of parsing the whole snapshot again and serializing all of it (with the
 * 60 MB snapshots of schema 2, ~0.7 s and ~0.35 s of a worker's ~1.5 s at 100,000 tasks;
 * a worker needs a spare core all the same: see Durability). The price is a copy of the state
 * and of its JSON in the worker's heap while the runtime is open. Under vitest and tsx
 * (sources in TypeScript), the worker registers tsx first.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { readSnapshot } from '../store/json-file.js';
import { readJournal } from '../store/journal.js';
import { SnapshotText } from '../store/snapshot-text.js';
import type { SnapshotSource, StoreImage } from '../store/types.js';
import { buildImage, replay } from './persistence.js';
import { TaskHost } from './task-host.js';

/** What the live runtime trims that a replay keeps: the quality controller's history is capped. */
export interface SnapshotLimits {
  maxQualityHistory: number;
}

/** The image a maker wrote last, and the text maker that serialized it (it keeps each task's JSON). */
interface Kept {
  image: StoreImage;
  text: SnapshotText;
}

/**
 * Makes the snapshots `source` asks for: the old snapshot plus the journal prefix,
 * replayed, written to `source.target`.
 *
 * It keeps the last image it wrote and, when `source.snapshotSeq` says that image is the
 * store's snapshot, starts the next one from it: only the journal since is read and
 * replayed, and only the tasks those records touch are serialized again (SnapshotText).
 */
export class SnapshotMaker {
  private kept: Kept | null = null;
  /** Whether the last `make` started from the image it kept (for tests and benchmarks). */
  reused = false;

  make(source: SnapshotSource, limits: SnapshotLimits): void {
    const kept = this.kept?.image.seq === source.snapshotSeq ? this.kept : null;
    this.reused = kept !== null;
    // The replay below changes the kept image's task records in place: until it is done, there is nothing to keep.
    this.kept = null;
    const image = kept ? kept.image : readSnapshot(source.snapshot).image;
    const text = kept?.text ?? new SnapshotText();
    const journal = readJournal(source.journal, source.journalBytes);
    const records = image ? journal.records.filter((r) => r.s > image.seq) : journal.records;
    const last = records.at(-1)?.s ?? image?.seq ?? 0;
    if (last !== source.seq) throw new Error(`${source.journal}: expected records up to ${source.seq}, found up to ${last}`);
    // readSnapshot decoded the tasks (marking what must be); a kept image's contexts are this maker's own.
    const { replayed: _, ...parts } = replay({ image, journal: records, warnings: [], tasksDecoded: true }, new TaskHost(), source.journal);
    // As the controller keeps it (it drops the oldest beyond its cap), so the snapshot is the one the runtime would write.
    parts.qualityHistory = parts.qualityHistory.slice(-limits.maxQualityHistory);
    const made = buildImage(parts, source.seq);
    const json = text.serialize(made);
    const fd = openSync(source.target, 'w');
    try {
      writeSync(fd, json);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.kept = { image: made, text };
  }
}

const WORKER = new URL(import.meta.url.endsWith('.ts') ? './compactor-worker.ts' : './compactor-worker.js', import.meta.url);

type Reply = { ok: true; reused: boolean } | { ok: false; message: string; stack?: string };

/**
 * A worker thread that makes snapshots (`SnapshotMaker`), one at a time. It starts at the
 * first `snapshot()` and lives until `close()`, or until a snapshot is stopped or the
 * worker dies: the next `snapshot()` then starts a fresh one.
 */
export class CompactionWorker {
  private worker: Worker | null = null;
  /** Settles the snapshot in flight, if any. */
  private settle: ((reply: Reply | Error) => void) | null = null;
  /** The exit of the last worker stopped: the next one starts after it (never two threads on one target file). */
  private stopped: Promise<unknown> = Promise.resolve();

  /**
   * Resolves when the snapshot is written and fsynced (saying whether the worker started
   * from the state it kept). `signal` stops it: the worker is terminated and, once its
   * thread is gone, the promise rejects with the signal's reason.
   */
  snapshot(source: SnapshotSource, limits: SnapshotLimits, signal?: AbortSignal): Promise<{ reused: boolean }> {
    if (this.settle) return Promise.reject(new Error('CompactionWorker: one snapshot at a time'));
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      // Only while this request is the one in flight: a stopped request's signal must not stop its successor.
      const onAbort = () => {
        if (this.settle === settle) this.stop(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (reply: Reply | Error) => {
        if (this.settle === settle) this.settle = null;
        signal?.removeEventListener('abort', onAbort);
        if (reply instanceof Error) reject(reply);
        else if (reply.ok) resolve({ reused: reply.reused });
        else reject(Object.assign(new Error(reply.message), reply.stack ? { stack: reply.stack } : {}));
      };
      this.settle = settle;
      void this.stopped.then(() => {
        if (this.settle === settle) this.start().postMessage({ source, limits }); // unless stopped meanwhile
      });
    });
  }

  /** Terminates the worker (a snapshot in flight rejects). The next `snapshot()` starts another. */
  close(): void {
    this.stop(new Error('the compaction worker was closed'));
  }

  private stop(reason: unknown): void {
    const worker = this.worker;
    const settle = this.settle;
    this.worker = null;
    this.settle = null;
    const error = reason instanceof Error ? reason : Object.assign(new Error(String(reason)), { cause: reason });
    if (!worker) return void settle?.(error);
    // Settled once the thread is gone, not before: a worker stopped half-way through writing
    // its target could otherwise write it again after the store has removed it.
    const done = () => settle?.(error);
    this.stopped = worker.terminate().then(done, done);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = WORKER.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER.href)}); });`, { eval: true })
      : new Worker(WORKER);
    // A reply the worker posted before it was stopped still arrives: it must not settle a later request.
    worker.on('message', (reply: Reply) => {
      if (this.worker === worker) this.settle?.(reply);
    });
    const gone = (error: Error) => {
      if (this.worker !== worker) return; // stopped on purpose
      this.worker = null;
      this.settle?.(error);
    };
    worker.once('error', gone);
    worker.once('exit', (code) => gone(new Error(`the compaction worker exited with code ${code} before finishing`)));
    // A process that ends without close() does not wait for the worker: the old snapshot and the
    // journal still hold everything. After the listeners: adding a 'message' listener refs it again.
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
