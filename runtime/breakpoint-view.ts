/** The read-only view of a breakpoint that the API hands out. */
import type { AuditEntry, BreakpointPriority, BreakpointState, Resolution, ResolutionAction } from '../machines/breakpoint.js';
import type { JsonValue } from './json.js';
import type { PersistedBreakpoint } from './task-host.js';

export interface BreakpointView {
  readonly id: string;
  readonly type: string;
  readonly state: BreakpointState;
  readonly priority: BreakpointPriority;
  readonly projectId: string;
  /** The task it pauses, or null when it pauses the whole project. */
  readonly taskId: string | null;
  readonly message: string;
  /** The facts that triggered it. */
  readonly data: JsonValue;
  readonly createdAt: number;
  readonly autoResolveAt: number | null;
  readonly autoAction: ResolutionAction | null;
  readonly expiresAt: number | null;
  readonly resolution: Resolution | null;
  /** Every change: who, when, what, note. */
  readonly audit: readonly AuditEntry[];
}

export function breakpointView(b: PersistedBreakpoint): BreakpointView {
  const { id, type, priority, projectId, taskId, message, data, createdAt, autoResolveAt, autoAction, expiresAt, resolution, audit } = b.context;
  return { id, type, state: b.value, priority, projectId, taskId, message, data, createdAt, autoResolveAt, autoAction, expiresAt, resolution, audit };
}
