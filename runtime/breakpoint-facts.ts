/**
 * Where the runtime raises the default breakpoints by itself: it gathers the facts
 * at the moments it knows them and lets the rules decide.
 *
 *   task.failed     error (kind, retryAfterMs), project.consecutiveFailures (distinct tasks
 *                   that failed since the project's last completion, by any path: the count
 *                   is stored and survives a restart, see failure-streaks.ts)
 *   task.completed  task.milestone, task.decision, tests (newly failing ones), confidence (what
 *                   the result says of itself: its `confidence`, 0..1, as an agent's
 *                   `CONFIDENCE` line gives it)
 *   task.slow       attempt.elapsedMs ≥ attempt.thresholdMs while it still runs
 *
 * A task's time threshold is `metadata.timeThresholdMs`, else the runtime's
 * `timeThresholdMs` option. Tests are reported as `{ passed: string[], failed: string[] }`
 * (an executor result's `tests`, or `reportTestResults`); a test that passed in an earlier
 * report for the same task and fails now is newly failing.
 */
import type { TaskState } from '../machines/task.js';
import { isInterruption, type ClassifiedFailure } from './backoff.js';
import type { BreakpointManager } from './breakpoints.js';
import type { JsonValue } from './json.js';
import type { Scheduler, TaskEntry } from './scheduler.js';
import { FailureStreaks } from './failure-streaks.js';
import { isPlainObject } from './validate.js';

const SLOW = 'slow:';

export interface TestReport {
  passed: string[];
  failed: string[];
}

export function testReportOf(result: JsonValue | null | undefined): TestReport | null {
  const tests = isPlainObject(result) ? result.tests : undefined;
  if (!isPlainObject(tests)) return null;
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  return { passed: list(tests.passed), failed: list(tests.failed) };
}

/** A result's own confidence: a number from 0 to 1 in its `confidence` field, or null. */
export function confidenceOf(result: JsonValue | null | undefined): number | null {
  const c = isPlainObject(result) ? result.confidence : undefined;
  return typeof c === 'number' && c >= 0 && c <= 1 ? c : null;
}

