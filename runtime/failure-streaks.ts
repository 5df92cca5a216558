/**
 * Failures in a row, per project: the distinct tasks that failed since the project's last
 * completion (the breakpoint fact `project.consecutiveFailures`; the default rule pauses a
 * project at 3).
 *
 * A pure function of the task events accepted, in order: a completion ends its project's
 * streak, a failure joins it unless the attempt was interrupted (the process or its
 * worker stopped, not the work: `interrupted`, `worker_lost`). The live runtime follows the events as they happen; a restore follows the
 * journal's, from the streaks the snapshot stored. So a restart neither forgets failures
 * nor counts one twice.
 */
import type { TaskContext, TaskState } from '../machines/task.js';
import { isInterruption } from './backoff.js';

/** As a snapshot keeps them: `[projectId, task ids in the order they failed]`, projects with a streak only. */
export type StoredFailureStreaks = [string, string[]][];

export class FailureStreaks {
  private readonly byProject = new Map<string, Set<string>>();

  /** Takes the streaks a restore found, replacing any. */
  load(stored: StoredFailureStreaks): void {
    this.byProject.clear();
    for (const [projectId, ids] of stored) if (ids.length > 0) this.byProject.set(projectId, new Set(ids));
  }

  /**
   * Follows one task transition the machine accepted: from `from` to `to`, `context` the task's
   * context after it. Only COMPLETE enters completed and only FAIL enters failed (its error is
   * then the task's lastError).
   */
  observe(from: TaskState | null, to: TaskState, context: TaskContext): void {
    if (from === to) return;
    if (to === 'completed') {
      this.byProject.delete(context.projectId);
    } else if (to === 'failed' && !isInterruption(context.lastError?.kind)) {
      const streak = this.byProject.get(context.projectId);
      if (streak) streak.add(context.id);
      else this.byProject.set(context.projectId, new Set([context.id]));
    }
  }

  count(projectId: string): number {
    return this.byProject.get(projectId)?.size ?? 0;
  }

  /** A copy to store (an image must not change after it is taken). */
  stored(): StoredFailureStreaks {
    return [...this.byProject].map(([projectId, ids]) => [projectId, [...ids]]);
  }
}
