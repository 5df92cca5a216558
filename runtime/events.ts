/** The events an Overseer emits, and a small typed emitter for them. */
import type { TaskState } from '../machines/task.js';
import type { DeadlockReport } from './deadlock.js';
import type { BoostReason } from './priority.js';
import type { SchedulerHooks, TransitionNotice } from './scheduler.js';
import type { BreakpointView } from './breakpoint-view.js';
import type { WorkspaceEvent } from './change-detector.js';
import type { JournalEntry } from '../store/types.js';

export interface TaskTransitionEvent {
  type: 'task.transition';
  taskId: string;
  projectId: string;
  /** null when the task was just scheduled. */
  from: TaskState | null;
  to: TaskState;
  /** Epoch ms on the runtime's clock. */
  at: number;
  /** The machine event that caused it (`SCHEDULE` for a new task). */
  event: string;
  reason?: string;
}

export interface TaskPriorityEvent {
  type: 'task.priority';
  taskId: string;
  projectId: string;
  from: number;
  to: number;
  reasons: BoostReason[];
  at: number;
}

export interface TaskDeadlineMissedEvent {
  type: 'task.deadline_missed';
  taskId: string;
  projectId: string;
  state: TaskState;
  deadline: number;
  at: number;
}

export interface DeadlockDetectedEvent extends DeadlockReport {
  type: 'deadlock.detected';
  at: number;
}

export interface BreakpointEventPayload {
  type: 'breakpoint.triggered' | 'breakpoint.resolved';
  breakpoint: BreakpointView;
  at: number;
}

export interface WorkspaceChangedEvent {
  type: 'workspace.changed';
  events: WorkspaceEvent[];
  at: number;
}

export interface TaskDecisionEvent {
  type: 'task.decision';
  taskId: string;
  action: 'proceed' | 'checkpoint' | 'retry' | 'clarify' | 'escalate';
  confidence: number;
  explanation: string;
  qualityScore: number;
  at: number;
}

/** Handing out work was paused or resumed (for everything, or for projects): `paused` and `pausedProjects` as they are now. */
export interface SupervisorChangedEvent {
  type: 'supervisor.changed';
  paused: boolean;
  pausedProjects: string[];
  at: number;
}

export interface OverseerEventMap {
  'task.transition': TaskTransitionEvent;
  'task.priority': TaskPriorityEvent;
  'task.deadline_missed': TaskDeadlineMissedEvent;
  'deadlock.detected': DeadlockDetectedEvent;
  'breakpoint.triggered': BreakpointEventPayload & { type: 'breakpoint.triggered' };
  'breakpoint.resolved': BreakpointEventPayload & { type: 'breakpoint.resolved' };
  'workspace.changed': WorkspaceChangedEvent;
  'task.decision': TaskDecisionEvent;
  'supervisor.changed': SupervisorChangedEvent;
}
export type OverseerEventType = keyof OverseerEventMap;
export type OverseerEvent = OverseerEventMap[OverseerEventType];
export const OVERSEER_EVENT_TYPES: readonly OverseerEventType[] = [
  'task.transition',
  'task.priority',
  'task.deadline_missed',
  'deadlock.detected',
  'breakpoint.triggered',
  'breakpoint.resolved',
  'workspace.changed',
  'task.decision',
  'supervisor.changed',
];

type Handler<E> = (event: E) => void;

/** A place in the order of events, for one given later (undefined: not yet). */
interface Slot {
  event: OverseerEvent | undefined;
}

export class Emitter {
  private readonly handlers = new Map<string, Set<Handler<never>>>();

  constructor(private readonly onHandlerError: (error: unknown, type: string) => void) {}