export class BreakpointTriggers {
  /**
   * Per project, the distinct tasks that failed since the last completion: one task retrying is
   * not "in a row". It follows every task transition (the runtime feeds it) and is stored.
   */
  readonly streaks = new FailureStreaks();
  /**
   * Each failing task's count as it stood at its transition into failed, until afterFailure
   * reads it: a retry due at once fires every due timer before afterFailure runs, and one of
   * those (an auto-resolved breakpoint that completes a task) could end the streak meanwhile.
   */
  private readonly countAtFailure = new Map<string, number>();
  /** Per task, the tests seen passing. */
  private readonly passedBefore = new Map<string, Set<string>>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly manager: BreakpointManager,
    private readonly timeThresholdMs: number | null,
  ) {}

  afterFailure(entry: TaskEntry, failure: ClassifiedFailure): void {
    const { projectId } = entry.task.context;
    const counted = this.countAtFailure.get(entry.id);
    this.countAtFailure.delete(entry.id);
    if (isInterruption(failure.kind)) return; // the process or its worker stopped, not the work
    const failures = counted ?? this.streaks.count(projectId);
    const error: Record<string, JsonValue> = { kind: failure.kind ?? 'failed', message: failure.message, retryable: failure.retryable };
    if (failure.retryAfterMs !== undefined) error.retryAfterMs = failure.retryAfterMs;
    this.manager.raiseFromFacts({ event: 'task.failed', project: { id: projectId, consecutiveFailures: failures }, task: this.taskFacts(entry), error });
  }

  /** Follows a task transition (the runtime calls it for every one, before anything else reacts). */
  observe(from: TaskState | null, to: TaskState, entry: TaskEntry): void {
    const { context } = entry.task;
    this.streaks.observe(from, to, context);
    if (to === 'failed' && from !== to) this.countAtFailure.set(entry.id, this.streaks.count(context.projectId));
  }

  afterCompletion(entry: TaskEntry): void {
    const { projectId, result } = entry.task.context;
    const report = testReportOf(result);
    const facts: Record<string, JsonValue> & { project: { id: string; consecutiveFailures: number }; task: { id: string } } = {
      event: 'task.completed',
      project: { id: projectId, consecutiveFailures: 0 },
      task: this.taskFacts(entry),
    };
    if (report) facts.tests = this.compare(entry.id, report);
    const confidence = confidenceOf(result);
    if (confidence !== null) facts.confidence = confidence;
    this.manager.raiseFromFacts(facts);
  }

  /**
   * Before a running task completes with `result`: when the result reports a confidence that the
   * `confidence_too_low` rule does not accept, the task is held with the result pending, for a
   * person (as the judge's escalation is): approving completes it with the result, a retry runs it
   * again with the note. True when it was held. (Through `markComplete`, the task completes and
   * the rule holds what comes after it instead.)
   */
  holdIfUnsure(entry: TaskEntry, result: JsonValue): boolean {
    const confidence = confidenceOf(result);
    // A result with a test report is compared with the task's earlier ones at completion: it completes, and the rules (this one too) see it all then.
    if (confidence === null || entry.task.value !== 'running' || testReportOf(result) !== null) return false;
    const { projectId } = entry.task.context;
    const facts = { event: 'task.completed', project: { id: projectId, consecutiveFailures: 0 }, task: this.taskFacts(entry), confidence };
    const firing = this.manager.evaluateBreakpointConditions(facts);
    // Held only for this rule, as a task rule: when another fires too (a milestone, an architecture
    // decision), or the rule is project-wide, the task completes and every rule raises its own then.
    if (!firing.some((r) => r.type === 'confidence_too_low' && r.scope !== 'project') || firing.some((r) => r.type !== 'confidence_too_low')) return false;
    this.manager.triggerBreakpoint('confidence_too_low', { taskId: entry.id, confidence, reason: `the result reports a confidence of ${confidence}`, pendingResult: result });
    return true;
  }

  /** Test results reported for a task outside its result (e.g. by a quality stage). */
  reportTestResults(entry: TaskEntry, report: TestReport): void {
    const { projectId } = entry.task.context;
    this.manager.raiseFromFacts({
      event: 'tests.reported',
      project: { id: projectId, consecutiveFailures: this.streaks.count(projectId) },
      task: this.taskFacts(entry),
      tests: this.compare(entry.id, report),
    });
  }

  /** Arms the time threshold of an attempt that just started. */
  onStart(entry: TaskEntry, at: number): void {
    const meta = entry.task.context.metadata;
    const own = isPlainObject(meta) && typeof meta.timeThresholdMs === 'number' ? meta.timeThresholdMs : null;
    const threshold = own ?? this.timeThresholdMs;
    if (threshold !== null) this.scheduler.timers.schedule(`${SLOW}${entry.id}:${entry.task.context.attempts}`, at + threshold);
  }

  /** Handles a timer key of its own; false otherwise. */
  onTimer(key: string, now: number): boolean {
    if (!key.startsWith(SLOW)) return false;
    const [id, attempt] = key.slice(SLOW.length).split(/:(?=\d+$)/) as [string, string];
    const entry = this.scheduler.tasks.get(id);
    const context = entry?.task.context;
    if (!entry || entry.task.value !== 'running' || String(context!.attempts) !== attempt) return true;
    const startedAt = [...context!.history].reverse().find((h) => h.to === 'running')!.at;
    const meta = context!.metadata;
    const threshold = isPlainObject(meta) && typeof meta.timeThresholdMs === 'number' ? meta.timeThresholdMs : this.timeThresholdMs!;
    this.manager.raiseFromFacts({
      event: 'task.slow',
      project: { id: context!.projectId, consecutiveFailures: this.streaks.count(context!.projectId) },
      task: this.taskFacts(entry),
      attempt: { number: context!.attempts, elapsedMs: now - startedAt, thresholdMs: threshold },
    });
    return true;
  }

  private compare(taskId: string, report: TestReport): Record<string, JsonValue> {
    const before = this.passedBefore.get(taskId) ?? new Set<string>();
    const newlyFailing = report.failed.filter((t) => before.has(t));
    for (const t of report.passed) before.add(t);
    for (const t of report.failed) before.delete(t);
    this.passedBefore.set(taskId, before);
    return { passed: report.passed, failed: report.failed, newlyFailing, newlyFailingCount: newlyFailing.length };
  }

  private taskFacts(entry: TaskEntry): Record<string, JsonValue> & { id: string } {
    const c = entry.task.context;
    const meta = isPlainObject(c.metadata) ? c.metadata : {};
    return {
      id: c.id,
      title: c.title,
      state: entry.task.value,
      attempts: c.attempts,
      retries: c.retries,
      priority: c.priority,
      milestone: meta.milestone === true,
      decision: typeof meta.decision === 'string' ? meta.decision : null,
      metadata: c.metadata,
    };
  }
}
