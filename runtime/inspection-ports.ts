/** What the inspection hub reads from a runtime: each actor's state at rest, found by id. */
import type { Actor } from 'xstate';
import type { SupervisorMachine } from '../machines/supervisor.js';
import type { BreakpointManager } from './breakpoints.js';
import type { Clock } from './clock.js';
import { breakpointActorId, SUPERVISOR_ACTOR_ID, taskActorId, type ActorState, type InspectionPorts } from './inspection.js';
import type { Scheduler } from './scheduler.js';

/** Getters, not values: the hub is made before the scheduler and the supervisor it reads. */
export function inspectionPorts(clock: Clock, scheduler: () => Scheduler, breakpoints: () => BreakpointManager, supervisor: () => Actor<SupervisorMachine>): InspectionPorts {
  const supervisorState = (): ActorState => {
    const s = supervisor().getSnapshot();
    return { value: String(s.value), context: s.context };
  };
  return {
    clock,
    task: (id) => scheduler().tasks.get(id)?.task,
    breakpoint: (id) => breakpoints().atRest(id),
    supervisor: supervisorState,
    *actors() {
      const at = clock.now();
      for (const entry of scheduler().tasks.values()) yield { actorId: taskActorId(entry.id), machine: 'task' as const, state: entry.task, at };
      for (const b of breakpoints().allAtRest()) yield { actorId: breakpointActorId(b.context.id), machine: 'breakpoint' as const, state: b, at };
      yield { actorId: SUPERVISOR_ACTOR_ID, machine: 'supervisor' as const, state: supervisorState(), at };
    },
  };
}