  on<T extends OverseerEventType | '*'>(
    type: T,
    handler: Handler<T extends OverseerEventType ? OverseerEventMap[T] : OverseerEvent>,
  ): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler as Handler<never>);
    return () => set.delete(handler as Handler<never>);
  }

  /** Cheap check so hot paths build no event nobody listens to. */
  wants(type: OverseerEventType): boolean {
    return (this.handlers.get(type)?.size ?? 0) > 0 || (this.handlers.get('*')?.size ?? 0) > 0;
  }

  /**
   * Events in the order things happened. A transition's consequences (a breakpoint that holds
   * the task it made ready, say) run before its event is delivered, and cause events of their
   * own: `reserve()` keeps the transition's place, so those are delivered after it, and an
   * event emitted while another is being delivered (by a listener) waits for it too.
   */
  private readonly queue: Slot[] = [];
  private delivering = false;

  /** A place for an event to be given later with `fill`. */
  reserve(): Slot {
    const slot: Slot = { event: undefined };
    this.queue.push(slot);
    return slot;
  }

  fill(slot: Slot, event: OverseerEvent): void {
    slot.event = event;
    this.drain();
  }

  emit<T extends OverseerEventType>(event: OverseerEventMap[T]): void {
    if (this.queue.length === 0 && !this.delivering) {
      this.delivering = true;
      try {
        this.deliver(event);
      } finally {
        this.delivering = false;
      }
      this.drain(); // what its listeners emitted meanwhile
      return;
    }
    this.queue.push({ event });
    this.drain();
  }

  private drain(): void {
    if (this.delivering) return; // the delivery under way goes on with the queue
    this.delivering = true;
    try {
      while (this.queue.length > 0 && this.queue[0]!.event !== undefined) {
        this.deliver(this.queue.shift()!.event!);
      }
    } finally {
      this.delivering = false;
    }
  }

  private deliver(event: OverseerEvent): void {
    for (const key of [event.type, '*']) {
      const set = this.handlers.get(key);
      if (!set) continue;
      for (const handler of set) {
        // A listener that throws must not break scheduling.
        try {
          (handler as Handler<OverseerEvent>)(event);
        } catch (error) {
          this.onHandlerError(error, event.type);
        }
      }
    }
  }
}

/**
 * The scheduler's hooks, wired to the emitter (events for people and programs) and to
 * the journal (for the store), when there is one.
 */
export function schedulerHooks(
  emitter: Emitter,
  journal: ((entry: JournalEntry) => void) | null,
  observe: { onTransition(notice: TransitionNotice): void; onTimer(key: string): void },
): SchedulerHooks {
  return {
    onTimer: observe.onTimer,
    onAdd: (input) => journal?.({ k: 'add', input }),
    onEvent: (entry, event) => journal?.({ k: 'ev', t: entry.id, e: event }),
    onIgnore: (entry, dependency, ignored) => journal?.({ k: ignored ? 'ign' : 'unign', t: entry.id, d: dependency }),
    onTransition: (notice) => {
      if (!emitter.wants('task.transition')) {
        observe.onTransition(notice);
        return;
      }
      // Its consequences run first (what listeners then read is already true), but their events come after it.
      const slot = emitter.reserve();
      const { entry, from, to, at, event, reason } = notice;
      const e: TaskTransitionEvent = { type: 'task.transition', taskId: entry.id, projectId: entry.task.context.projectId, from, to, at, event };
      if (reason !== undefined) e.reason = reason;
      try {
        observe.onTransition(notice);
      } finally {
        emitter.fill(slot, e);
      }
    },
    onPriority: (entry, change) => {
      journal?.({ k: 'prio', t: entry.id, c: change });
      if (!emitter.wants('task.priority')) return;
      emitter.emit({ type: 'task.priority', taskId: entry.id, projectId: entry.task.context.projectId, ...change });
    },
    onDeadlineMissed: (entry, at) => {
      const { projectId, deadline } = entry.task.context;
      emitter.emit({ type: 'task.deadline_missed', taskId: entry.id, projectId, state: entry.task.value, deadline: deadline!, at });
    },
  };
}
