/**
 * The breakpoint manager: rules, the breakpoint actors, and what they do to the work.
 *
 * A breakpoint pauses what it concerns — a task (blocked, with the breakpoint as the
 * reason) or a whole project (no new task starts) — until it is resolved. The
 * resolution says what happens next: continue, retry (the person's note goes to the
 * next attempt as feedback), skip, or cancel. Auto-resolving types resolve themselves
 * after a wait. Every change goes through the breakpoint machine, is journaled, and is
 * kept in the breakpoint's audit trail.
 */
import { isOpenBreakpoint, type BreakpointEvent, type BreakpointPriority, type BreakpointState, type ResolutionAction } from '../machines/breakpoint.js';
import type { JournalEntry, StoredBreakpoint } from '../store/types.js';
import { readPath, ruleDefinition, type Rule, type RuleDefinition } from './breakpoint-rules.js';
import { RuleBook } from './breakpoint-rulebook.js';
import type { Clock } from './clock.js';
import { OverseerError, ValidationError } from './errors.js';
import { deepFreeze, type JsonValue } from './json.js';
import { BreakpointHost, type PersistedBreakpoint } from './task-host.js';
import { describe, idProblems, isPlainObject, unknownKeyProblems } from './validate.js';
import { breakpointStats, breakpointView, type BreakpointStats, type BreakpointView } from './breakpoint-view.js';
import { contextProblems, factsProblems } from './breakpoint-input.js';
import { BreakpointNotifier, NOTIFY_KEY, type NotificationCallback } from './breakpoint-notifier.js';

export type { BreakpointNotification, NotificationCallback } from './breakpoint-notifier.js';

/** What the manager needs from the runtime: the work it pauses, its clock and timers, its journal. */
export interface BreakpointPorts {
  clock: Clock;
  schedule(key: string, at: number): void;
  cancelTimer(key: string): void;
  journal(entry: JournalEntry): void;
  onError(error: unknown, source: string): void;
  emit(event: { type: 'breakpoint.triggered' | 'breakpoint.resolved'; breakpoint: BreakpointView }): void;
  /** The task's project and state, or null when there is no such task. */
  taskInfo(taskId: string): { projectId: string; state: string; maxRetries: number } | null;
  /** Why `action` cannot be applied to the task now, or null when it can. */
  refusal(taskId: string, action: ResolutionAction): string | null;
  /** Pauses or releases the work a breakpoint concerns; `stillOpen` is another open breakpoint of the task. */
  pauseTask(taskId: string, breakpointId: string): void;
  releaseTask(taskId: string, breakpointId: string, action: ResolutionAction, note: string | null, stillOpen: string | null, pendingResult?: JsonValue): void;
  pauseProject(projectId: string, breakpointId: string): void;
  releaseProject(projectId: string, breakpointId: string, action: ResolutionAction): void;
}

export class BreakpointError extends OverseerError {
  override name = 'BreakpointError';
}

export interface BreakpointOptions {
  /** How long non-urgent notifications are gathered before the callbacks get them (ms). Default 60,000. */
  notifyBatchMs?: number;
}

const RESOLVE_KEY = 'bp:';
const EXPIRE_KEY = 'bpx:';

export class BreakpointManager {
  private readonly host = new BreakpointHost();
  private readonly breakpoints = new Map<string, PersistedBreakpoint>();
  /** The open ones (triggered, awaiting, auto-resolving): what every task that becomes ready is checked against. */
  private readonly open = new Map<string, PersistedBreakpoint>();
  private readonly rules: RuleBook;
  private readonly notifier: BreakpointNotifier;

  constructor(
    private readonly ports: BreakpointPorts,
    options: BreakpointOptions = {},
  ) {
    this.notifier = new BreakpointNotifier(ports, options.notifyBatchMs ?? 60_000);
    this.rules = new RuleBook(ports.onError);
  }

  // ---- rules (kept in the RuleBook; changes are journaled here) ---------------------

  /** Enabled rules, most urgent first, whose condition holds for `facts`. Rules that cannot be evaluated on these facts do not fire. */
  evaluateBreakpointConditions(facts: unknown): RuleDefinition[] {
    if (!isPlainObject(facts)) throw new ValidationError('evaluateBreakpointConditions', [`context: must be an object, got ${describe(facts)}`]);
    return this.rules.firing(facts).map(ruleDefinition);
  }

