/**
 * After an attempt's work succeeds: quality → decision → what happens to the task.
 *
 *   proceed     the task completes; its result keeps the output, the quality and the decision
 *   checkpoint  the same, then everything is flushed and a milestone_completion breakpoint
 *               holds the project for a review
 *   retry       the attempt fails (kind `quality`) with the follow-up as feedback
 *   clarify     the same, asking the work to clarify (a new attempt with the follow-up prompt)
 *   escalate    a breakpoint asks a person; approving it completes the task with this result
 *               (when that breakpoint type is disabled, nobody is asked: the result completes
 *               the task only if it has a gate the stages found met, and fails otherwise)
 *
 * Quality retries have their own budget (`quality.maxRetries`, default the task's
 * maxRetries) apart from infrastructure failures: a timeout never uses one up, and a poor
 * result never uses up a retry meant for crashes. Every decision is emitted as
 * `task.decision` and kept in the task's result or error.
 */
import { resolve } from 'node:path';
import type { JsonValue } from './json.js';
import type { Overseer } from './overseer.js';
import type { QualityController } from './quality/controller.js';
import type { QualityResult } from './quality/types.js';
import type { Decision, DecisionEngine } from './decision.js';
import { assessConfidence, determineFollowUp, explainDecision, shouldTriggerBreakpoint } from './decision.js';
import { confidenceOf } from './breakpoint-facts.js';
import { isPlainObject } from './validate.js';
import type { TaskView } from './view.js';

export interface QualityConfig {
  /** Criteria the requirements stage checks (see runtime/quality/requirements.ts). */
  acceptanceCriteria?: string[];
  /** A command the testing stage runs in the task's working directory. */
  testCommand?: string;
  /** The gate: the overall score must reach `minScore` (0..1), with at most `maxErrors` error-level issues. */
  gate?: { minScore: number; maxErrors?: number };
  /** Attempts that may be spent on poor results. Default: the task's maxRetries. */
  maxRetries?: number;
}

export function qualityConfigOf(task: TaskView): QualityConfig | null {
  const meta = isPlainObject(task.metadata) ? task.metadata : null;
  return meta && isPlainObject(meta.quality) ? (meta.quality as QualityConfig) : null;
}

/** Attempts a task has spent on poor results (failures of kind `quality`). */
export function qualityRetriesUsed(task: Pick<TaskView, 'history'>): number {
  return task.history.filter((h) => h.to === 'failed' && (h.kind === 'quality' || h.kind === 'quality_gate')).length;
}

export class Judge {
  private readonly lastDecision = new Map<string, Decision>();

  constructor(
    private readonly overseer: Overseer,
    private readonly quality: QualityController,
    private readonly decisions: DecisionEngine,
  ) {}

