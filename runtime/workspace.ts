/**
 * The workspace monitor: file changes become runtime events.
 *
 *   watcher (actors/watcher.ts) → change detector (typed events) → here:
 *   - attribution: changes seen while a task runs are recorded on it (`changedFiles`), when
 *     they fall under its working directory (all running tasks, for work without one);
 *   - triggers: a task with `metadata.onChange` globs runs again when matching files change
 *     (a new task `<id>@<n>`, since a finished task is final), and one that waits for a change
 *     (`blockedReason: waiting_for_change`) is released; a run whose result will predate the
 *     change (it was running, or it waits on a task that runs again) runs again once it ends,
 *     unless it is cancelled or (when it was running) its retry sees the change; a run parked
 *     behind a failed dependency run gives way to one on the latest runs. Only tasks the change
 *     matches (their onChange globs) run again, as for finished ones. A task that writes what
 *     its globs match runs again for its own writes: its output belongs outside them;
 *   - breakpoints: the rules see `event == "workspace.changed"` with the changes
 *     (`changes.protected`, `changes.tests`, `changes.burst`, …);
 *   - a `workspace.changed` event for people and programs.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { watchWorkspace, type WorkspaceWatcher } from '../actors/watcher.js';
import { isSettleReason, type ChangedFile } from '../machines/task.js';
import { ChangeDetector, matchesAny, type ChangeDetectorConfig, type RawChange, type WorkspaceEvent } from './change-detector.js';
import type { JsonValue } from './json.js';
import type { Overseer } from './overseer.js';
import { isPlainObject } from './validate.js';
import type { TaskView } from './view.js';

export interface WorkspaceOptions extends ChangeDetectorConfig {
  /** The directory to watch. */
  root: string;
  /** Globs relative to the root to ignore (besides .git, node_modules and the store's files). */
  ignore?: string[];
  debounceMs?: number;
  onError?: (error: Error) => void;
}

const KIND: Record<string, ChangedFile['kind'] | undefined> = { add: 'created', change: 'modified', unlink: 'deleted' };
export const WAITING_FOR_CHANGE = 'waiting_for_change';
const FINAL = new Set<string>(['completed', 'failed', 'cancelled']);
/** Blocked behind a dependency run that failed for good or was cancelled. */
const parked = (task: TaskView) => task.state === 'blocked' && task.blockedReason?.reason === 'upstream_failed';
/** Blocked after it ran: its result held for a person (or the run paused): what it made predates a change now. */
const heldAfterRunning = (task: TaskView) => task.state === 'blocked' && task.history.at(-1)?.from === 'running';

/** The task a run is a copy of, by a task's metadata (`rerunOf`, which re-runs carry), or null for a first run. */
export function rerunOf(metadata: unknown): string | null {
  return isPlainObject(metadata) && typeof metadata.rerunOf === 'string' ? metadata.rerunOf : null;
}

/** The id of the task a run is a copy of, or its own. */
const baseOf = (task: TaskView): string => rerunOf(task.metadata) ?? task.id;

export class WorkspaceMonitor {
  private readonly watcher: WorkspaceWatcher;
  private readonly detector: ChangeDetector;
  readonly root: string;
  /**
   * Runs whose result will predate a change, by id: each runs again when it ends. `changed`: the
   * change came while it ran (another attempt would see it); `upstream`: something it depends on
   * runs again for the change (every attempt of this run comes before that).
   */
  private readonly stale = new Map<string, 'changed' | 'upstream'>();
  private readonly unsubscribe: () => void;
  private readonly onError: (error: Error) => void;
  private closed = false;
  /** Copies made and not yet marked (markCopies: trigger marks them once its upstream pass is done, settle at its end). */
  private readonly madeNow: string[] = [];

  constructor(
    private readonly overseer: Overseer,
    options: WorkspaceOptions,
  ) {
    this.root = resolve(options.root);
    this.onError = (error) => options.onError?.(error);
    overseer.workspaceRoot = this.root; // the paths it records are relative to it
    this.detector = new ChangeDetector(options);
    this.watcher = watchWorkspace(this.root, {
      ...(options.ignore ? { ignore: options.ignore } : {}),
      ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
      onChanges: (changes) => this.onChanges(changes),
      onError: this.onError,
      now: () => overseer.clock.now(),
    });
    this.unsubscribe = overseer.on('task.transition', ({ taskId, to, reason }) => {
      const why = this.stale.get(taskId);
      if (why === undefined) return;
      if (to === 'cancelled') this.stale.delete(taskId); // a person stopped it
      // Another attempt sees the change (a held result accepted, or a skip, is no attempt: it settles the run).
      else if (to === 'running' && why === 'changed' && !isSettleReason(reason)) this.stale.delete(taskId);
      // Not inside the call that ended it (the runtime is half-way through its records).
      else if (to === 'completed' || to === 'failed') {
        queueMicrotask(() => {
          try {
            this.settle(taskId);
          } catch (error) {
            this.onError(error as Error); // a watch session outlives it
          }
        });
      }
    });
  }

