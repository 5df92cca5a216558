/**
 * How breakpoints act on the work: the ports a BreakpointManager gets from the runtime.
 * A task breakpoint blocks the task (reason `breakpoint`); a project breakpoint pauses
 * the project in the supervisor. A resolution releases them as it says.
 */
import type { ResolutionAction } from '../machines/breakpoint.js';
import type { JournalEntry } from '../store/types.js';
import type { BreakpointPorts } from './breakpoints.js';
import type { Clock } from './clock.js';
import type { Emitter } from './events.js';
import type { Scheduler, TaskEntry } from './scheduler.js';

export interface WiringNeeds {
  scheduler: Scheduler;
  clock: Clock;
  emitter: Emitter;
  journal: ((entry: JournalEntry) => void) | null;
  onError: (error: unknown, source: string) => void;
  pauseProject(projectId: string): void;
  resumeProject(projectId: string): void;
}

const OPEN = new Set(['pending', 'ready', 'running', 'blocked', 'retrying']);

export function breakpointPorts(n: WiringNeeds): BreakpointPorts {
  const { scheduler, clock } = n;
  const entry = (id: string): TaskEntry | undefined => scheduler.tasks.get(id);
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
    pauseTask(taskId, breakpointId) {
      const e = entry(taskId);
      const state = e?.task.value;
      // A task that is already blocked stays blocked; one that is not open has nothing to pause.
      if (e && (state === 'pending' || state === 'ready' || state === 'running')) {
        scheduler.block(e, clock.now(), 'breakpoint', breakpointId);
      }
    },
    releaseTask(taskId, action: ResolutionAction, note) {
      const e = entry(taskId);
      if (!e) return;
      const at = clock.now();
      const state = e.task.value;
      if (action === 'cancel') return cancelOpen(e, note ? `cancelled at a breakpoint: ${note}` : 'cancelled at a breakpoint');
      if (state === 'failed' && action !== 'skip') return scheduler.retry(e, at, 0, true);
      if (state !== 'blocked') return;
      if (action === 'skip') {
        // Skipping counts as done: dependents go on without it.
        if (e.unmet > 0) throw new Error(`cannot skip "${taskId}": its dependencies are not complete`);
        scheduler.unblock(e, at);
        scheduler.start(e, at);
        scheduler.complete(e, { type: 'COMPLETE', at, result: Object.freeze({ skipped: true, note }) });
        return;
      }
      scheduler.unblock(e, at);
    },
    pauseProject: (projectId) => n.pauseProject(projectId),
    releaseProject(projectId, action) {
      if (action === 'cancel') {
        const project = scheduler.projects.get(projectId);
        for (const state of OPEN) for (const e of [...(project?.byState[state as 'ready'] ?? [])]) cancelOpen(e, 'cancelled at a breakpoint');
      }
      n.resumeProject(projectId);
    },
  };
}
