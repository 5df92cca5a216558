/**
 * The workspace monitor: file changes become runtime events.
 *
 *   watcher (actors/watcher.ts) → change detector (typed events) → here:
 *   - attribution: changes seen while a task runs are recorded on it (`changedFiles`), when
 *     they fall under its working directory (all running tasks, for work without one);
 *   - triggers: a task with `metadata.onChange` globs runs again when matching files change
 *     (a new task `<id>@<n>`, since a finished task is final), and one that waits for a change
 *     (`blockedReason: waiting_for_change`) is released; a change that comes while the task
 *     runs makes it run again once that attempt ends (its result may predate the change),
 *     unless it starts another attempt, which sees the change, or is cancelled;
 *   - breakpoints: the rules see `event == "workspace.changed"` with the changes
 *     (`changes.protected`, `changes.tests`, `changes.burst`, …);
 *   - a `workspace.changed` event for people and programs.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { watchWorkspace, type WorkspaceWatcher } from '../actors/watcher.js';
import type { ChangedFile } from '../machines/task.js';
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

/** The id of the task a run is a copy of (`metadata.rerunOf`), or its own. */
function baseOf(task: TaskView): string {
  const meta = task.metadata;
  return isPlainObject(meta) && typeof meta.rerunOf === 'string' ? meta.rerunOf : task.id;
}

export class WorkspaceMonitor {
  private readonly watcher: WorkspaceWatcher;
  private readonly detector: ChangeDetector;
  readonly root: string;
  /** Runs that a trigger's change reached while they ran: each runs again when it ends. */
  private readonly changedWhileRunning = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly overseer: Overseer,
    options: WorkspaceOptions,
  ) {
    this.root = resolve(options.root);
    overseer.workspaceRoot = this.root; // the paths it records are relative to it
    this.detector = new ChangeDetector(options);
    this.watcher = watchWorkspace(this.root, {
      ...(options.ignore ? { ignore: options.ignore } : {}),
      ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
      onChanges: (changes) => this.onChanges(changes),
      onError: (error) => options.onError?.(error),
      now: () => overseer.clock.now(),
    });
    this.unsubscribe = overseer.on('task.transition', ({ taskId, to }) => {
      if (!this.changedWhileRunning.has(taskId)) return;
      if (to === 'running' || to === 'cancelled') this.changedWhileRunning.delete(taskId); // another attempt sees the change; a person stopped this one
      else if (to === 'completed' || to === 'failed') {
        this.changedWhileRunning.delete(taskId);
        // Not inside the call that ended it (the runtime is half-way through its records).
        queueMicrotask(() => {
          if (this.overseer.closed) return;
          const task = this.overseer.getTaskStatus(taskId);
          // Still ended (a failure the retry policy takes up is retrying by now: its retry sees the change), and still the latest run.
          if (task && FINAL.has(task.state) && this.latestRuns().get(baseOf(task))?.id === taskId) this.rerun([[baseOf(task), task]]);
        });
      }
    });
  }

  ready(): Promise<void> {
    return this.watcher.ready();
  }

  close(): Promise<void> {
    this.unsubscribe();
    return this.watcher.close();
  }

  /** One batch of changes: attribute, trigger, let the rules see it, tell the listeners. */
  onChanges(changes: RawChange[]): void {
    if (this.overseer.closed) return;
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
    const reruns: [string, TaskView][] = [];
    for (const [base, task] of this.latestRuns()) {
      const meta = isPlainObject(task.metadata) ? task.metadata : {};
      const globs = Array.isArray(meta.onChange) ? meta.onChange.filter((g): g is string => typeof g === 'string') : [];
      if (globs.length === 0 || !paths.some((p) => matchesAny(p, globs))) continue;
      if (task.state === 'blocked' && task.blockedReason?.reason === WAITING_FOR_CHANGE) this.overseer.unblockTask(task.id);
      else if (FINAL.has(task.state)) reruns.push([base, task]);
      else if (task.state === 'running') this.changedWhileRunning.add(task.id);
    }
    if (reruns.length) this.rerun(reruns);
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
  private rerun(reruns: [string, TaskView][]): void {
    const copyOf = new Map<string, string>();
    for (const [base] of reruns) {
      let n = 2;
      while (this.overseer.getTaskStatus(`${base}@${n}`)) n++;
      copyOf.set(base, `${base}@${n}`);
    }
    const latest = this.latestRuns();
    const runOf = (id: string) => {
      const task = this.overseer.getTaskStatus(id);
      const base = task ? baseOf(task) : id;
      return copyOf.get(base) ?? latest.get(base)?.id ?? id;
    };
    this.overseer.scheduleTasks(
      reruns.map(([base, task]) => {
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
      }),
    );
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
