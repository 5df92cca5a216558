/**
 * The decision engine: after an attempt, what next — proceed, checkpoint (a milestone for
 * review), retry (a fresh attempt), clarify (a follow-up to the same agent), or escalate (a
 * person). Deterministic: the same context and weights always give the same decision.
 *
 * Two steps. Rules first rule out what cannot be right, each with its reason: an
 * infrastructure failure (timeout, spawn, rate_limit, interrupted, or an `exit` by a signal
 * — exitCode null or ≥ 128) forces `retry` when retryable, `escalate` otherwise, and never
 * counts as a quality retry; a failure of the work rules out proceed/checkpoint; proceed
 * and checkpoint need quality ≥ minQuality (0.7), confidence ≥ minConfidence (0.6) and no
 * error-level issue; checkpoint replaces proceed at a milestone; retry and clarify need an
 * attempt left. Then each action left is scored: score = Σ weight_c × support_a(value_c) / Σ weight_c
 * over the criteria (SUPPORT below), and the highest wins (ties: ACTIONS order).
 */
import { ValidationError } from './errors.js';
import { CONSECUTIVE_FAILURE_LIMIT } from './breakpoint-rules.js';
import { describe, isPlainObject } from './validate.js';
import { evaluateResponseQuality } from './quality/response.js';
import { clamp01, clip, findHedges, round } from './quality/text.js';
import type { QualityResult } from './quality/types.js';

export { evaluateResponseQuality };

export type DecisionAction = 'proceed' | 'checkpoint' | 'retry' | 'clarify' | 'escalate';
/** Also the tie-break order. */
export const ACTIONS: readonly DecisionAction[] = ['proceed', 'checkpoint', 'retry', 'clarify', 'escalate'];
export type CriterionName = 'quality' | 'confidence' | 'errors' | 'attemptsLeft' | 'disagreement' | 'openBreakpoints';
export const CRITERIA: readonly CriterionName[] = ['quality', 'confidence', 'errors', 'attemptsLeft', 'disagreement', 'openBreakpoints'];
export const DEFAULT_WEIGHTS: Readonly<Record<CriterionName, number>> = { quality: 0.35, confidence: 0.2, errors: 0.15, attemptsLeft: 0.15, disagreement: 0.1, openBreakpoints: 0.05 };
export const DEFAULT_BOUNDS = { min: 0.05, max: 0.95 } as const;
export const DEFAULT_THRESHOLDS = { minQuality: 0.7, minConfidence: 0.6 } as const;
/** How far one outcome moves a weight, at most. */
export const DEFAULT_STEP = 0.05;
/** The `confidence_too_low` and `conflicting_solutions` rules' thresholds (runtime/breakpoint-rules.ts). */
export const LOW_CONFIDENCE = 0.6;
export const CONFLICT = 0.3;
export const INFRASTRUCTURE_KINDS: ReadonlySet<string> = new Set(['timeout', 'spawn', 'rate_limit', 'interrupted']);
const MAX_LOG = 1000;

/** How much each criterion's value (0..1) argues for an action. */
const SUPPORT: Record<DecisionAction, Record<CriterionName, (v: number) => number>> = (() => {
  const go = { quality: (v: number) => v, confidence: (v: number) => v, errors: (v: number) => 1 - v, attemptsLeft: () => 0.5, disagreement: (v: number) => 1 - v, openBreakpoints: (v: number) => 1 - v };
  return {
    proceed: go,
    checkpoint: go,
    retry: { quality: (v) => 1 - v, confidence: () => 0.5, errors: (v) => v, attemptsLeft: (v) => v, disagreement: () => 0.5, openBreakpoints: (v) => 1 - v },
    clarify: { quality: () => 0.5, confidence: (v) => 1 - v, errors: (v) => 1 - v, attemptsLeft: (v) => v, disagreement: (v) => v, openBreakpoints: () => 0.5 },
    escalate: { quality: (v) => 1 - v, confidence: (v) => 1 - v, errors: (v) => v, attemptsLeft: (v) => 1 - v, disagreement: (v) => v, openBreakpoints: (v) => v },
  };
})();

