/**
 * `createOverseer()`: the public, embeddable runtime.
 *
 * Its methods mirror the seed's TaskScheduler and BreakpointManager in camelCase. Each
 * one validates its input first and changes nothing when anything is wrong. The core
 * (overseer-core.ts) schedules and supervises; this layer adds breakpoints, judging
 * results (quality and decisions) and what the workspace monitor feeds in.
 */
import type { BreakpointPriority } from '../machines/breakpoint.js';
import { LEGAL_TRANSITIONS, type ChangedFile } from '../machines/task.js';
import type { RuleDefinition } from './breakpoint-rules.js';
import type { TestReport } from './breakpoint-facts.js';
import type { BreakpointView } from './breakpoint-view.js';
import type { BreakpointManager, NotificationCallback } from './breakpoints.js';
import type { WorkspaceEvent } from './change-detector.js';
import { explainDecision, type Decision, type DecisionState } from './decision.js';
import { TaskStateError, ValidationError } from './errors.js';
import type { JsonValue } from './json.js';
import type { InspectionListener } from './inspection.js';
import type { OverseerOptions } from './options.js';
import { OverseerCore } from './overseer-core.js';
import type { CrossValidation, QualityOutput, QualityResult, Validator } from './quality/types.js';
import { isPlainObject } from './validate.js';
import type { TaskView } from './view.js';

export type { OverseerOptions, RecoveryReport, StateCounts } from './options.js';

export class Overseer extends OverseerCore {
  // ---- breakpoints ---------------------------------------------------------------

  /** Enabled rules (most urgent first) whose condition holds for `context`. */
  evaluateBreakpointConditions(context: Record<string, unknown>): RuleDefinition[] {
    return this.breakpointManager.evaluateBreakpointConditions(context);
  }

  /** Raises a breakpoint by hand: `context.taskId` pauses that task, else `context.projectId` (default `default`). */
  triggerBreakpoint(type: string, context: Record<string, JsonValue> = {}): BreakpointView {
    this.assertOpen('triggerBreakpoint');
    return this.breakpointManager.triggerBreakpoint(type, context);
  }

  getPendingBreakpoints(projectId?: string): BreakpointView[] {
    return this.breakpointManager.getPendingBreakpoints(projectId);
  }

  /** Resolves a pending breakpoint exactly once; see BreakpointManager.resolveBreakpoint. */
  resolveBreakpoint(id: string, resolution: Parameters<BreakpointManager['resolveBreakpoint']>[1] = {}): BreakpointView {
    this.assertOpen('resolveBreakpoint');
    return this.breakpointManager.resolveBreakpoint(id, resolution);
  }

  getBreakpoint(id: string): BreakpointView | null {
    return this.breakpointManager.getBreakpoint(id);
  }

  getBreakpointHistory(projectId?: string, limit = 50): BreakpointView[] {
    return this.breakpointManager.getBreakpointHistory(projectId, limit);
  }

  getBreakpointStats(projectId?: string): ReturnType<BreakpointManager['getBreakpointStats']> {
    return this.breakpointManager.getBreakpointStats(projectId);
  }

  addCustomRule(definition: RuleDefinition): RuleDefinition {
    this.assertOpen('addCustomRule');
    return this.breakpointManager.addCustomRule(definition);
  }

  listBreakpointRules(): RuleDefinition[] {
    return this.breakpointManager.listRules();
  }

  disableBreakpointType(type: string): void {
    this.assertOpen('disableBreakpointType');
    this.breakpointManager.disableBreakpointType(type);
  }

  enableBreakpointType(type: string): void {
    this.assertOpen('enableBreakpointType');
    this.breakpointManager.enableBreakpointType(type);
  }

  shouldNotify(type: string, severity: BreakpointPriority): boolean {
    return this.breakpointManager.shouldNotify(type, severity);
  }

  /** Called with each notification batch: high priority at once, others every `breakpoints.notifyBatchMs`. */
  registerNotificationCallback(callback: NotificationCallback): () => void {
    return this.breakpointManager.registerNotificationCallback(callback);
  }

  /** Test results of a task; tests that passed before and fail now raise `breaking_test_failure`. */
  reportTestResults(taskId: string, report: TestReport): void {
    const entry = this.entry(taskId, 'reportTestResults');
    const ok = isPlainObject(report) && ['passed', 'failed'].every((k) => Array.isArray(report[k as keyof TestReport]) && report[k as keyof TestReport].every((t) => typeof t === 'string'));
    if (!ok) throw new ValidationError('reportTestResults', ['report: must be { passed: string[], failed: string[] }']);
    this.triggers.reportTestResults(entry, report);
  }

  /** What the next attempt of a task should know: earlier failures and people's retry notes, oldest first. */
  feedbackFor(taskId: string): string[] {
    const entry = this.entry(taskId, 'feedbackFor');
    const failures = entry.task.context.history.filter((h) => h.to === 'failed' && h.reason).map((h) => ({ at: h.at, note: h.reason! }));
    // A project breakpoint resolved with retry ran this task again if it failed then: its note is for this task too.
    const retriedAt = new Set(entry.task.context.history.filter((h) => h.to === 'retrying').map((h) => h.at));
    const notes = [
      ...this.breakpointManager.feedbackFor(taskId),
      ...this.breakpointManager.projectRetryNotes(entry.task.context.projectId).filter((n) => retriedAt.has(n.at)),
    ].map((n) => ({ at: n.at, note: `a person asked for a retry: ${n.note}` }));
    return [...failures, ...notes].sort((a, b) => a.at - b.at).map((f) => f.note);
  }