  addCustomRule(definition: RuleDefinition): RuleDefinition {
    const rule = this.rules.check(definition, 'addCustomRule');
    this.rules.put(rule);
    this.ports.journal({ k: 'rule', rule: ruleDefinition(rule) });
    return ruleDefinition(rule);
  }

  disableBreakpointType(type: string): void {
    this.setTypeEnabled(type, false);
  }

  enableBreakpointType(type: string): void {
    this.setTypeEnabled(type, true);
  }

  private setTypeEnabled(type: string, enabled: boolean): void {
    this.rules.setEnabled(type, enabled, enabled ? 'enableBreakpointType' : 'disableBreakpointType');
    this.ports.journal({ k: 'bptype', type, enabled });
  }

  listRules(): RuleDefinition[] {
    return this.rules.list();
  }

  /** Evaluates the rules on facts the runtime gathered and triggers what fires (once per open cause). */
  raiseFromFacts(facts: Record<string, unknown> & { project: { id: string } & Record<string, unknown>; task?: ({ id: string } & Record<string, unknown>) | null }): BreakpointView[] {
    const raised: BreakpointView[] = [];
    for (const rule of this.rules.firing(facts)) {
      const taskId = rule.scope === 'task' ? (facts.task?.id ?? null) : null;
      const projectId = facts.project.id;
      if (this.openFor(rule.type, projectId, taskId)) continue;
      raised.push(this.trigger(rule, projectId, taskId, facts as JsonValue, facts.task?.id ?? null));
    }
    return raised;
  }

  // ---- breakpoints ---------------------------------------------------------------

  /** Raises a breakpoint of `type` by hand; `context` says what it is about (`projectId`, `taskId`, anything else). */
  triggerBreakpoint(type: string, context: Record<string, JsonValue> = {}): BreakpointView {
    const problems: string[] = [];
    const rule = this.rules.find(type);
    if (!rule) problems.push(`type: unknown breakpoint type ${describe(type)} (known: ${this.rules.types().join(', ')})`);
    problems.push(...contextProblems(context, (id) => this.ports.taskInfo(id)));
    if (problems.length) throw new ValidationError('triggerBreakpoint', problems);
    const taskId = typeof context.taskId === 'string' ? context.taskId : null;
    const projectId = (taskId === null ? null : this.ports.taskInfo(taskId))?.projectId ?? (context.projectId as string | undefined) ?? 'default';
    return this.trigger(rule!, projectId, rule!.scope === 'task' ? taskId : null, deepFreeze(structuredClone(context)) as JsonValue);
  }

  /** What is wrong with facts from outside the runtime (`raiseFromFacts`), as `triggerBreakpoint` checks its context (runtime/breakpoint-input.ts). */
  factsProblems(facts: unknown): string[] {
    return factsProblems(facts, (id) => this.ports.taskInfo(id));
  }

  /** `about` is the task to pause (task scope); `concerning` names the task a project breakpoint is about. */
  private trigger(rule: Rule, projectId: string, about: string | null, data: JsonValue, concerning: string | null = about): BreakpointView {
    const at = this.ports.clock.now();
    // A finished task cannot be paused; what it concerns now is what comes after it: the project.
    const state = about === null ? null : this.ports.taskInfo(about)?.state;
    const taskId = state === 'completed' || state === 'cancelled' ? null : about;
    const id = `bp-${this.breakpoints.size + 1}`;
    const input = {
      id,
      type: rule.type,
      priority: rule.priority,
      projectId,
      taskId,
      message: (rule.message ?? `${rule.type}: ${rule.condition}`) + (taskId === null && (about ?? concerning) !== null ? ` (after task "${about ?? concerning}")` : ''),
      data,
      expiresAt: rule.expiresAfterMs === null ? null : at + rule.expiresAfterMs,
      at,
    };
    this.ports.journal({ k: 'bp', input });
    this.put(id, this.host.create(input));
    if (taskId) this.ports.pauseTask(taskId, id);
    else this.ports.pauseProject(projectId, id);
    // Auto-resolution retries the work; once a task has used up its retries that way, a person decides.
    const autoUsedUp = rule.autoResolve !== null && taskId !== null && this.countFor(rule.type, taskId) > (this.ports.taskInfo(taskId)?.maxRetries ?? Infinity);
    if (rule.autoResolve && !autoUsedUp) {
      const from = rule.autoResolve.afterFrom ? readPath(data, rule.autoResolve.afterFrom) : undefined;
      const wait = typeof from === 'number' && from >= 0 ? from : (rule.autoResolve.afterMs ?? 0);
      this.send(id, { type: 'AUTO_RESOLVE', at, resolveAt: at + wait, action: rule.autoResolve.action });
      this.ports.schedule(RESOLVE_KEY + id, at + wait);
    } else {
      this.send(id, { type: 'AWAIT', at });
    }
    if (input.expiresAt !== null) this.ports.schedule(EXPIRE_KEY + id, input.expiresAt);
    const view = this.view(id);
    this.ports.emit({ type: 'breakpoint.triggered', breakpoint: view });
    this.notify(rule, view);
    return view;
  }

