/**
 * Watches a workspace directory with chokidar 5 and hands debounced batches of `RawChange`s to a
 * callback (feed them to `ChangeDetector` for typed events). Glue only: what the changes mean is
 * decided in runtime/change-detector.ts.
 */
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { matchesAny, mergeChange, type RawChange, type RawChangeKind } from '../runtime/change-detector.js';
import { OverseerError } from '../runtime/errors.js';

/**
 * Never reported: VCS and dependency trees (huge and not the agent's work) and the runtime's own
 * store files (`state.json.journal`, `.lock`, `.bak`, steno's `.state.json.tmp`, the `.overseer/`
 * directory): without these the runtime would see every one of its own writes as a workspace change.
 * A store file kept elsewhere under the root (the snapshot `state.json` itself) must be added to `ignore`.
 */
export const ALWAYS_IGNORED: readonly string[] = Object.freeze([
  '**/.git/**', '**/node_modules/**', '**/.overseer/**',
  // Editor swap and backup files (chokidar's `atomic` mode would hide these; it is off, see below).
  '**/.*.swp', '**/.*.swx', '**/*~',
  '**/*.json.journal', '**/*.json.journal.tmp', '**/*.json.lock', '**/*.json.lock.stale-*', '**/*.json.bak', '**/.*.json.tmp',
]);

export interface WatchWorkspaceOptions {
  /** Globs relative to the root (`dist/**`, `**\/*.log`; see `globMatch`), added to `ALWAYS_IGNORED`. A matching directory is not descended into. */
  ignore?: readonly string[];
  /**
   * Quiet time (ms) before a batch is delivered; changes to one path within it collapse into one
   * (`mergeChange`). Default 100. A batch is delivered at the latest max(1 s, 10 × debounceMs) after its first change.
   */
  debounceMs?: number;
  /** A file must keep its size this long (ms) before its add/change is reported (chokidar's awaitWriteFinish). Default 50; 0 turns it off. */
  awaitWriteFinishMs?: number;
  /** Gets each batch: one net change per path, in first-seen order. Never called after `close()`. */
  onChanges: (changes: RawChange[]) => void;
  /**
   * Watch errors (EACCES, ENOSPC when inotify runs out, a throwing `onChanges`) and `WorkspaceWatchError`s:
   * ROOT_MISSING at start, ROOT_VANISHED (then nothing more is reported; close and watch again). Default: dropped.
   */
  onError?: (error: Error) => void;
  /** The clock for `RawChange.at`. Default `Date.now`. */
  now?: () => number;
}

export interface WorkspaceWatcher {
  /** The absolute root being watched. */
  readonly root: string;
  /** Resolves once the initial scan is done (changes before that may be missed); also on close or a missing root. */
  ready(): Promise<void>;
  /** Stops watching, drops undelivered changes and resolves once every handle and timer is released. Idempotent. */
  close(): Promise<void>;
}

/** Problems found by the watcher itself (rather than by the file system). */
export class WorkspaceWatchError extends OverseerError {
  override name = 'WorkspaceWatchError';
  constructor(message: string, readonly code: 'ROOT_MISSING' | 'ROOT_VANISHED' | 'CALLBACK_FAILED', options?: ErrorOptions) {
    super(message, options);
  }
}

