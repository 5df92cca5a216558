/**
 * Inspection records: one JSON-serialisable vocabulary for every actor of a runtime,
 * in XState's own inspection terms (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot`).
 *
 * Only the supervisor is a real XState actor; tasks and breakpoints are hosted at rest
 * and stepped with their machine's transition function (task-host.ts), so XState's
 * `inspect` never sees them. Their records are made here from the journal's hooks,
 * which already carry each machine's input and every event it accepted — the causes —
 * and the state right after. The supervisor's real inspection events are mapped into
 * the same form, so a listener (the inspector, a trace file) sees one stream.
 *
 * Cost: nothing is built unless someone listens (`active`); the hot paths (100k tasks/s)
 * only pay a size check.
 */
import type { InspectionEvent, Observer } from 'xstate';
import { initialBreakpointContext, type BreakpointInput } from '../machines/breakpoint.js';
import { initialTaskContext, type TaskInput } from '../machines/task.js';
import type { JournalEntry } from '../store/types.js';
import type { Clock } from './clock.js';
import { ValidationError } from './errors.js';
import { describe } from './validate.js';

export type InspectedMachine = 'task' | 'breakpoint' | 'supervisor';
export const INSPECTED_MACHINES: readonly InspectedMachine[] = ['task', 'breakpoint', 'supervisor'];

/** An actor's state: its state value (a string for every machine here) and its JSON context. */
export interface ActorState {
  value: string;
  context: unknown;
}

/** An actor came into being (`input`: the machine's input), or was already there when the listener came (`snapshot`). */
export interface ActorRecord {
  type: '@xstate.actor';
  actorId: string;
  machine: InspectedMachine;
  at: number;
  input?: unknown;
  snapshot?: ActorState;
}

/** The actor's machine received `event` (for tasks and breakpoints: accepted it). */
export interface EventRecord {
  type: '@xstate.event';
  actorId: string;
  machine: InspectedMachine;
  at: number;
  event: { type: string } & Record<string, unknown>;
}

/** The actor's state after an event (`event` is its type). */
export interface SnapshotRecord extends ActorState {
  type: '@xstate.snapshot';
  actorId: string;
  machine: InspectedMachine;
  at: number;
  event: string;
}

export type InspectionRecord = ActorRecord | EventRecord | SnapshotRecord;
/** Records are shared with the runtime (contexts are immutable): read them, never change them. */
export type InspectionListener = (record: InspectionRecord) => void;

export const taskActorId = (id: string) => `task:${id}`;
export const breakpointActorId = (id: string) => `breakpoint:${id}`;
export const SUPERVISOR_ACTOR_ID = 'supervisor';

/** What the hub reads from the runtime: the clock, and each actor's state at rest. */
export interface InspectionPorts {
  clock: Clock;
  task(id: string): ActorState | undefined;
  breakpoint(id: string): ActorState | undefined;
  supervisor(): ActorState;
  /** Every actor there is now, tasks in scheduling order, then breakpoints, then the supervisor. */
  actors(): Iterable<{ actorId: string; machine: InspectedMachine; state: ActorState; at: number }>;
}

export class InspectionHub {
  private readonly listeners = new Set<InspectionListener>();
  private readonly endings = new Map<InspectionListener, () => void>();

  constructor(
    private readonly ports: InspectionPorts,
    private readonly onListenerError: (error: unknown) => void,
  ) {}

  get active(): boolean {
    return this.listeners.size > 0;
  }

  /**
   * Adds a listener. With `current` (the default) it first gets an `@xstate.actor` record
   * with the present snapshot of every actor there is, so a late listener (a trace of a
   * resumed run, a browser that connects later) starts from the truth. `onEnd` is called once
   * when the runtime closes, after its last record (a trace writes itself out then).
   */
  subscribe(listener: InspectionListener, options: { current?: boolean; onEnd?: () => void } = {}): () => void {
    if (typeof listener !== 'function') throw new ValidationError('inspect', [`listener: must be a function, got ${describe(listener)}`]);
    if (options === null || typeof options !== 'object') throw new ValidationError('inspect', [`options: must be an object, got ${describe(options)}`]);
    if (options.current !== undefined && typeof options.current !== 'boolean') throw new ValidationError('inspect', [`options.current: must be a boolean, got ${describe(options.current)}`]);
    if (options.onEnd !== undefined && typeof options.onEnd !== 'function') throw new ValidationError('inspect', [`options.onEnd: must be a function, got ${describe(options.onEnd)}`]);
    if (options.current !== false) {
      for (const a of this.ports.actors()) this.deliver(listener, { type: '@xstate.actor', actorId: a.actorId, machine: a.machine, at: a.at, snapshot: a.state });
    }
    this.listeners.add(listener);
    if (options.onEnd) this.endings.set(listener, options.onEnd);
    return () => {
      this.listeners.delete(listener);
      this.endings.delete(listener);
    };
  }