  /**
   * Resolves a pending breakpoint, exactly once. `approve` (default) resolves it; `reject`
   * rejects it. The action says what happens to the paused work (default: continue
   * when approved, cancel when rejected).
   */
  resolveBreakpoint(
    id: string,
    resolution: { decision?: 'approve' | 'reject'; action?: ResolutionAction; by?: string; note?: string } = {},
  ): BreakpointView {
    const problems = idProblems(id, 'id');
    if (!isPlainObject(resolution)) problems.push(`resolution: must be an object, got ${describe(resolution)}`);
    else {
      // A misspelled key must not fall back to approve/continue: that would let through what a person meant to stop.
      problems.push(...unknownKeyProblems(resolution, ['decision', 'action', 'by', 'note'], 'resolution'));
      if (resolution.decision !== undefined && resolution.decision !== 'approve' && resolution.decision !== 'reject') problems.push(`resolution.decision: must be approve or reject, got ${describe(resolution.decision)}`);
      if (resolution.action !== undefined && !['continue', 'retry', 'skip', 'cancel'].includes(resolution.action)) problems.push(`resolution.action: must be continue, retry, skip or cancel, got ${describe(resolution.action)}`);
      if (resolution.by !== undefined && (typeof resolution.by !== 'string' || resolution.by.trim() === '')) problems.push('resolution.by: must be a name');
      if (resolution.note !== undefined && typeof resolution.note !== 'string') problems.push('resolution.note: must be a string');
    }
    if (problems.length) throw new ValidationError('resolveBreakpoint', problems);
    const bp = this.breakpoints.get(id);
    if (!bp) throw new BreakpointError(`unknown breakpoint "${id}"`);
    if (!isOpenBreakpoint(bp.value)) {
      const r = bp.context.resolution;
      throw new BreakpointError(`breakpoint "${id}" is already ${bp.value}${r ? ` (${r.action} by ${r.by} at ${new Date(r.at).toISOString()})` : ''}; it can be resolved only once`);
    }
    const reject = resolution.decision === 'reject';
    const action = resolution.action ?? (reject ? 'cancel' : 'continue');
    const refusal =
      bp.context.taskId !== null
        ? this.ports.refusal(bp.context.taskId, action)
        : action === 'skip'
          ? `skip counts a task as done, and this breakpoint holds project "${bp.context.projectId}": continue, retry (its failed tasks run again) or cancel`
          : null;
    if (refusal) throw new BreakpointError(`breakpoint "${id}" cannot be resolved with ${action}: ${refusal}; it stays open`);
    const note = resolution.note?.trim() ? resolution.note : null;
    const at = this.ports.clock.now();
    this.send(id, { type: reject ? 'REJECT' : 'RESOLVE', at, action, by: resolution.by ?? 'a person', note });
    this.settle(id, action, note);
    return this.view(id);
  }

  /**
   * A cancelled task needs no answer any more: its open breakpoints are resolved with `cancel`,
   * by the runtime, so none is left waiting for a person about work that is gone.
   */
  closeForTask(taskId: string, note: string): void {
    // Runs for every cancelled task (a cascade cancels thousands): nothing is allocated unless one is found.
    let ids: string[] | null = null;
    for (const bp of this.open.values()) if (bp.context.taskId === taskId) (ids ??= []).push(bp.context.id);
    for (const id of ids ?? []) {
      if (this.send(id, { type: 'RESOLVE', at: this.ports.clock.now(), action: 'cancel', by: 'overseer', note })) this.settle(id, 'cancel', note);
    }
  }