/** Starts watching `root` (existing changes are not reported: only what happens from now on). Never throws for file-system trouble. */
export function watchWorkspace(rootPath: string, options: WatchWorkspaceOptions): WorkspaceWatcher {
  const root = resolve(rootPath);
  const debounceMs = options.debounceMs ?? 100;
  const awfMs = options.awaitWriteFinishMs ?? 50;
  // Without a cap a file rewritten every 50 ms would postpone delivery forever.
  const maxWaitMs = Math.max(1000, debounceMs * 10);
  const now = options.now ?? Date.now;
  const ignore = [...ALWAYS_IGNORED, ...(options.ignore ?? [])];
  const pending = new Map<string, RawChange | undefined>();
  let timer: NodeJS.Timeout | undefined, firstPendingAt = 0, closed = false;

  const report = (error: unknown): void => {
    if (closed || !options.onError) return;
    try {
      options.onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // A throwing error handler must not take the process down from inside a file-system callback.
    }
  };
  const toRel = (abs: string): string => relative(root, abs).split(sep).join('/') || '.';

  const flush = (): void => {
    timer = undefined;
    const batch = [...pending.values()].filter((c): c is RawChange => c !== undefined);
    pending.clear();
    if (closed || batch.length === 0) return;
    try {
      options.onChanges(batch);
    } catch (error) {
      report(new WorkspaceWatchError(`onChanges failed: ${String(error)}`, 'CALLBACK_FAILED', { cause: error }));
    }
  };
  const record = (kind: RawChangeKind, abs: string): void => {
    if (closed) return;
    const path = toRel(abs), at = now();
    if (pending.size === 0 && timer === undefined) firstPendingAt = Date.now();
    pending.set(path, mergeChange(pending.get(path), { kind, path, at }));
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, Date.now() - firstPendingAt >= maxWaitMs ? 0 : debounceMs);
    if (path === '.' && kind === 'unlinkDir') report(new WorkspaceWatchError(`the watched root ${root} vanished`, 'ROOT_VANISHED'));
  };

  if (!isDirectory(root)) {
    // chokidar would watch the parent for the root to appear, and 5.0.0 does not release those
    // watchers on close(); a workspace that is not there is an error to report, not to wait for.
    queueMicrotask(() => report(new WorkspaceWatchError(`cannot watch ${root}: not an existing directory`, 'ROOT_MISSING')));
    return { root, ready: () => Promise.resolve(), close: async () => void (closed = true) };
  }

  const watcher = watch(root, {
    ignoreInitial: true,
    // Called with absolute paths; paths outside the root (none expected) are left to chokidar.
    ignored: (abs: string) => {
      const rel = relative(root, abs);
      return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel) && matchesAny(rel.split(sep).join('/'), ignore);
    },
    // Off: its unlink delay runs on a timer close() cannot clear, and `mergeChange` in the debounce
    // already turns a delete-and-recreate (an atomic save) into one 'change'.
    atomic: false,
    awaitWriteFinish: awfMs > 0 ? { stabilityThreshold: awfMs, pollInterval: Math.min(100, Math.max(10, Math.round(awfMs / 2))) } : false,
  });
  // Always listen: chokidar 5 emits 'error' for unwatchable entries, and an unheard 'error' throws.
  watcher.on('error', (error) => report(error));
  for (const kind of ['add', 'change', 'unlink', 'addDir', 'unlinkDir'] as const) watcher.on(kind, (abs: string) => record(kind, abs));
  let readyDone = (): void => {};
  const isReady = new Promise<void>((done) => (readyDone = done));
  watcher.once('ready', () => readyDone());

  return {
    root,
    ready: () => isReady,
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending.clear();
      releaseTimers(watcher);
      readyDone(); // close() before ready must not leave ready() hanging
      await watcher.close();
      // fs.watch handles are released in libuv's close phase, after the close() promise settles:
      // wait for it, so that when close() resolves nothing of ours is open any more.
      await new Promise<void>((done) => setImmediate(() => setImmediate(done)));
    },
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // gone, or not reachable: both mean there is nothing to watch
  }
}

/**
 * chokidar 5.0.0's close() forgets but does not clear its own timers: per-path throttles (the
 * readdir one lasts 1 s) and awaitWriteFinish polls. Left alone they keep the event loop busy
 * after close. Clearing them here uses members its typings expose.
 */
function releaseTimers(watcher: FSWatcher): void {
  for (const byPath of watcher._throttled.values()) for (const throttle of [...byPath.values()]) (throttle as { clear(): void }).clear();
  for (const write of [...watcher._pendingWrites.values()]) (write as { cancelWait(): void }).cancelWait();
}