export interface DecisionContext {
  validation?: Pick<QualityResult, 'score' | 'issues'>;
  /** 0..1; default: the validation's score, else 0.5. */
  confidence?: number;
  /** The attempt that just ended, 1-based (infrastructure retries do not count). */
  attempt: number;
  maxAttempts: number;
  failure?: { kind: string; retryable: boolean; exitCode?: number | null };
  breakpointsOpen?: number;
  milestone?: boolean;
  /** Validators' disagreement 0..1 (crossValidate). */
  disagreement?: number;
  /** For shouldTriggerBreakpoint: the project's failures in a row. */
  consecutiveFailures?: number;
}

export interface CriterionScore { name: CriterionName; weight: number; value: number; support: number; contribution: number }

export interface Decision {
  action: DecisionAction;
  /** 1 when a rule left one action; else 0.5 + the lead over the runner-up, capped at 1. */
  confidence: number;
  /** True when the action spends a quality attempt (retry or clarify after the work's own shortcomings). */
  qualityRetryUsed: boolean;
  infrastructure: boolean;
  /** A rule, not the weights, chose it (learnFromOutcome then leaves the weights alone). */
  forced: boolean;
  /** What it was decided on. */
  facts: { quality: number; confidence: number; errors: number; attempt: number; maxAttempts: number; failure: string | null };
  /** The criteria as they counted for the chosen action. */
  criteria: CriterionScore[];
  scores: Record<DecisionAction, number>;
  rejected: Array<{ action: DecisionAction; score: number; why: string }>;
  explanation: string;
}

export interface WeightChange { at: number; criterion: CriterionName; from: number; to: number; action: DecisionAction; success: boolean }
/** What `state()` returns and `options.history` takes back: plain JSON. */
export interface DecisionState { version: 1; weights: Record<CriterionName, number>; log: WeightChange[] }
export interface BreakpointSuggestion { type: 'confidence_too_low' | 'conflicting_solutions' | 'consecutive_failures' | null; reason: string }

export interface DecisionEngineOptions {
  weights?: Partial<Record<CriterionName, number>>;
  /** Learned weights stay within these. Default 0.05..0.95. */
  bounds?: { min: number; max: number };
  /** A saved `state()`; its weights win over `weights`. */
  history?: DecisionState;
  step?: number;
  thresholds?: Partial<typeof DEFAULT_THRESHOLDS>;
  now?: () => number;
}

export interface DecisionEngine {
  decideNextAction(context: DecisionContext): Decision;
  explainDecision(decision: Decision): string;
  assessConfidence(response: string, validation?: Pick<QualityResult, 'score'>): number;
  evaluateResponseQuality(response: string, task: { title: string; acceptanceCriteria?: string[] }): { score: number; reasons: string[] };
  determineFollowUp(response: string, validation?: Pick<QualityResult, 'score' | 'issues'>): string;
  shouldTriggerBreakpoint(context: Partial<DecisionContext>): BreakpointSuggestion;
  learnFromOutcome(decision: Decision, outcome: { success: boolean }): WeightChange[];
  weights(): Record<CriterionName, number>;
  weightLog(): WeightChange[];
  state(): DecisionState;
}

/** Infrastructure failures are the machinery's fault, not the work's. */
export function isInfrastructureFailure(f: { kind: string; exitCode?: number | null }): boolean {
  return INFRASTRUCTURE_KINDS.has(f.kind) || (f.kind === 'exit' && (f.exitCode === null || (typeof f.exitCode === 'number' && f.exitCode >= 128)));
}