  getPendingBreakpoints(projectId?: string): BreakpointView[] {
    return this.select(projectId, 'getPendingBreakpoints').filter((b) => isOpenBreakpoint(b.value)).map((b) => breakpointView(b));
  }

  /** Breakpoints of the project (or all), newest first. */
  getBreakpointHistory(projectId?: string, limit = 50): BreakpointView[] {
    if (!Number.isInteger(limit) || limit < 1) throw new ValidationError('getBreakpointHistory', [`limit: must be a whole number ≥ 1, got ${describe(limit)}`]);
    return this.select(projectId, 'getBreakpointHistory').reverse().slice(0, limit).map((b) => breakpointView(b));
  }

  getBreakpointStats(projectId?: string): BreakpointStats {
    return breakpointStats(this.select(projectId, 'getBreakpointStats'));
  }

  /** The breakpoint actor's state at rest (for inspection), or undefined. */
  atRest(id: string): PersistedBreakpoint | undefined {
    return this.breakpoints.get(id);
  }

  /** Every breakpoint actor at rest, oldest first (for inspection). */
  allAtRest(): IterableIterator<PersistedBreakpoint> {
    return this.breakpoints.values();
  }

  getBreakpoint(id: string): BreakpointView | null {
    const b = this.breakpoints.get(id);
    return b ? breakpointView(b) : null;
  }

  // ---- notifications -------------------------------------------------------------

  registerNotificationCallback(callback: NotificationCallback): () => void {
    return this.notifier.register(callback);
  }

  /** Whether a breakpoint of this type and priority reaches the callbacks at all. */
  shouldNotify(type: string, severity: BreakpointPriority): boolean {
    if (!['high', 'medium', 'low'].includes(severity)) throw new ValidationError('shouldNotify', [`severity: must be high, medium or low, got ${describe(severity)}`]);
    return this.rules.notifies(type);
  }

  private notify(rule: Rule, view: BreakpointView): void {
    if (!this.shouldNotify(rule.type, rule.priority) || rule.notify === 'none') return;
    const { id, type, priority, projectId, taskId, message, createdAt: at } = view;
    this.notifier.notify({ id, type, priority, projectId, taskId, message, at }, rule.notify === 'immediate' || rule.priority === 'high');
  }

  // ---- timers, restore -----------------------------------------------------------

  /** Handles a timer key this manager scheduled; false when the key is not its own. */
  onTimer(key: string): boolean {
    const at = this.ports.clock.now();
    if (key === NOTIFY_KEY) this.notifier.flush();
    else if (key.startsWith(RESOLVE_KEY)) {
      const id = key.slice(RESOLVE_KEY.length);
      const bp = this.breakpoints.get(id);
      if (bp?.value === 'autoResolving' && this.send(id, { type: 'AUTO_RESOLVED', at })) this.settle(id, bp.context.autoAction ?? 'continue', null);
    } else if (key.startsWith(EXPIRE_KEY)) {
      const id = key.slice(EXPIRE_KEY.length);
      if (this.send(id, { type: 'EXPIRE', at })) this.settle(id, 'cancel', null);
    } else return false;
    return true;
  }

  /** Restored breakpoints, rules and switched-off types; re-arms their timers. */
  load(stored: { breakpoints: StoredBreakpoint[]; rules: RuleDefinition[]; disabledTypes: string[] }): void {
    this.rules.load(stored.rules, stored.disabledTypes);
    for (const b of stored.breakpoints) {
      this.put(b.context.id, { value: b.value, context: deepFreeze(b.context) });
      if (b.value === 'autoResolving' && b.context.autoResolveAt !== null) this.ports.schedule(RESOLVE_KEY + b.context.id, b.context.autoResolveAt);
      if (isOpenBreakpoint(b.value) && b.context.expiresAt !== null) this.ports.schedule(EXPIRE_KEY + b.context.id, b.context.expiresAt);
    }
  }

  stored(): { breakpoints: StoredBreakpoint[]; rules: RuleDefinition[]; disabledTypes: string[] } {
    return { breakpoints: [...this.breakpoints.values()].map((b) => ({ value: b.value, context: b.context })), ...this.rules.stored() };
  }