  /** A stale run ended: it runs again, unless its retry took over (and sees the change) or a later run exists. */
  private settle(taskId: string): void {
    const why = this.stale.get(taskId);
    const task = this.closed || this.overseer.closed ? null : this.overseer.getTaskStatus(taskId);
    if (why === undefined || !task) return void this.stale.delete(taskId);
    if (!FINAL.has(task.state)) {
      // Failed and retrying: the retry sees the change; one that waits on a re-run does not, so it stays marked.
      if (why === 'changed') this.stale.delete(taskId);
      return;
    }
    this.stale.delete(taskId);
    if (this.latestRuns().get(baseOf(task))?.id !== taskId) return;
    this.rerun([[baseOf(task), task]]);
    // Runs marked to follow it, which its failure parked, give way to runs on the new one.
    this.supersedeParked((t) => this.stale.get(t.id) === 'upstream');
    this.markCopies();
  }

  ready(): Promise<void> {
    return this.watcher.ready();
  }

  close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    return this.watcher.close();
  }

  /** One batch of changes: attribute, trigger, let the rules see it, tell the listeners. */
  onChanges(changes: RawChange[]): void {
    if (this.closed || this.overseer.closed) return;
    const events = this.detector.push(changes);
    const attributed = this.attribute(changes);
    this.trigger(changes);
    this.raise(events, changes, attributed);
    this.overseer.emitWorkspaceChanged(events);
  }

  private attribute(changes: RawChange[]): TaskView[] {
    const files = changes.filter((c) => KIND[c.kind]).map((c) => ({ path: c.path, kind: KIND[c.kind]!, at: c.at }));
    if (files.length === 0) return [];
    const touched: TaskView[] = [];
    for (const task of this.overseer.getTasks({ state: 'running' })) {
      const within = this.workdirOf(task);
      const mine = within === null ? files : files.filter((f) => within === '' || f.path === within || f.path.startsWith(`${within}/`));
      if (mine.length === 0) continue;
      this.overseer.recordChanges(task.id, mine);
      touched.push(task);
    }
    return touched;
  }

  /** The task's working directory relative to the root ('' for the root or above it), or null when it has none. */
  private workdirOf(task: TaskView): string | null {
    const executor = isPlainObject(task.metadata) ? task.metadata.executor : undefined;
    const cwd = isPlainObject(executor) && typeof executor.cwd === 'string' ? executor.cwd : null;
    if (cwd === null) return null;
    const rel = relative(this.root, resolve(cwd)).split('\\').join('/');
    return rel.startsWith('..') || isAbsolute(rel) ? '' : rel;
  }

  private trigger(changes: RawChange[]): void {
    const paths = changes.map((c) => c.path);
    const matches = (task: TaskView) => {
      const meta = isPlainObject(task.metadata) ? task.metadata : {};
      const globs = Array.isArray(meta.onChange) ? meta.onChange.filter((g): g is string => typeof g === 'string') : [];
      return globs.length > 0 && paths.some((p) => matchesAny(p, globs));
    };
    const reruns: [string, TaskView][] = [];
    /** Tasks (by their first run's id) that run again for this change, now or when their run ends. */
    const again = new Set<string>();
    const waiting: TaskView[] = [];
    for (const [base, task] of this.latestRuns()) {
      if (!matches(task)) continue;
      if (task.state === 'blocked' && task.blockedReason?.reason === WAITING_FOR_CHANGE) {
        // Released now (it may wait on a dependency that runs again); not while a dependency is dead (it says so).
        if (this.guarded(() => this.overseer.unblockTask(task.id), `could not release ${task.id}`)) waiting.push(task);
      } else if (FINAL.has(task.state)) (reruns.push([base, task]), again.add(base));
      else if (task.state === 'running' || heldAfterRunning(task)) {
        if (this.stale.get(task.id) !== 'upstream') this.stale.set(task.id, 'changed');
        again.add(base);
      } else if (!parked(task)) waiting.push(task); // not started (or between attempts): it sees the change, but maybe not its dependencies' re-runs
    }
    if (reruns.length) this.rerun(reruns);
    // Runs the change matches that a failed or cancelled dependency run parked give way to runs on the latest ones.
    this.guarded(() => this.supersedeParked(matches), 'could not run parked tasks again');
    // A run that has not started yet, but waits on a task that runs again (now or later), would start
    // before that re-run ends: it runs again too, after it. Transitively: build → test → deploy.
    for (let grew = true; grew; ) {
      grew = false;
      for (const task of waiting) {
        if (this.stale.has(task.id) || !task.dependencies.some((d) => this.stale.has(d) || again.has(this.baseOfId(d)))) continue;
        const now = this.overseer.getTaskStatus(task.id);
        if (!now || FINAL.has(now.state)) continue; // cancelled meanwhile (with a dependency superseded above)
        this.stale.set(task.id, 'upstream');
        grew = true;
      }
    }
    // Copies made above follow the runs they were made on that run again, the ones this pass just marked too.
    this.markCopies();
  }

  /** Whether `act` went through; what it threw is reported (the change goes on for the other tasks). */
  private guarded(act: () => unknown, what: string): boolean {
    try {
      act();
      return true;
    } catch (error) {
      this.onError(new Error(`${what}: ${(error as Error).message}`));
      return false;
    }
  }

  /** A copy made on a run that runs again itself (it ran when the change came, or follows one that does) runs again after that one. */
  private markCopies(): void {
    for (const id of this.madeNow.splice(0)) {
      const copy = this.overseer.getTaskStatus(id);
      if (copy && !FINAL.has(copy.state) && !this.stale.has(id) && copy.dependencies.some((d) => this.stale.has(d))) this.stale.set(id, 'upstream');
    }
  }

  /**
   * Runs blocked behind a failed or cancelled run of a dependency (that `which` picks) are cancelled
   * and run again on the latest runs, once one of those is alive again (else the new run would be
   * parked the same). Cancelling one can park its dependents in turn: until none is left.
   */
  private supersedeParked(which: (task: TaskView) => boolean): void {
    for (;;) {
      const latest = this.latestRuns();
      const dead = (id: string) => {
        const run = latest.get(this.baseOfId(id));
        return run !== undefined && (run.state === 'failed' || run.state === 'cancelled');
      };
      const given = [...latest].filter(([, t]) => parked(t) && which(t) && !t.dependencies.some(dead));
      if (given.length === 0) return;
      for (const [, t] of given) {
        this.stale.delete(t.id);
        // Cancelling one can cancel the next itself (onDependencyFailure: cancel): it is re-run all the same.
        if (this.overseer.getTaskStatus(t.id)?.state === 'blocked') this.overseer.cancelTask(t.id, 'superseded: it runs again on the latest runs of its dependencies');
      }
      if (this.rerun(given.map(([base, t]) => [base, this.overseer.getTaskStatus(t.id)!])).length === 0) return;
    }
  }

  private baseOfId(id: string): string {
    const task = this.overseer.getTaskStatus(id);
    return task ? baseOf(task) : id;
  }

  /** The latest run of each task (`<id>` or its latest `<id>@<n>`), by the id of the first. */
  private latestRuns(): Map<string, TaskView> {
    const latest = new Map<string, TaskView>();
    for (const task of this.overseer.getTasks()) latest.set(baseOf(task), task); // oldest first: the last one seen is the latest run
    return latest;
  }

  /**
   * Runs the tasks again as `<id>@2`, `@3`…, in one batch. A copy waits for the copies of the
   * tasks it depended on that this batch runs again too (`test@2` after `build@2`), and for the
   * latest run of the others.
   */
  private rerun(reruns: [string, TaskView][]): string[] {
    let made: string[] = [];
    // Said, not thrown: a watch session outlives a re-run it could not make (an id grown past the limit, say).
    this.guarded(() => (made = this.scheduleReruns(reruns)), `could not run ${reruns.map(([base]) => base).join(', ')} again`);
    return made;
  }

  private scheduleReruns(reruns: [string, TaskView][]): string[] {
    const copyOf = new Map<string, string>();
    for (const [base] of reruns) {
      let n = 2;
      while (this.overseer.getTaskStatus(`${base}@${n}`)) n++;
      copyOf.set(base, `${base}@${n}`);
    }
    const latest = this.latestRuns();
    const runOf = (id: string) => {
      const base = this.baseOfId(id);
      return copyOf.get(base) ?? latest.get(base)?.id ?? id;
    };
    const specs = reruns.map(([base, task]) => {
      const meta = isPlainObject(task.metadata) ? task.metadata : {};
      return {
        id: copyOf.get(base)!,
        projectId: task.projectId,
        title: task.title,
        priority: task.priority,
        dependencies: task.dependencies.map(runOf),
        maxRetries: task.maxRetries,
        retryBaseMs: task.retryBaseMs,
        onDependencyFailure: task.onDependencyFailure,
        metadata: { ...meta, rerunOf: base, waitForChange: false },
      };
    });
    this.overseer.scheduleTasks(specs);
    const made = specs.map((s) => s.id);
    this.madeNow.push(...made); // marked by the caller, once it knows which runs run again (markCopies)
    return made;
  }

  private raise(events: WorkspaceEvent[], changes: RawChange[], attributed: TaskView[]): void {
    const of = (type: WorkspaceEvent['type']) => events.find((e) => e.type === type)?.paths ?? [];
    const task = attributed.length === 1 ? attributed[0]! : null;
    const facts: Record<string, JsonValue> & { project: { id: string } } = {
      event: 'workspace.changed',
      project: { id: task?.projectId ?? 'default' },
      changes: {
        paths: changes.map((c) => c.path),
        created: of('file.created'),
        modified: of('file.modified'),
        deleted: of('file.deleted'),
        tests: of('test.changed'),
        config: of('config.changed'),
        dependencies: of('dependencies.changed'),
        protected: of('protected.touched'),
        burst: events.some((e) => e.type === 'burst'),
      },
    };
    if (task) facts.task = { id: task.id, title: task.title, state: task.state, attempts: task.attempts };
    this.overseer.raiseFromFacts(facts);
  }
}