/** The validation's score lowered by hedging: each hedge costs 10%, at most half. Non-decreasing in the score. */
export function assessConfidence(response: string, validation?: Pick<QualityResult, 'score'>): number {
  const base = validation ? clamp01(validation.score) : 0.5;
  const hedges = findHedges(response ?? '').reduce((n, h) => n + h.count, 0);
  return clamp01(base * Math.max(0.5, 1 - 0.1 * hedges));
}

export function createDecisionEngine(options: DecisionEngineOptions = {}): DecisionEngine {
  const bounds = options.bounds ?? DEFAULT_BOUNDS;
  const thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const step = options.step ?? DEFAULT_STEP;
  const now = options.now ?? Date.now;
  const problems = optionProblems(options, bounds, step);
  if (problems.length) throw new ValidationError('createDecisionEngine', problems);
  const weights: Record<CriterionName, number> = { ...DEFAULT_WEIGHTS, ...options.weights, ...options.history?.weights };
  // Narrower bounds than the defaults' range pull the defaults in (given weights were checked against them).
  for (const c of CRITERIA) weights[c] = Math.min(bounds.max, Math.max(bounds.min, weights[c]));
  const log: WeightChange[] = [...(options.history?.log ?? [])];

  function decideNextAction(context: DecisionContext): Decision {
    const found = contextProblems(context);
    if (found.length) throw new ValidationError('decideNextAction', found);
    const v = context.validation;
    const errors = v ? v.issues.filter((i) => i.severity === 'error').length : 0;
    const failure = context.failure;
    const infrastructure = failure !== undefined && isInfrastructureFailure(failure);
    const confidence = context.confidence ?? (v ? clamp01(v.score) : 0.5);
    // A work failure without a validation produced nothing to accept: quality 0. Otherwise, lacking a validation, go by confidence.
    const quality = v ? clamp01(v.score) : failure && !infrastructure ? 0 : confidence;
    const values: Record<CriterionName, number> = {
      quality,
      confidence,
      errors: Math.min(1, errors / 3),
      attemptsLeft: clamp01((context.maxAttempts - context.attempt) / context.maxAttempts),
      disagreement: clamp01(context.disagreement ?? 0),
      openBreakpoints: Math.min(1, (context.breakpointsOpen ?? 0) / 3),
    };
    const ruledOut = new Map<DecisionAction, string>();
    const rule = (actions: DecisionAction[], why: string) => actions.forEach((a) => ruledOut.has(a) || ruledOut.set(a, why));
    const hasAttempt = context.attempt < context.maxAttempts;
    if (failure && infrastructure) {
      const why = `the attempt failed for a reason outside the work (${failure.kind})`;
      if (failure.retryable) rule(['proceed', 'checkpoint', 'clarify', 'escalate'], `${why}: it is retried, and the retry does not count as a quality attempt`);
      else rule(['proceed', 'checkpoint', 'clarify', 'retry'], `${why} and cannot be retried: a person must look`);
    } else if (failure) {
      rule(['proceed', 'checkpoint'], `the attempt failed (${failure.kind}): there is no result to go on with`);
      if (!failure.retryable) rule(['retry', 'clarify'], `the failure (${failure.kind}) is not retryable`);
    } else {
      rule([context.milestone ? 'proceed' : 'checkpoint'], context.milestone ? 'a milestone is reviewed before going on' : 'this is not a milestone');
      if (quality < thresholds.minQuality) rule(['proceed', 'checkpoint'], `quality ${round(quality, 2)} is below the ${thresholds.minQuality} needed`);
      if (confidence < thresholds.minConfidence) rule(['proceed', 'checkpoint'], `confidence ${round(confidence, 2)} is below the ${thresholds.minConfidence} needed`);
      if (errors > 0) rule(['proceed', 'checkpoint'], `${errors} error-level issue${errors === 1 ? '' : 's'} remain${errors === 1 ? 's' : ''}`);
    }
    if (!hasAttempt && !infrastructure) rule(['retry', 'clarify'], `no attempt is left (${context.attempt} of ${context.maxAttempts} used)`);

    const total = CRITERIA.reduce((s, c) => s + weights[c], 0);
    const scores = {} as Record<DecisionAction, number>;
    for (const a of ACTIONS) scores[a] = round(CRITERIA.reduce((s, c) => s + weights[c] * SUPPORT[a][c](values[c]), 0) / total, 6);
    const allowed = ACTIONS.filter((a) => !ruledOut.has(a));
    const ranked = [...allowed].sort((x, y) => scores[y] - scores[x] || ACTIONS.indexOf(x) - ACTIONS.indexOf(y));
    const action = ranked[0]!; // escalate is ruled out only when retry is forced
    const criteria = CRITERIA.map((c) => {
      const support = SUPPORT[action][c](values[c]);
      return { name: c, weight: weights[c], value: round(values[c], 6), support: round(support, 6), contribution: round((weights[c] * support) / total, 6) };
    });
    const rejected = ACTIONS.filter((a) => a !== action).map((a) => ({
      action: a,
      score: scores[a],
      why: ruledOut.get(a) ?? `scored ${scores[a]} against ${scores[action]} for ${action}${lead(action, a, values)}`,
    }));
    const decision: Decision = {
      action,
      confidence: ranked.length === 1 ? 1 : round(Math.min(1, 0.5 + scores[action] - scores[ranked[1]!]), 6),
      qualityRetryUsed: !infrastructure && (action === 'retry' || action === 'clarify'),
      infrastructure,
      forced: ranked.length === 1,
      facts: { quality: round(quality, 6), confidence: round(confidence, 6), errors, attempt: context.attempt, maxAttempts: context.maxAttempts, failure: failure?.kind ?? null },
      criteria,
      scores,
      rejected,
      explanation: '',
    };
    decision.explanation = explainDecision(decision);
    return decision;
  }

  /** The criterion on which the winner gained most over `loser`, as a hint of why it lost. */
  function lead(winner: DecisionAction, loser: DecisionAction, values: Record<CriterionName, number>): string {
    // Rounded so that float noise does not break ties, which then go to the first criterion.
    const gain = (c: CriterionName) => round(weights[c] * (SUPPORT[winner][c](values[c]) - SUPPORT[loser][c](values[c])), 9);
    const [c] = [...CRITERIA].sort((x, y) => gain(y) - gain(x));
    return gain(c!) > 0 ? `; ${winner} leads most on ${label(c!)} (${round(values[c!], 2)})` : '';
  }

  function learnFromOutcome(decision: Decision, outcome: { success: boolean }): WeightChange[] {
    if (!isPlainObject(outcome) || typeof outcome.success !== 'boolean') throw new ValidationError('learnFromOutcome', [`outcome.success: must be true or false, got ${describe((outcome as { success?: unknown })?.success)}`]);
    if (decision.forced) return []; // a rule chose, not the weights: nothing to learn about them
    const changes: WeightChange[] = [];
    for (const c of decision.criteria) {
      if (!CRITERIA.includes(c.name)) continue;
      // Criteria that argued for the action gain on success and lose on failure; those that argued against, the reverse.
      const delta = step * (c.support - 0.5) * 2 * (outcome.success ? 1 : -1);
      const from = weights[c.name];
      const to = Math.min(bounds.max, Math.max(bounds.min, round(from + delta, 6)));
      if (to === from) continue;
      weights[c.name] = to;
      changes.push({ at: now(), criterion: c.name, from, to, action: decision.action, success: outcome.success });
    }
    log.push(...changes);
    if (log.length > MAX_LOG) log.splice(0, log.length - MAX_LOG);
    return changes;
  }

  return {
    decideNextAction,
    explainDecision,
    assessConfidence,
    evaluateResponseQuality,
    determineFollowUp,
    shouldTriggerBreakpoint,
    learnFromOutcome,
    weights: () => ({ ...weights }),
    weightLog: () => log.map((c) => ({ ...c })),
    state: () => ({ version: 1, weights: { ...weights }, log: log.map((c) => ({ ...c })) }),
  };
}

