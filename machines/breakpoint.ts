/**
 * The breakpoint statechart: a pause in supervised work that waits for a person, or
 * resolves itself when its cause is mechanical.
 *
 *   triggered ─AWAIT──────────▶ awaiting ─RESOLVE─▶ resolved
 *       │                          │ └─REJECT──▶ rejected
 *       │                          └─EXPIRE──▶ expired
 *       └─AUTO_RESOLVE─▶ autoResolving ─AUTO_RESOLVED─▶ resolved
 *                           ├─ESCALATE─▶ awaiting
 *                           └─RESOLVE / REJECT (a person can step in)
 *
 * Like tasks, times come in events, so the machine is a pure function; context is
 * JSON and keeps an audit trail of every change (who, when, what, note).
 */
import { assign, setup } from 'xstate';
import type { ContextUpdate } from '../runtime/flat-machine.js';
import type { JsonValue } from '../runtime/json.js';

export const BREAKPOINT_STATES = ['triggered', 'awaiting', 'autoResolving', 'resolved', 'rejected', 'expired'] as const;
export type BreakpointState = (typeof BREAKPOINT_STATES)[number];

export type BreakpointPriority = 'high' | 'medium' | 'low';

/** What happens to the paused work: go on, run it again (with the note as feedback), skip it, or cancel it. */
export type ResolutionAction = 'continue' | 'retry' | 'skip' | 'cancel';

export interface Resolution {
  action: ResolutionAction;
  /** Who decided: a person's name, or `auto`. */
  by: string;
  note: string | null;
  at: number;
  auto: boolean;
}

export interface AuditEntry {
  at: number;
  who: string;
  what: string;
  note?: string;
}

/** What a breakpoint is about, as raised; it does not change afterwards. */
export interface BreakpointDefinition {
  id: string;
  type: string;
  priority: BreakpointPriority;
  projectId: string;
  /** The task it pauses, or null when it pauses the whole project. */
  taskId: string | null;
  message: string;
  /** The facts that triggered it. */
  data: JsonValue;
  /** When an unanswered breakpoint expires (epoch ms), or null for never. */
  expiresAt: number | null;
}

export interface BreakpointContext extends BreakpointDefinition {
  createdAt: number;
  /** When an auto-resolving breakpoint resolves itself (epoch ms), or null. */
  autoResolveAt: number | null;
  /** The action an auto-resolution takes. */
  autoAction: ResolutionAction | null;
  resolution: Resolution | null;
  audit: AuditEntry[];
}

/** The machine's input: the definition and the time it was raised. */
export interface BreakpointInput extends BreakpointDefinition {
  at: number;
}

export type BreakpointEvent =
  | { type: 'AWAIT'; at: number }
  | { type: 'AUTO_RESOLVE'; at: number; resolveAt: number; action: ResolutionAction }
  | { type: 'AUTO_RESOLVED'; at: number }
  | { type: 'ESCALATE'; at: number; reason: string }
  | { type: 'RESOLVE'; at: number; action: ResolutionAction; by: string; note: string | null }
  | { type: 'REJECT'; at: number; action: ResolutionAction; by: string; note: string | null }
  | { type: 'EXPIRE'; at: number };

export type BreakpointEventType = BreakpointEvent['type'];

function audit(context: BreakpointContext, entry: AuditEntry): AuditEntry[] {
  return Object.freeze([...context.audit, Object.freeze(entry)]) as AuditEntry[];
}

export function initialBreakpointContext(input: BreakpointInput): BreakpointContext {
  return {
    id: input.id,
    type: input.type,
    priority: input.priority,
    projectId: input.projectId,
    taskId: input.taskId,
    message: input.message,
    data: input.data,
    createdAt: input.at,
    autoResolveAt: null,
    autoAction: null,
    expiresAt: input.expiresAt,
    resolution: null,
    audit: Object.freeze([Object.freeze({ at: input.at, who: 'overseer', what: `triggered ${input.type}`, note: input.message })]) as AuditEntry[],
  };
}

type Update = ContextUpdate<BreakpointContext, BreakpointEvent>;

