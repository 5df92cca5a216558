/**
 * How breakpoints act on the work: the ports a BreakpointManager gets from the runtime.
 * A task breakpoint blocks the task (reason `breakpoint`); a project breakpoint holds the
 * project paused in the supervisor. A resolution lets go of only what the breakpoint
 * holds: a person's own block or pause stays.
 */
import type { ResolutionAction } from '../machines/breakpoint.js';
import type { TaskState } from '../machines/task.js';
import type { JournalEntry } from '../store/types.js';
import type { BreakpointPorts } from './breakpoints.js';
import type { Clock } from './clock.js';
import type { Emitter } from './events.js';
import type { Scheduler, TaskEntry } from './scheduler.js';
import { deepFreeze, type JsonValue } from './json.js';

export interface WiringNeeds {
  scheduler: Scheduler;
  clock: Clock;
  emitter: Emitter;
  journal: ((entry: JournalEntry) => void) | null;
  onError: (error: unknown, source: string) => void;
  pauseProject(projectId: string, holder: string): void;
  resumeProject(projectId: string, holder: string): void;
}

const OPEN = new Set<TaskState>(['pending', 'ready', 'running', 'blocked', 'retrying']);

export function breakpointPorts(n: WiringNeeds): BreakpointPorts {
  const { scheduler, clock } = n;
  const entry = (id: string): TaskEntry | undefined => scheduler.tasks.get(id);
  const heldBy = (e: TaskEntry, id: string) => e.task.value === 'blocked' && e.task.context.blockedReason?.breakpoint === id;
  const cancelOpen = (e: TaskEntry, reason: string) => {
    if (OPEN.has(e.task.value)) scheduler.cancel(e, clock.now(), reason);
  };
  return {
    clock,
    schedule: (key, at) => scheduler.timers.schedule(key, at),
    cancelTimer: (key) => scheduler.timers.cancel(key),
    journal: (e) => n.journal?.(e),
    onError: n.onError,
    emit: (event) => n.emitter.emit({ ...event, at: clock.now() }),
    taskInfo(taskId) {
      const e = entry(taskId);
      return e ? { projectId: e.task.context.projectId, state: e.task.value, maxRetries: e.task.context.maxRetries } : null;
    },
    refusal(taskId, action) {
      const e = entry(taskId);
      if (!e || action !== 'skip') return null;
      if (e.task.value !== 'blocked' && e.task.value !== 'pending' && e.task.value !== 'ready') return `cannot skip "${taskId}": it is ${e.task.value}`;
      if (e.unmet > 0) return `cannot skip "${taskId}": its dependencies are not complete`;
      return null;
    },
    pauseTask(taskId, breakpointId) {
      const e = entry(taskId);
      // Blocked already (by a person, or upstream): that block stays in charge. Failed or
      // retrying: the task is held when it becomes ready again (see holdIfPaused).
      if (e && (e.task.value === 'pending' || e.task.value === 'ready' || e.task.value === 'running')) {
        scheduler.block(e, clock.now(), 'breakpoint', breakpointId);
      }
    },
    releaseTask(taskId, breakpointId, action: ResolutionAction, note, stillOpen, pendingResult) {
      const e = entry(taskId);
      if (!e) return;
      const at = clock.now();
      if (stillOpen) {
        // Another breakpoint still pauses this task: it takes over the block.
        if (heldBy(e, breakpointId)) scheduler.block(e, at, 'breakpoint', stillOpen);
        return;
      }
      if (action === 'cancel') return cancelOpen(e, note ? `cancelled at a breakpoint: ${note}` : 'cancelled at a breakpoint');
      if (e.task.value === 'failed') return scheduler.retry(e, at, 0, true);
      if (action === 'continue' && pendingResult !== undefined && heldBy(e, breakpointId) && e.unmet === 0) {
        // The escalated result was accepted: the task completes with it.
        scheduler.unblock(e, at);
        scheduler.start(e, at, 'held_result');
        scheduler.complete(e, { type: 'COMPLETE', at, result: deepFreeze(structuredClone(pendingResult)) });
        return;
      }
      if (action === 'skip') {
        // Skipping counts as done: dependents go on without it (refusal() checked it can).
        // A result held for the person stays with the task, beside the skip (the only copy outside the breakpoint).
        const held: { heldResult?: JsonValue } = pendingResult !== undefined && heldBy(e, breakpointId) ? { heldResult: deepFreeze(structuredClone(pendingResult)) } : {};
        if (e.task.value === 'blocked') scheduler.unblock(e, at);
        if (e.task.value === 'pending') return;
        scheduler.start(e, at, 'skip');
        scheduler.complete(e, { type: 'COMPLETE', at, result: Object.freeze({ skipped: true, note, ...held }) as JsonValue });
        return;
      }
      if (heldBy(e, breakpointId)) scheduler.unblock(e, at);
    },
    pauseProject: (projectId, breakpointId) => n.pauseProject(projectId, breakpointId),
    releaseProject(projectId, breakpointId, action) {
      const project = scheduler.projects.get(projectId);
      if (action === 'cancel') {
        for (const state of OPEN) for (const e of [...(project?.byState[state] ?? [])]) cancelOpen(e, 'cancelled at a breakpoint');
      }
      // The project's tasks that failed for good run again (consecutive_failures: "a person may retry them").
      if (action === 'retry') for (const e of [...(project?.byState.failed ?? [])]) scheduler.retry(e, clock.now(), 0, true);
      n.resumeProject(projectId, breakpointId);
    },
  };
}

/** A task that becomes ready while a breakpoint concerns it (it was failed or retrying then) is held at once. */
export function holdIfPaused(scheduler: Scheduler, e: TaskEntry, openBreakpoint: string | null, at: number): void {
  if (openBreakpoint && e.task.value === 'ready') scheduler.block(e, at, 'breakpoint', openBreakpoint);
}