const LABELS: Record<CriterionName, string> = { quality: 'quality', confidence: 'confidence', errors: 'errors', attemptsLeft: 'attempts left', disagreement: 'validator disagreement', openBreakpoints: 'open breakpoints' };
const label = (c: CriterionName) => LABELS[c];

/** A paragraph for a person: what was chosen, on what grounds, and why not the rest. */
export function explainDecision(d: Decision): string {
  const f = d.facts;
  const given = `quality ${round(f.quality, 2)}, confidence ${round(f.confidence, 2)}, ${f.errors} error${f.errors === 1 ? '' : 's'}, attempt ${f.attempt} of ${f.maxAttempts}${f.failure ? `, a ${f.failure} failure` : ''}`;
  const parts = [`Next: ${d.action} (confidence ${round(d.confidence, 2)}), given ${given}.`];
  if (d.forced) parts.push('The rules left no other choice.');
  else {
    const reasons = [...d.criteria].sort((a, b) => b.contribution - a.contribution).slice(0, 2);
    parts.push(`It scored ${d.scores[d.action]} on the weighted criteria, most of it from ${reasons.map((c) => `${label(c.name)} ${round(c.value, 2)} (weight ${round(c.weight, 2)})`).join(' and ')}.`);
  }
  if (d.infrastructure) parts.push('The failure was in the machinery, not the work, so it does not use up a quality attempt.');
  else if (d.qualityRetryUsed) parts.push('This uses up one of the quality attempts.');
  const groups = new Map<string, string[]>();
  for (const r of d.rejected) groups.set(r.why, [...(groups.get(r.why) ?? []), `${r.action} (${r.score})`]);
  parts.push(`Not chosen: ${[...groups].map(([why, actions]) => `${actions.join(', ')}, because ${why}`).join('; ')}.`);
  return parts.join(' ');
}