/**
 * What each named action changes in the context, as pure functions: the machine's
 * actions are these wrapped in `assign`, and the breakpoint host steps the machine with
 * them directly (runtime/flat-machine.ts).
 */
export const breakpointContextUpdates = {
  recordAwait: (({ context, event }) => ({
    audit: audit(context, { at: event.at, who: 'overseer', what: 'awaiting a person' }),
  })) as Update,
  scheduleAutoResolution: (({ context, event }) => {
    if (event.type !== 'AUTO_RESOLVE') return {};
    return {
      autoResolveAt: event.resolveAt,
      autoAction: event.action,
      audit: audit(context, { at: event.at, who: 'overseer', what: `auto-resolving: ${event.action} at ${new Date(event.resolveAt).toISOString()}` }),
    };
  }) as Update,
  recordAutoResolution: (({ context, event }) => ({
    resolution: Object.freeze({ action: context.autoAction ?? 'continue', by: 'auto', note: null, at: event.at, auto: true }),
    audit: audit(context, { at: event.at, who: 'auto', what: `resolved: ${context.autoAction ?? 'continue'}` }),
  })) as Update,
  recordEscalation: (({ context, event }) => ({
    autoResolveAt: null,
    audit: audit(context, { at: event.at, who: 'overseer', what: 'escalated to a person', ...(event.type === 'ESCALATE' ? { note: event.reason } : {}) }),
  })) as Update,
  recordDecision: (({ context, event }) => {
    if (event.type !== 'RESOLVE' && event.type !== 'REJECT') return {};
    const what = `${event.type === 'RESOLVE' ? 'approved' : 'rejected'}: ${event.action}`;
    return {
      autoResolveAt: null,
      resolution: Object.freeze({ action: event.action, by: event.by, note: event.note, at: event.at, auto: false }),
      audit: audit(context, { at: event.at, who: event.by, what, ...(event.note ? { note: event.note } : {}) }),
    };
  }) as Update,
  recordExpiry: (({ context, event }) => ({
    audit: audit(context, { at: event.at, who: 'overseer', what: 'expired unanswered' }),
  })) as Update,
};

export const breakpointMachine = setup({
  types: {} as { context: BreakpointContext; events: BreakpointEvent; input: BreakpointInput },
  actions: {
    recordAwait: assign(breakpointContextUpdates.recordAwait),
    scheduleAutoResolution: assign(breakpointContextUpdates.scheduleAutoResolution),
    recordAutoResolution: assign(breakpointContextUpdates.recordAutoResolution),
    recordEscalation: assign(breakpointContextUpdates.recordEscalation),
    recordDecision: assign(breakpointContextUpdates.recordDecision),
    recordExpiry: assign(breakpointContextUpdates.recordExpiry),
  },
}).createMachine({
  id: 'breakpoint',
  context: ({ input }) => initialBreakpointContext(input),
  initial: 'triggered',
  states: {
    triggered: {
      on: {
        AWAIT: { target: 'awaiting', actions: 'recordAwait' },
        AUTO_RESOLVE: { target: 'autoResolving', actions: 'scheduleAutoResolution' },
      },
    },
    awaiting: {
      on: {
        RESOLVE: { target: 'resolved', actions: 'recordDecision' },
        REJECT: { target: 'rejected', actions: 'recordDecision' },
        EXPIRE: { target: 'expired', actions: 'recordExpiry' },
      },
    },
    autoResolving: {
      on: {
        AUTO_RESOLVED: { target: 'resolved', actions: 'recordAutoResolution' },
        ESCALATE: { target: 'awaiting', actions: 'recordEscalation' },
        RESOLVE: { target: 'resolved', actions: 'recordDecision' },
        REJECT: { target: 'rejected', actions: 'recordDecision' },
      },
    },
    resolved: { type: 'final' },
    rejected: { type: 'final' },
    expired: { type: 'final' },
  },
});

export function isOpenBreakpoint(state: BreakpointState): boolean {
  return state === 'triggered' || state === 'awaiting' || state === 'autoResolving';
}