  /**
   * Notes files the running task's work changed (what the workspace watcher saw). They are
   * kept on the task (`changedFiles`) for the quality stages and the record. Paths are relative
   * to `workspaceRoot` when a monitor runs, else to the task's working directory (or absolute).
   */
  recordChanges(taskId: string, files: readonly ChangedFile[]): TaskView {
    const entry = this.entry(taskId, 'recordChanges');
    const ok =
      Array.isArray(files) &&
      files.every((f) => isPlainObject(f) && typeof f.path === 'string' && ['created', 'modified', 'deleted'].includes(f.kind as string) && typeof f.at === 'number');
    if (!ok) throw new ValidationError('recordChanges', ['files: must be a list of { path, kind: created|modified|deleted, at }']);
    if (entry.task.value !== 'running') throw new TaskStateError(taskId, entry.task.value, 'running', LEGAL_TRANSITIONS[entry.task.value], 'changes are recorded while a task runs');
    this.scheduler.send(entry, { type: 'RECORD_CHANGES', at: this.clock.now(), files: files.map((f) => ({ path: f.path, kind: f.kind, at: f.at })) });
    return this.view(entry);
  }

  /** Lets the breakpoint rules see facts gathered outside the scheduler (the workspace monitor's). */
  raiseFromFacts(facts: Record<string, JsonValue> & { project: { id: string } }): BreakpointView[] {
    this.assertOpen('raiseFromFacts');
    const problems = this.breakpointManager.factsProblems(facts);
    if (problems.length) throw new ValidationError('raiseFromFacts', problems);
    return this.breakpointManager.raiseFromFacts(facts as never);
  }

  /**
   * The folder a workspace monitor watches, whose paths it records (relative to it): the quality
   * stages find a task's changed files there, not under the task's own working directory (a
   * task in `web/` has its changes recorded as `web/...`). Null without a monitor: paths given
   * to `recordChanges` are then taken from the task's working directory, or are absolute.
   */
  workspaceRoot: string | null = null;

  /** Tells listeners what changed in the workspace (the monitor calls this). */
  emitWorkspaceChanged(events: readonly WorkspaceEvent[]): void {
    if (events.length) this.emitter.emit({ type: 'workspace.changed', events: [...events], at: this.clock.now() });
  }

  /**
   * For the runner, before it completes a task: holds it, with its result pending, for a person
   * when the result reports a confidence `confidence_too_low` does not accept. True when held.
   */
  holdIfUnsure(taskId: string, result: JsonValue): boolean {
    this.assertOpen('holdIfUnsure');
    return this.triggers.holdIfUnsure(this.entry(taskId, 'holdIfUnsure'), result);
  }

  /** Judges a succeeded attempt of a task with `metadata.quality` (the runner calls this). */
  judgeAttempt(task: TaskView, output: JsonValue | void, signal: AbortSignal): Promise<void> {
    return this.judge.judge(task, output, signal);
  }

  /**
   * Has several validators judge a task's output and compares them; when they disagree
   * (`conflicting`), the rules see it (`validation.disagreement`) and `conflicting_solutions`
   * pauses the task.
   */
  async crossValidate(taskId: string, output: QualityOutput, validators: ReadonlyArray<Validator | string>): Promise<CrossValidation> {
    const task = this.entry(taskId, 'crossValidate');
    const { projectId, title } = task.task.context;
    const comparison = await this.quality.crossValidate(output, validators, { task: { id: taskId, projectId, title } });
    if (!this.closed) {
      this.breakpointManager.raiseFromFacts({
        event: 'validation.compared',
        project: { id: projectId },
        task: { id: taskId, title, state: task.task.value },
        validation: { disagreement: comparison.disagreement, agreement: comparison.agreement, conflicting: comparison.conflicting },
      });
    }
    return comparison;
  }

  /** Records a decision about a task's result: emitted as `task.decision`. */
  recordDecision(taskId: string, decision: Decision, validation: QualityResult): void {
    this.emitter.emit({
      type: 'task.decision',
      taskId,
      action: decision.action,
      confidence: decision.confidence,
      explanation: explainDecision(decision),
      qualityScore: validation.score,
      at: this.clock.now(),
    });
  }

  /** Stores the decision engine's learned weights. */
  recordDecisionWeights(state: DecisionState): void {
    this.decisionsLearned = true;
    this.durability?.journal({ k: 'weights', state });
  }

  /**
   * Inspection records of every actor — tasks, breakpoints, the supervisor — in XState's
   * vocabulary (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot`); what the inspector
   * and `--trace` are made of. First an `@xstate.actor` record with the present snapshot of
   * each actor (unless `{ current: false }`), then every change; `onEnd` is called when the
   * overseer closes, after its last record. Returns the unsubscribe function.
   */
  inspect(listener: InspectionListener, options: { current?: boolean; onEnd?: () => void } = {}): () => void {
    return this.inspection.subscribe(listener, options);
  }

  /** True while a breakpoint is open: any, one waiting for a person, or one that will resolve itself. */
  hasOpenBreakpoints(kind: 'any' | 'person' | 'auto' = 'any'): boolean {
    return this.breakpointManager.hasOpen(kind);
  }
}

export function createOverseer(options: OverseerOptions = {}): Overseer {
  return new Overseer(options);
}
