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

export interface BreakpointStats {
  triggered: number;
  byType: Record<string, number>;
  resolved: number;
  autoResolved: number;
  rejected: number;
  expired: number;
  pending: number;
  /** Mean time from trigger to decision (a person's or auto), or null when none is decided. */
  averageResolutionMs: number | null;
}

/** Counts of breakpoints by outcome and type, and how long decisions took. */
export function breakpointStats(list: readonly PersistedBreakpoint[]): BreakpointStats {
  const byType: Record<string, number> = {};
  let resolved = 0;
  let autoResolved = 0;
  let rejected = 0;
  let expired = 0;
  let pending = 0;
  let decidedMs = 0;
  let decided = 0;
  for (const b of list) {
    byType[b.context.type] = (byType[b.context.type] ?? 0) + 1;
    const r = b.context.resolution;
    if (b.value === 'resolved' && r?.auto) autoResolved++;
    else if (b.value === 'resolved') resolved++;
    else if (b.value === 'rejected') rejected++;
    else if (b.value === 'expired') expired++;
    else pending++;
    if (r) {
      decidedMs += r.at - b.context.createdAt;
      decided++;
    }
  }
  return { triggered: list.length, byType, resolved, autoResolved, rejected, expired, pending, averageResolutionMs: decided ? Math.round(decidedMs / decided) : null };
}

/**
 * Why a breakpoint was raised, in a line, from the facts it keeps (null when they say nothing
 * more than its message): the reason a caller gave, the error that failed the task, the tests
 * that newly fail, the confidence the result reported.
 */
export function breakpointReason(b: Pick<BreakpointView, 'data'>): string | null {
  const d = b.data;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return null;
  const reasons: string[] = [];
  if (typeof d.reason === 'string' && d.reason.trim() !== '') reasons.push(d.reason.trim().split('\n')[0]!);
  const error = d.error;
  if (typeof error === 'object' && error !== null && !Array.isArray(error) && typeof error.message === 'string' && error.message.trim() !== '') reasons.push(error.message.trim().split('\n')[0]!);
  const tests = d.tests;
  const failing = typeof tests === 'object' && tests !== null && !Array.isArray(tests) && Array.isArray(tests.newlyFailing) ? tests.newlyFailing.filter((t) => typeof t === 'string') : [];
  if (failing.length > 0) reasons.push(`newly failing: ${failing.join(', ')}`);
  // Unless a reason above says it already ("the result reports a confidence of 0.4").
  if (typeof d.confidence === 'number' && !reasons.some((r) => r.includes(String(d.confidence)))) reasons.push(`confidence ${d.confidence}`);
  return reasons.length ? reasons.join('; ') : null;
}
