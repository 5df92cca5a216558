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


/** What the scheduler knows without a pass over the tasks. */
export interface DeadlockHints {
  /** Tasks failed or cancelled, in every project (dependencies may cross projects). */
  deadTasks: number;
  /** Dependency edges against insertion order (see Scheduler.backEdges). */
  backEdges: number;
}

export function analyzeDeadlock(tasks: ReadonlyMap<string, TaskEntry>, projectId: string, hints?: DeadlockHints): DeadlockReport | null {
  // A stuck task needs a failed or cancelled task upstream, and a cycle needs a back edge:
  // with neither, the answer is known without looking at 100,000 tasks.
  if (hints && hints.deadTasks === 0 && hints.backEdges === 0) return null;
  // Only stuck tasks get a verdict; one pass in insertion order (a topological order) decides
  // each task from its dependencies' verdicts, across projects, since dependencies may cross them.
  const verdicts = new Map<TaskEntry, { cause: string; reason: string }>();
  const stuck: StuckTask[] = [];
  // A cycle needs a task that depends on one added after it: one integer comparison per edge.
  let suspicious = false;
  for (const entry of tasks.values()) {
    const state = entry.task.value;
    if (state !== 'pending' && state !== 'blocked') continue;
    const context = entry.task.context;
    let verdict: { cause: string; reason: string } | undefined;
    for (const depId of context.dependencies) {
      const dep = tasks.get(depId);
      if (!dep) continue;
      if (dep.seq >= entry.seq) suspicious = true;
      if (verdict) continue;
      const depState = dep.task.value;
      if (depState === 'completed') continue;
      if (depState === 'failed' || depState === 'cancelled') {
        if (context.onDependencyFailure === 'ignore' || entry.ignored?.has(depId)) continue;
        verdict = { cause: depId, reason: `dependency "${depId}" ${depState === 'failed' ? 'failed' : 'was cancelled'}` };
        continue;
      }
      const depVerdict = verdicts.get(dep);
      if (depVerdict) verdict = { cause: depVerdict.cause, reason: `waits on "${depId}", which can never run (root cause: "${depVerdict.cause}")` };
    }
    if (!verdict) continue;
    verdicts.set(entry, verdict);
    if (context.projectId === projectId) stuck.push({ id: entry.id, state, reason: verdict.reason, cause: verdict.cause });
  }
  let cycle: string[] | null = null;
  if (suspicious) {
    const open = [...tasks.values()].filter((e) => e.task.context.projectId === projectId && e.task.value !== 'completed' && e.task.value !== 'cancelled');
    cycle = findCycle(
      open.map((e) => e.id),
      (id) => tasks.get(id)?.task.context.dependencies ?? [],
    );
  }
  if (!cycle && stuck.length === 0) return null;
  return { projectId, cycle, stuck };
}