  /** The runtime closed: no record follows; each listener's `onEnd` is called. */
  end(): void {
    const endings = [...this.endings.values()];
    this.endings.clear();
    for (const onEnd of endings) {
      try {
        onEnd();
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  /** Wraps the journal so every machine cause it records is also inspected (when someone listens). */
  tap(journal: ((entry: JournalEntry) => void) | null): (entry: JournalEntry) => void {
    return (entry) => {
      journal?.(entry);
      if (this.listeners.size > 0) this.fromJournal(entry);
    };
  }

  /** The supervisor's `inspect` observer: the caller's own (if any), then the hub. */
  observer(user: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined): (event: InspectionEvent) => void {
    return (event) => {
      if (typeof user === 'function') user(event);
      else user?.next?.(event);
      if (this.listeners.size > 0) this.fromXState(event);
    };
  }

  private fromJournal(entry: JournalEntry): void {
    switch (entry.k) {
      case 'add':
        return this.created('task', taskActorId(entry.input.id), entry.input, initialTaskContext(entry.input as TaskInput), 'pending');
      case 'bp':
        return this.created('breakpoint', breakpointActorId(entry.input.id), entry.input, initialBreakpointContext(entry.input as BreakpointInput), 'triggered');
      case 'ev':
        return this.stepped('task', taskActorId(entry.t), entry.e, this.ports.task(entry.t));
      case 'bpev':
        return this.stepped('breakpoint', breakpointActorId(entry.b), entry.e, this.ports.breakpoint(entry.b));
      default:
        return; // priorities, rules, quality records: not machine causes
    }
  }

  private created(machine: InspectedMachine, actorId: string, input: { at: number }, context: unknown, value: string): void {
    this.emit({ type: '@xstate.actor', actorId, machine, at: input.at, input });
    this.emit({ type: '@xstate.snapshot', actorId, machine, at: input.at, event: 'xstate.init', value, context });
  }

  private stepped(machine: InspectedMachine, actorId: string, event: { type: string; at: number }, state: ActorState | undefined): void {
    this.emit({ type: '@xstate.event', actorId, machine, at: event.at, event: event as EventRecord['event'] });
    if (state) this.emit({ type: '@xstate.snapshot', actorId, machine, at: event.at, event: event.type, value: state.value, context: state.context });
  }

  /** Only the supervisor runs as an XState actor; its own events come from XState itself. */
  private fromXState(event: InspectionEvent): void {
    if ((event.actorRef as { systemId?: string }).systemId !== SUPERVISOR_ACTOR_ID) return;
    const at = this.ports.clock.now();
    const machine = 'supervisor';
    const actorId = SUPERVISOR_ACTOR_ID;
    if (event.type === '@xstate.actor') this.emit({ type: '@xstate.actor', actorId, machine, at, snapshot: this.ports.supervisor() });
    else if (event.type === '@xstate.event') this.emit({ type: '@xstate.event', actorId, machine, at, event: toJson(event.event) as EventRecord['event'] });
    else if (event.type === '@xstate.snapshot') {
      const snapshot = event.snapshot as { value?: unknown; context?: unknown };
      this.emit({ type: '@xstate.snapshot', actorId, machine, at, event: event.event.type, value: String(snapshot.value), context: toJson(snapshot.context) });
    }
  }

  private emit(record: InspectionRecord): void {
    for (const listener of this.listeners) this.deliver(listener, record);
  }

  private deliver(listener: InspectionListener, record: InspectionRecord): void {
    // A listener that throws must not break scheduling.
    try {
      listener(record);
    } catch (error) {
      this.onListenerError(error);
    }
  }
}

/** XState's own events (`xstate.init`) may carry non-JSON fields (input functions); keep the JSON. */
function toJson(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value)) as unknown;
}
