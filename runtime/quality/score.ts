/**
 * Pure functions over results: the overall score, gates, regressions, and advice. None of
 * them read the clock or the disk, so they can be property-tested and run on stored results.
 */
import { ValidationError } from '../errors.js';
import { describe, isPlainObject } from '../validate.js';
import { clamp01, round } from './text.js';
import type { CrossValidation, GateResult, Issue, QualityGate, QualityResult, RegressionReport, StageResult } from './types.js';

/** Above this spread validators are said to conflict (the `conflicting_solutions` breakpoint's threshold). */
export const CONFLICT_THRESHOLD = 0.3;
export const DEFAULT_REGRESSION_TOLERANCE = 0.05;

/** What the overall score needs of a stage. */
export type ScoredStage = Pick<StageResult, 'score' | 'weight'> & { status?: StageResult['status'] };

/**
 * The weighted mean of the stages that ran (not skipped, a score, weight > 0), each score
 * clamped to 0..1. 1 when none ran: nothing was found wrong (gates still refuse a result
 * that checked nothing, see `minStagesRun`). Non-decreasing in every stage's score.
 */
export function calculateQualityScore(stages: readonly ScoredStage[]): number {
  let sum = 0;
  let total = 0;
  for (const s of stages) {
    if (s.status === 'skipped' || s.score === null || !(s.weight > 0) || !Number.isFinite(s.weight)) continue;
    sum += s.weight * clamp01(s.score);
    total += s.weight;
  }
  // Rounded so float noise (0.8000000000000002) never decides a gate; rounding keeps it monotonic.
  return total === 0 ? 1 : clamp01(round(sum / total, 9));
}

export function checkGate(gate: unknown): string[] {
  if (!isPlainObject(gate)) return [`gate: must be an object, got ${describe(gate)}`];
  const problems: string[] = [];
  const unit = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  const count = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!unit(gate.minScore)) problems.push(`gate.minScore: must be a number from 0 to 1, got ${describe(gate.minScore)}`);
  if (gate.stages !== undefined) {
    if (!isPlainObject(gate.stages)) problems.push(`gate.stages: must map stage names to minimum scores, got ${describe(gate.stages)}`);
    else for (const [name, min] of Object.entries(gate.stages)) if (!unit(min)) problems.push(`gate.stages.${name}: must be a number from 0 to 1, got ${describe(min)}`);
  }
  if (gate.maxErrors !== undefined && !count(gate.maxErrors)) problems.push(`gate.maxErrors: must be an integer ≥ 0, got ${describe(gate.maxErrors)}`);
  if (gate.minStagesRun !== undefined && !count(gate.minStagesRun)) problems.push(`gate.minStagesRun: must be an integer ≥ 0, got ${describe(gate.minStagesRun)}`);
  return problems;
}

/**
 * Whether a result (or a bare score) passes the gate; `failures` says every reason it does
 * not. A bare score carries no stages or issues, so a gate asking about them fails it:
 * a gate is never passed for want of the facts to check.
 */
export function enforceQualityGate(result: number | QualityResult, gate: QualityGate): GateResult {
  const problems = checkGate(gate);
  if (problems.length) throw new ValidationError('enforceQualityGate', problems);
  const failures: string[] = [];
  const score = typeof result === 'number' ? clamp01(result) : result.score;
  if (score < gate.minScore) failures.push(`score ${round(score)} is below ${gate.minScore}`);
  const stageLimits = Object.entries(gate.stages ?? {});
  if (typeof result === 'number') {
    if (stageLimits.length || gate.maxErrors !== undefined) failures.push('the gate checks stages and errors, but only a score was given');
    return { passed: failures.length === 0, failures };
  }
  const minStagesRun = gate.minStagesRun ?? 1;
  if (result.stagesRun < minStagesRun) failures.push(`${result.stagesRun} stage${result.stagesRun === 1 ? '' : 's'} ran; the gate needs ${minStagesRun}`);
  for (const [name, min] of stageLimits) {
    const stage = result.stages.find((s) => s.name === name);
    if (!stage || stage.score === null) failures.push(`stage ${name} did not run; the gate needs it at ${min} or more`);
    else if (stage.score < min) failures.push(`stage ${name} scored ${round(stage.score)}, below ${min}`);
  }
  if (gate.maxErrors !== undefined) {
    const errors = result.issues.filter((i) => i.severity === 'error').length;
    if (errors > gate.maxErrors) failures.push(`${errors} error${errors === 1 ? '' : 's'}; the gate allows ${gate.maxErrors}`);
  }
  return { passed: failures.length === 0, failures };
}