  /** Notes of people who asked for a retry of this task, oldest first (feedback for its next attempt). */
  feedbackFor(taskId: string): { at: number; note: string }[] {
    const out: { at: number; note: string }[] = [];
    for (const b of this.breakpoints.values()) {
      const r = b.context.resolution;
      if (b.context.taskId === taskId && r?.note && r.action === 'retry') out.push({ at: r.at, note: r.note });
    }
    return out;
  }

  /** The notes of this project's own breakpoints (not a task's) resolved with retry. */
  projectRetryNotes(projectId: string): { at: number; note: string }[] {
    const out: { at: number; note: string }[] = [];
    for (const b of this.breakpoints.values()) {
      const r = b.context.resolution;
      if (b.context.taskId === null && b.context.projectId === projectId && r?.note && r.action === 'retry') out.push({ at: r.at, note: r.note });
    }
    return out;
  }

  /** True while an open breakpoint pauses this task or project. */
  openFor(type: string | null, projectId: string, taskId: string | null): boolean {
    for (const b of this.open.values()) {
      if (b.context.projectId !== projectId || b.context.taskId !== taskId) continue;
      if (type === null || b.context.type === type) return true;
    }
    return false;
  }

  /** How many breakpoints of `type` this task has had (the one being raised included). */
  private countFor(type: string, taskId: string): number {
    let n = 0;
    for (const b of this.breakpoints.values()) if (b.context.type === type && b.context.taskId === taskId) n++;
    return n;
  }

  /** The id of an open breakpoint that pauses this task, or null. */
  openIdFor(projectId: string, taskId: string): string | null {
    for (const b of this.open.values()) {
      if (b.context.projectId === projectId && b.context.taskId === taskId) return b.context.id;
    }
    return null;
  }

  /** Open breakpoints: any, those waiting for a person, or those that will resolve themselves. */
  hasOpen(kind: 'any' | 'person' | 'auto' = 'any'): boolean {
    for (const b of this.open.values()) {
      if (kind === 'any' || (kind === 'auto') === (b.value === 'autoResolving')) return true;
    }
    return false;
  }

  // ---- internals -----------------------------------------------------------------

  private put(id: string, bp: PersistedBreakpoint): void {
    this.breakpoints.set(id, bp);
    if (isOpenBreakpoint(bp.value)) this.open.set(id, bp);
    else this.open.delete(id);
  }

  private send(id: string, event: BreakpointEvent): boolean {
    const bp = this.breakpoints.get(id);
    const next = bp && this.host.send(bp, event);
    if (!next) return false;
    this.put(id, next);
    this.ports.journal({ k: 'bpev', b: id, e: event });
    return true;
  }

  /** After a resolution: timers off, the work released, everyone told. */
  private settle(id: string, action: ResolutionAction, note: string | null): void {
    const { context } = this.breakpoints.get(id)!;
    this.ports.cancelTimer(RESOLVE_KEY + id);
    this.ports.cancelTimer(EXPIRE_KEY + id);
    try {
      // An escalated result waits in the breakpoint's data: approving it completes the task with it.
      const pending = isPlainObject(context.data) && context.data.pendingResult !== undefined ? context.data.pendingResult : undefined;
      if (context.taskId) this.ports.releaseTask(context.taskId, id, action, note, this.openIdFor(context.projectId, context.taskId), pending);
      else this.ports.releaseProject(context.projectId, id, action);
    } catch (error) {
      // The work moved on meanwhile (cancelled, completed): the decision stands, on record.
      this.ports.onError(error, `applying breakpoint ${id}`);
    }
    this.ports.emit({ type: 'breakpoint.resolved', breakpoint: this.view(id) });
  }

  private view(id: string): BreakpointView {
    return breakpointView(this.breakpoints.get(id)!);
  }

  private select(projectId: string | undefined, method: string): PersistedBreakpoint[] {
    if (projectId !== undefined) {
      const problems = idProblems(projectId, 'projectId');
      if (problems.length) throw new ValidationError(method, problems);
    }
    return [...this.breakpoints.values()].filter((b) => projectId === undefined || b.context.projectId === projectId);
  }
}

export type { BreakpointState };