/** The follow-up prompt for clarify or retry: the issues to fix, errors first. */
export function determineFollowUp(response: string, validation?: Pick<QualityResult, 'score' | 'issues'>): string {
  const lines: string[] = [];
  if (validation) lines.push(`Your last attempt scored ${round(validation.score, 2)} of 1 in validation and needs changes before it can be accepted.`);
  else lines.push('Your last attempt needs another look before it can be accepted.');
  const order = { error: 0, warning: 1, info: 2 } as const;
  const issues = [...(validation?.issues ?? [])].filter((i) => i.severity !== 'info').sort((a, b) => order[a.severity] - order[b.severity]);
  if (issues.length) {
    lines.push('', 'Fix these issues:');
    issues.slice(0, 20).forEach((i, n) => lines.push(`${n + 1}. [${i.severity}, ${i.stage}] ${i.file ? `${i.file}${i.line ? `:${i.line}` : ''} — ` : ''}${clip(i.message, 300)}`));
    if (issues.length > 20) lines.push(`…and ${issues.length - 20} more of the same kinds.`);
  }
  const hedges = findHedges(response ?? '');
  if (hedges.length) lines.push('', `You wrote ${hedges.map((h) => `"${h.phrase}"`).join(', ')}: check the point you were unsure about and say plainly what you verified and how.`);
  lines.push('', 'Then reply with a short summary of what you changed and how you checked it.');
  return lines.join('\n');
}