/** The stages (and `overall`) whose score dropped by more than `tolerance` since the baseline. Stages missing from either side are not compared. */
export function checkRegression(current: QualityResult, baseline: QualityResult, tolerance = DEFAULT_REGRESSION_TOLERANCE): RegressionReport {
  if (typeof tolerance !== 'number' || !(tolerance >= 0) || tolerance > 1) throw new ValidationError('checkRegression', [`tolerance: must be a number from 0 to 1, got ${describe(tolerance)}`]);
  const regressions: RegressionReport['regressions'] = [];
  const compare = (stage: string, before: number, now: number) => {
    // Rounded so that float noise (0.30000000000000004) never decides.
    const drop = round(before - now, 9);
    if (drop > tolerance) regressions.push({ stage, baseline: before, current: now, drop });
  };
  for (const stage of current.stages) {
    const before = baseline.stages.find((s) => s.name === stage.name);
    if (stage.score !== null && before && before.score !== null) compare(stage.name, before.score, stage.score);
  }
  if (current.stagesRun > 0 && baseline.stagesRun > 0) compare('overall', baseline.score, current.score);
  return { regressed: regressions.length > 0, tolerance, regressions };
}

const ADVICE: Record<string, (files: string) => string> = {
  syntax: (f) => `Fix the syntax errors${f}: the files must parse before anything else can be judged.`,
  requirement: () => 'Meet the unmet acceptance criteria listed in the issues; each names what was looked for.',
  'requirement-unchecked': () => 'Rewrite the acceptance criteria that could not be checked in a checkable form (file:, contains:, changed:, response:).',
  secret: (f) => `Remove the hard-coded secrets${f} and read them from the environment or a secret store; rotate any that were real.`,
  entropy: (f) => `Check the random-looking tokens${f}: if they are credentials, move them out of the code.`,
  todo: (f) => `Finish or remove the TODO/FIXME/XXX markers${f}, or track them as follow-up tasks.`,
  'empty-file': (f) => `Fill in or delete the empty files${f}.`,
  'large-change': () => 'Split the change into smaller steps that can be reviewed one at a time.',
  'test-failed': () => 'Make the failing tests pass (the issues name them), without weakening the tests.',
  'test-exit': () => 'Find why the test command fails even though no test does (a crash at load, a coverage threshold, a missing dependency).',
  'test-run': () => 'Make the test command runnable in the workdir, and fast enough for its time limit.',
  'no-tests': () => 'Add tests that the test command runs and reports.',
  llm: () => "Address the reviewer model's remarks.",
  'llm-unavailable': () => 'The model review did not happen: check the LLM server (url, model, timeout).',
  'validator-error': () => 'A validator failed to run: see its message, fix it or its configuration.',
  unchecked: () => 'Some files could not be checked (a missing tool): install it to have them checked.',
};

/** One suggestion per kind of issue found, most severe kinds first, naming the files concerned. */
export function suggestImprovements(result: Pick<QualityResult, 'issues'>): string[] {
  const byCode = new Map<string, Issue[]>();
  for (const issue of result.issues) byCode.set(issue.code, [...(byCode.get(issue.code) ?? []), issue]);
  const rank = (issues: Issue[]) => Math.min(...issues.map((i) => ['error', 'warning', 'info'].indexOf(i.severity)));
  return [...byCode.entries()]
    .sort(([a, x], [b, y]) => rank(x) - rank(y) || a.localeCompare(b))
    .map(([code, issues]) => {
      const files = [...new Set(issues.filter((i) => i.file).map((i) => (i.line ? `${i.file}:${i.line}` : i.file!)))];
      const where = files.length ? ` in ${files.slice(0, 5).join(', ')}${files.length > 5 ? ` and ${files.length - 5} more` : ''}` : '';
      const advise = ADVICE[code];
      return advise ? advise(where) : `Address the ${code} issues${where} (${issues.length}).`;
    });
}

/** Agreement among several validators' scores on the same output. */
export function summarizeAgreement(results: CrossValidation['results']): CrossValidation {
  const scores = results.map((r) => r.score).filter((s): s is number => s !== null).map(clamp01);
  const disagreement = scores.length < 2 ? 0 : round(Math.max(...scores) - Math.min(...scores), 9);
  return {
    results,
    score: scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : null,
    disagreement,
    agreement: round(1 - disagreement, 9),
    conflicting: disagreement > CONFLICT_THRESHOLD,
  };
}
