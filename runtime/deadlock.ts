/**
 * Deadlock analysis: which tasks can never run, and why.
 *
 * A task can never run by itself when a dependency failed for good or was cancelled
 * (and its policy is not `ignore`), or when it waits on a task that can never run.
 * Tasks are scheduled after their dependencies, so the task table's insertion order
 * is a topological order and one pass decides every task (O(tasks + edges)).
 * A cycle cannot be scheduled, but a store written by something else could hold one,
 * so it is looked for too and reported with its path.
 */
import type { TaskState } from '../machines/task.js';
import { findCycle } from './graph.js';
import type { TaskEntry } from './scheduler.js';

export interface StuckTask {
  id: string;
  state: TaskState;
  /** Why it can never run, for a person. */
  reason: string;
  /** The failed or cancelled task at the root of it. */
  cause: string;
}

export interface DeadlockReport {
  projectId: string;
  /** A dependency cycle as a path (`a -> b -> a` is `['a', 'b', 'a']`), or null. */
  cycle: string[] | null;
  stuck: StuckTask[];
}

type Verdict = { stuck: false } | { stuck: true; cause: string; reason: string };

export function analyzeDeadlock(
  tasks: ReadonlyMap<string, TaskEntry>,
  projectTasks: Iterable<TaskEntry>,
  projectId: string,
): DeadlockReport | null {
  const verdicts = new Map<TaskEntry, Verdict>();
  const verdictOf = (entry: TaskEntry): Verdict => verdicts.get(entry) ?? { stuck: false };

  for (const entry of tasks.values()) {
    const state = entry.task.value;
    if (state !== 'pending' && state !== 'blocked') continue;
    const context = entry.task.context;
    for (const depId of context.dependencies) {
      const dep = tasks.get(depId);
      if (!dep) continue;
      const depState = dep.task.value;
      if (depState === 'completed') continue;
      if (depState === 'failed' || depState === 'cancelled') {
        if (context.onDependencyFailure === 'ignore' || entry.ignored?.has(depId)) continue;
        verdicts.set(entry, {
          stuck: true,
          cause: depId,
          reason: `dependency "${depId}" ${depState === 'failed' ? 'failed' : 'was cancelled'}`,
        });
        break;
      }
      const depVerdict = verdictOf(dep);
      if (depVerdict.stuck) {
        verdicts.set(entry, {
          stuck: true,
          cause: depVerdict.cause,
          reason: `waits on "${depId}", which can never run (root cause: "${depVerdict.cause}")`,
        });
        break;
      }
    }
  }

  const open: TaskEntry[] = [];
  const stuck: StuckTask[] = [];
  for (const entry of projectTasks) {
    const state = entry.task.value;
    if (state === 'completed' || state === 'cancelled') continue;
    open.push(entry);
    const verdict = verdictOf(entry);
    if (verdict.stuck) stuck.push({ id: entry.id, state, reason: verdict.reason, cause: verdict.cause });
  }
  // Insertion order is a topological order, so a cycle needs a task that depends on one added
  // after it. That is one integer comparison per edge; the path is looked for only then.
  let suspicious = false;
  for (const entry of open) {
    for (const dep of entry.task.context.dependencies) {
      if ((tasks.get(dep)?.seq ?? -1) >= entry.seq) suspicious = true;
    }
  }
  const cycle = suspicious
    ? findCycle(
        open.map((e) => e.id),
        (id) => tasks.get(id)?.task.context.dependencies ?? [],
      )
    : null;
  if (!cycle && stuck.length === 0) return null;
  stuck.sort((a, b) => tasks.get(a.id)!.seq - tasks.get(b.id)!.seq);
  return { projectId, cycle, stuck };
}