/** Which default breakpoint the context calls for, if any (most pressing first). */
export function shouldTriggerBreakpoint(context: Partial<DecisionContext>): BreakpointSuggestion {
  const streak = context.consecutiveFailures ?? 0;
  if (streak >= CONSECUTIVE_FAILURE_LIMIT) return { type: 'consecutive_failures', reason: `${streak} failures in a row (the limit is ${CONSECUTIVE_FAILURE_LIMIT})` };
  const confidence = context.confidence ?? (context.validation ? clamp01(context.validation.score) : undefined);
  if (confidence !== undefined && confidence < LOW_CONFIDENCE) return { type: 'confidence_too_low', reason: `confidence ${round(confidence, 2)} is below ${LOW_CONFIDENCE}` };
  if ((context.disagreement ?? 0) > CONFLICT) return { type: 'conflicting_solutions', reason: `validators disagree by ${round(context.disagreement!, 2)} (more than ${CONFLICT})` };
  return { type: null, reason: 'nothing calls for a person' };
}

function contextProblems(c: DecisionContext): string[] {
  if (!isPlainObject(c)) return [`context: must be an object, got ${describe(c)}`];
  const p: string[] = [];
  const unit = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  if (!Number.isInteger(c.maxAttempts) || c.maxAttempts < 1) p.push(`context.maxAttempts: must be an integer ≥ 1, got ${describe(c.maxAttempts)}`);
  if (!Number.isInteger(c.attempt) || c.attempt < 0) p.push(`context.attempt: must be an integer ≥ 0, got ${describe(c.attempt)}`);
  if (c.confidence !== undefined && !unit(c.confidence)) p.push(`context.confidence: must be a number from 0 to 1, got ${describe(c.confidence)}`);
  if (c.disagreement !== undefined && !unit(c.disagreement)) p.push(`context.disagreement: must be a number from 0 to 1, got ${describe(c.disagreement)}`);
  if (c.validation !== undefined && (!isPlainObject(c.validation) || typeof c.validation.score !== 'number' || !Array.isArray(c.validation.issues))) p.push('context.validation: must be a quality result ({ score, issues })');
  if (c.failure !== undefined && (!isPlainObject(c.failure) || typeof c.failure.kind !== 'string' || typeof c.failure.retryable !== 'boolean')) p.push('context.failure: must be { kind: string, retryable: boolean }');
  if (c.breakpointsOpen !== undefined && !(Number.isInteger(c.breakpointsOpen) && c.breakpointsOpen >= 0)) p.push(`context.breakpointsOpen: must be an integer ≥ 0, got ${describe(c.breakpointsOpen)}`);
  return p;
}

function optionProblems(o: DecisionEngineOptions, bounds: { min: number; max: number }, step: number): string[] {
  const p: string[] = [];
  if (!(typeof bounds.min === 'number' && typeof bounds.max === 'number' && bounds.min > 0 && bounds.min <= bounds.max && bounds.max <= 1)) p.push(`bounds: need 0 < min ≤ max ≤ 1, got ${describe(bounds.min)}..${describe(bounds.max)}`);
  if (!(typeof step === 'number' && step > 0 && step <= 0.5)) p.push(`step: must be a number in (0, 0.5], got ${describe(step)}`);
  const check = (w: unknown, path: string) => {
    if (w === undefined) return;
    if (!isPlainObject(w)) return void p.push(`${path}: must be an object of criterion weights, got ${describe(w)}`);
    for (const [k, v] of Object.entries(w)) {
      if (!CRITERIA.includes(k as CriterionName)) p.push(`${path}.${k}: unknown criterion (known: ${CRITERIA.join(', ')})`);
      else if (typeof v !== 'number' || !(v >= bounds.min && v <= bounds.max)) p.push(`${path}.${k}: must be a number from ${bounds.min} to ${bounds.max}, got ${describe(v)}`);
    }
  };
  check(o.weights, 'weights');
  if (o.history !== undefined) {
    if (!isPlainObject(o.history) || o.history.version !== 1 || !Array.isArray(o.history.log)) p.push('history: must be a saved state() ({ version: 1, weights, log })');
    else check(o.history.weights, 'history.weights');
  }
  for (const key of ['minQuality', 'minConfidence'] as const) {
    const v = o.thresholds?.[key];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) p.push(`thresholds.${key}: must be a number from 0 to 1, got ${describe(v)}`);
  }
  return p;
}