  async judge(task: TaskView, output: JsonValue | void, signal: AbortSignal): Promise<void> {
    const config = qualityConfigOf(task) ?? {};
    const response = responseOf(output);
    const executor = isPlainObject(task.metadata) && isPlainObject(task.metadata.executor) ? task.metadata.executor : {};
    const workdir = typeof executor.cwd === 'string' ? executor.cwd : process.cwd();
    const root = this.overseer.workspaceRoot;
    const validation = await this.quality.validateOutput(
      // Recorded by a workspace monitor, the paths are relative to the folder it watches.
      { response, changedFiles: task.changedFiles.map((f) => (root === null ? f : { ...f, path: resolve(root, f.path) })), workdir },
      { id: task.id, projectId: task.projectId, title: task.title, ...(config.acceptanceCriteria ? { acceptanceCriteria: config.acceptanceCriteria } : {}), ...(config.testCommand ? { testCommand: config.testCommand } : {}) },
      { signal },
    );
    const current = this.overseer.getTaskStatus(task.id);
    if (current?.state !== 'running' || current.attempts !== task.attempts) return; // moved on meanwhile
    const used = qualityRetriesUsed(current);
    const maxRetries = config.maxRetries ?? current.maxRetries;
    // What the work says of itself (an agent's CONFIDENCE line) can only lower the judge's own estimate.
    const reported = confidenceOf(isPlainObject(output) ? output : null);
    const assessed = assessConfidence(response, validation);
    const confidence = reported === null ? assessed : Math.min(reported, assessed);
    const decision = this.decisions.decideNextAction({
      validation,
      confidence,
      attempt: used + 1,
      maxAttempts: maxRetries + 1,
      breakpointsOpen: this.overseer.getPendingBreakpoints(task.projectId).length,
      milestone: isPlainObject(task.metadata) && task.metadata.milestone === true,
    });
    const gate = config.gate;
    // No stage could judge the result (no changed files known, no test command, no criteria): its
    // score of 1 is no evidence, and a gate is a promise that the result was checked.
    const unjudged = validation.stagesRun === 0;
    const gateFailed = gate !== undefined && (unjudged || validation.score < gate.minScore || errorsOf(validation) > (gate.maxErrors ?? Infinity));
    this.learn(task.id, decision);
    this.overseer.recordDecision(task.id, decision, validation);
    const summary = { action: decision.action, confidence: decision.confidence, explanation: explainDecision(decision) };
    const quality = qualitySummary(validation);

    if ((decision.action === 'proceed' || decision.action === 'checkpoint') && !gateFailed) {
      this.overseer.markComplete(task.id, { output: (output ?? null) as JsonValue, quality, decision: summary });
      if (decision.action === 'checkpoint') {
        await this.overseer.flush();
        this.overseer.triggerBreakpoint('milestone_completion', { taskId: task.id, decision: summary });
      }
      return;
    }
    // Why the result is not accepted, when it is not: the gate it missed, first.
    let why = gateFailed ? gateMessage(validation, gate!, unjudged) : null;
    let nobodyAsked = false;
    if (decision.action === 'escalate') {
      const suggestion = shouldTriggerBreakpoint({ validation, confidence, attempt: used + 1, maxAttempts: maxRetries + 1 });
      const type = suggestion.type ?? 'confidence_too_low';
      if (this.overseer.listBreakpointRules().some((r) => r.type === type && r.enabled !== false)) {
        this.overseer.triggerBreakpoint(type, {
          taskId: task.id,
          reason: suggestion.reason || summary.explanation,
          pendingResult: { output: (output ?? null) as JsonValue, quality, decision: summary },
        });
        return;
      }
      // Nobody is to be asked (its breakpoint type is disabled). The result was not good enough to
      // go through by itself, so it is not accepted, unless a gate the stages checked says it may.
      if (gate !== undefined && !gateFailed) {
        const note = `Escalation skipped: breakpoint type ${type} is disabled.`;
        this.overseer.markComplete(task.id, { output: (output ?? null) as JsonValue, quality, decision: { ...summary, explanation: `${summary.explanation} ${note}` } });
        return;
      }
      why ??= `the result was not accepted and nobody is to be asked (breakpoint type ${type} is disabled)`;
      nobodyAsked = true;
    }
    // retry, clarify, an escalation nobody is to answer, or a result that did not pass its gate.
    // Nothing was checked: there is nothing for the work to change, only the task's settings (an
    // escalation nobody answers says what the stages found all the same).
    const followUp = unjudged && gateFailed && !nobodyAsked ? '' : determineFollowUp(response, validation);
    // The message is the next attempt's feedback: what to fix, not how the engine weighed it (the
    // `task.decision` event and the result keep the explanation).
    const message = [why, followUp].filter(Boolean).join('\n') || summary.explanation;
    // A result that did not pass its gate fails as `quality_gate`: when no retry is left, every
    // dependent is blocked, whatever its own failure policy.
    this.overseer.markFailed(task.id, { message, kind: gateFailed ? 'quality_gate' : 'quality', retryable: true });
  }

  /** The previous decision of the task is judged by how this attempt went. */
  private learn(taskId: string, decision: Decision): void {
    const previous = this.lastDecision.get(taskId);
    if (previous) {
      const changes = this.decisions.learnFromOutcome(previous, { success: decision.action === 'proceed' || decision.action === 'checkpoint' });
      if (changes.length) this.overseer.recordDecisionWeights(this.decisions.state());
    }
    this.lastDecision.set(taskId, decision);
  }
}

function responseOf(output: JsonValue | void): string {
  if (typeof output === 'string') return output;
  if (isPlainObject(output)) {
    for (const key of ['response', 'stdout']) if (typeof output[key] === 'string') return output[key] as string;
  }
  return output === undefined ? '' : JSON.stringify(output);
}

function gateMessage(v: QualityResult, gate: NonNullable<QualityConfig['gate']>, unjudged: boolean): string {
  return unjudged
    ? 'the quality gate was not met: no stage could judge the result (no changed files known: run with --watch or call recordChanges; no testCommand; no acceptanceCriteria)'
    : v.score < gate.minScore
      ? `the quality gate was not met: score ${v.score.toFixed(2)} < ${gate.minScore}`
      : `the quality gate was not met: ${errorsOf(v)} error-level issue(s), more than the ${gate.maxErrors} allowed`;
}

function errorsOf(v: QualityResult): number {
  return v.issues.filter((i) => i.severity === 'error').length;
}

function qualitySummary(v: QualityResult): JsonValue {
  return {
    score: Math.round(v.score * 1000) / 1000,
    stages: Object.fromEntries(v.stages.map((s) => [s.name, s.score === null ? null : Math.round(s.score * 1000) / 1000])),
    issues: v.issues.slice(0, 20).map((i) => `${i.severity}: ${i.file ? `${i.file}${i.line ? `:${i.line}` : ''}: ` : ''}${i.message}`),
  } as JsonValue;
}
