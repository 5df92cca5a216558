/**
 * The quality controller: runs the stages over an output, scores it, keeps the history.
 *
 *   const qc = createQualityController({ history: loaded, onRecord: (r) => save(r) });
 *   const result = await qc.validateOutput({ response, changedFiles, workdir }, task, { signal });
 *   const gate = qc.enforceQualityGate(result, { minScore: 0.8, stages: { testing: 1 } });
 *
 * Default stages and weights: syntax 0.25, requirements 0.3, quality 0.2, testing 0.25;
 * the optional `llm` stage 0.2 when configured. The overall score is the weighted mean of
 * the stages that ran (runtime/quality/score.ts).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isTimeoutReason } from '../../actors/process.js';
import { ExecutionError } from '../../actors/types.js';
import { ValidationError } from '../errors.js';
import { deepFreeze } from '../json.js';
import { describe, isPlainObject } from '../validate.js';
import { snapshot } from './files.js';
import { qualityValidator } from './heuristics.js';
import { llmValidator, type LlmValidatorOptions } from './llm.js';
import { historyProblems, qualityReport, qualityTrends, recordOf, DEFAULT_PASS_SCORE } from './report.js';
import { requirementsValidator } from './requirements.js';
import { calculateQualityScore, checkRegression, enforceQualityGate, suggestImprovements, summarizeAgreement, type ScoredStage } from './score.js';
import { syntaxValidator } from './syntax.js';
import { testingValidator } from './testing.js';
import { clamp01 } from './text.js';
import type {
  CrossValidation, GateResult, Issue, QualityGate, QualityOutput, QualityRecord, QualityReport, QualityResult, QualityTask,
  QualityTrends, RegressionReport, StageResult, Validator, ValidatorInput,
} from './types.js';

export interface QualityControllerOptions {
  /** The stages to run, replacing the built-in ones (see `defaultValidators`). */
  validators?: Validator[];
  /** Weights by stage name, over the stages' own. */
  weights?: Record<string, number>;
  /** The testing stage's time limit for the test command (ms). Default 600,000. */
  testTimeoutMs?: number;
  /** The quality stage's size limit. Default 400 lines added. */
  maxLinesAdded?: number;
  /** The requirements stage's keyword overlap threshold. Default 0.6. */
  keywordThreshold?: number;
  /** Adds the LLM stage. Off by default. */
  llm?: LlmValidatorOptions | null;
  /** Records from earlier runs (the array `history()` returned, as persisted). */
  history?: QualityRecord[];
  /** Older records are dropped beyond this many. Default 10,000. */
  maxHistory?: number;
  /** Called with each new record, to persist it. A throwing hook is logged, not fatal: the record stays in `history()`. */
  onRecord?: (record: QualityRecord) => void;
  /** Reports count a score at or above this as passing. Default 0.7. */
  passScore?: number;
  now?: () => number;
  log?: (line: string) => void;
}

export interface ValidateContext {
  /** Cancels the validation: running tests are stopped and validateOutput rejects with an ExecutionError ('cancelled' or 'timeout'). */
  signal?: AbortSignal;
  /** An earlier result to compare with: the result then carries `regression`. */
  baseline?: QualityResult;
}

export interface QualityController {
  validateOutput(output: QualityOutput, task: QualityTask, context?: ValidateContext): Promise<QualityResult>;
  calculateQualityScore(stages: readonly ScoredStage[]): number;
  enforceQualityGate(result: number | QualityResult, gate: QualityGate): GateResult;
  checkRegression(current: QualityResult, baseline: QualityResult, tolerance?: number): RegressionReport;
  suggestImprovements(result: Pick<QualityResult, 'issues'>): string[];
  /** Runs several validators (or configured stages, by name) on one output and measures how far their scores spread. */
  crossValidate(output: QualityOutput, validators: ReadonlyArray<Validator | string>, options?: { task?: QualityTask; signal?: AbortSignal }): Promise<CrossValidation>;
  getQualityTrends(projectId: string, days: number): QualityTrends;
  generateQualityReport(projectId: string): QualityReport;
  /** The records, oldest first: plain JSON, frozen. */
  history(): QualityRecord[];
  /** The stages this controller runs, with their weights. */
  stages(): Array<{ name: string; weight: number }>;
}

export const DEFAULT_MAX_HISTORY = 10_000;
const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 } as const;

/** The built-in stages, configured from the options. */
export function defaultValidators(options: Pick<QualityControllerOptions, 'testTimeoutMs' | 'maxLinesAdded' | 'keywordThreshold' | 'llm'> = {}): Validator[] {
  const list = [
    syntaxValidator(),
    requirementsValidator(options.keywordThreshold === undefined ? {} : { threshold: options.keywordThreshold }),
    qualityValidator(options.maxLinesAdded === undefined ? {} : { maxLinesAdded: options.maxLinesAdded }),
    testingValidator(options.testTimeoutMs === undefined ? {} : { timeoutMs: options.testTimeoutMs }),
  ];
  if (options.llm) list.push(llmValidator(options.llm));
  return list;
}

export function createQualityController(options: QualityControllerOptions = {}): QualityController {
  const problems = optionProblems(options);
  if (problems.length) throw new ValidationError('createQualityController', problems);
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const maxHistory = options.maxHistory ?? DEFAULT_MAX_HISTORY;
  const validators = (options.validators ?? defaultValidators(options)).map((v): Validator => ({ name: v.name, weight: options.weights?.[v.name] ?? v.weight, validate: (input) => v.validate(input) }));
  const records: QualityRecord[] = (options.history ?? []).slice(-maxHistory).map((r) => deepFreeze(structuredClone(r)));

  async function runStage(v: Validator, input: ValidatorInput): Promise<StageResult> {
    const startedAt = now();
    try {
      const out = await v.validate(input);
      if (!isPlainObject(out) || typeof out.score !== 'number' || Number.isNaN(out.score) || !Array.isArray(out.issues)) {
        throw new Error(`validator ${v.name} returned ${describe(out)} instead of { score, issues }`);
      }
      const issues: Issue[] = out.issues.map((i) => ({ ...i, stage: v.name }));
      const skipped = out.skipped === true;
      const details = { ...(out.details ?? {}), ...(out.tests ? { tests: { passed: out.tests.passed, failed: out.tests.failed } } : {}) };
      const status = skipped ? 'skipped' : issues.some((i) => i.severity === 'error') ? 'failed' : 'passed';
      return { name: v.name, weight: v.weight, status, score: skipped ? null : clamp01(out.score), issues, details, startedAt, finishedAt: now() };
    } catch (err) {
      if (input.signal.aborted) throw cancelled(input.signal);
      // A broken validator scores 0: a check that could not run must not look like a pass.
      const message = `validator ${v.name} failed: ${err instanceof Error ? err.message : String(err)}`;
      log(message);
      return { name: v.name, weight: v.weight, status: 'error', score: 0, issues: [{ stage: v.name, severity: 'error', code: 'validator-error', message }], details: {}, startedAt, finishedAt: now() };
    }
  }

  /** Runs the stages side by side; rejects (the caller cancelled) only once every stage has stopped, its processes with it. */
  async function runStages(list: readonly Validator[], input: ValidatorInput): Promise<StageResult[]> {
    const settled = await Promise.allSettled(list.map((v) => runStage(v, input)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<StageResult>).value);
  }

  async function prepare(output: QualityOutput, task: QualityTask, signal: AbortSignal | undefined, what: string): Promise<ValidatorInput> {
    const found = [...outputProblems(output), ...taskProblems(task)];
    if (found.length === 0) {
      const dir = await stat(resolve(output.workdir)).catch(() => null);
      if (!dir?.isDirectory()) found.push(`output.workdir: ${output.workdir} is not a directory`);
    }
    if (found.length) throw new ValidationError(what, found);
    const abort = signal ?? new AbortController().signal;
    if (abort.aborted) throw cancelled(abort);
    const workdir = resolve(output.workdir);
    const normalized: QualityOutput = { ...output, workdir };
    const files = await Promise.all((output.changedFiles ?? []).map((f) => snapshot(workdir, f)));
    const outside = files.filter((f) => f.unreadable === 'outside-workdir');
    if (outside.length) log(`quality: ignoring changed files outside ${workdir}: ${outside.map((f) => f.path).join(', ')}`);
    return { output: normalized, task, files: files.filter((f) => f.unreadable !== 'outside-workdir'), signal: abort, log };
  }

  function addRecord(record: QualityRecord): void {
    records.push(deepFreeze(record));
    if (records.length > maxHistory) records.splice(0, records.length - maxHistory);
    try {
      options.onRecord?.(record);
    } catch (err) {
      log(`quality: onRecord failed (the record is kept in history()): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  return {
    async validateOutput(output, task, context = {}) {
      const startedAt = now();
      const input = await prepare(output, task, context.signal, 'validateOutput');
      const stages = await runStages(validators, input);
      if (input.signal.aborted) throw cancelled(input.signal);
      const issues = stages.flatMap((s) => s.issues).sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
      const result: QualityResult = {
        taskId: task.id,
        projectId: task.projectId,
        score: calculateQualityScore(stages),
        stagesRun: stages.filter((s) => s.status !== 'skipped').length,
        stages,
        issues,
        startedAt,
        finishedAt: now(),
      };
      const tests = stages.find((s) => s.name === 'testing')?.details.tests;
      if (isPlainObject(tests)) result.tests = tests as unknown as NonNullable<QualityResult['tests']>;
      if (context.baseline) result.regression = checkRegression(result, context.baseline);
      addRecord(recordOf(result));
      return result;
    },
    calculateQualityScore,
    enforceQualityGate,
    checkRegression,
    suggestImprovements,
    async crossValidate(output, list, opts = {}) {
      const chosen = list.map((v) => (typeof v === 'string' ? validators.find((c) => c.name === v) ?? v : v));
      const unknown = chosen.filter((v): v is string => typeof v === 'string');
      if (unknown.length) throw new ValidationError('crossValidate', unknown.map((n) => `validators: no stage named "${n}" (known: ${validators.map((v) => v.name).join(', ')})`));
      const task = opts.task ?? { id: 'cross-validation', projectId: 'default', title: '' };
      const input = await prepare(output, task, opts.signal, 'crossValidate');
      const stages = await runStages(chosen as Validator[], input);
      return summarizeAgreement(stages.map((s) => ({ name: s.name, score: s.score, issues: s.issues })));
    },
    getQualityTrends(projectId, days) {
      if (typeof days !== 'number' || !(days > 0) || !Number.isFinite(days)) throw new ValidationError('getQualityTrends', [`days: must be a number > 0, got ${describe(days)}`]);
      return qualityTrends(records, projectId, days, now());
    },
    generateQualityReport(projectId) {
      return qualityReport(records, projectId, now(), options.passScore ?? DEFAULT_PASS_SCORE);
    },
    history: () => [...records],
    stages: () => validators.map((v) => ({ name: v.name, weight: v.weight })),
  };
}

function cancelled(signal: AbortSignal): ExecutionError {
  const timeout = isTimeoutReason(signal.reason);
  return new ExecutionError(`quality validation ${timeout ? 'timed out' : 'was cancelled'}`, { kind: timeout ? 'timeout' : 'cancelled', retryable: timeout, cause: signal.reason });
}

const KINDS = new Set(['created', 'modified', 'deleted']);

function outputProblems(output: unknown): string[] {
  if (!isPlainObject(output)) return [`output: must be an object, got ${describe(output)}`];
  const problems: string[] = [];
  if (typeof output.workdir !== 'string' || output.workdir.trim() === '') problems.push(`output.workdir: must be a directory path, got ${describe(output.workdir)}`);
  if (output.response !== undefined && typeof output.response !== 'string') problems.push(`output.response: must be a string, got ${describe(output.response)}`);
  if (output.changedFiles !== undefined) {
    if (!Array.isArray(output.changedFiles)) problems.push(`output.changedFiles: must be an array, got ${describe(output.changedFiles)}`);
    else output.changedFiles.forEach((f: unknown, i) => {
      const p = `output.changedFiles[${i}]`;
      if (!isPlainObject(f)) return problems.push(`${p}: must be { path, kind }, got ${describe(f)}`);
      if (typeof f.path !== 'string' || f.path.trim() === '') problems.push(`${p}.path: must be a file path, got ${describe(f.path)}`);
      if (!KINDS.has(f.kind as string)) problems.push(`${p}.kind: must be created, modified or deleted, got ${describe(f.kind)}`);
      if (f.linesAdded !== undefined && !(Number.isInteger(f.linesAdded) && (f.linesAdded as number) >= 0)) problems.push(`${p}.linesAdded: must be an integer ≥ 0, got ${describe(f.linesAdded)}`);
      return undefined;
    });
  }
  return problems;
}

function taskProblems(task: unknown): string[] {
  if (!isPlainObject(task)) return [`task: must be an object, got ${describe(task)}`];
  const problems: string[] = [];
  for (const key of ['id', 'projectId'] as const) if (typeof task[key] !== 'string' || task[key] === '') problems.push(`task.${key}: must be a non-empty string, got ${describe(task[key])}`);
  if (typeof task.title !== 'string') problems.push(`task.title: must be a string, got ${describe(task.title)}`);
  const criteria = task.acceptanceCriteria;
  if (criteria !== undefined && (!Array.isArray(criteria) || criteria.some((c) => typeof c !== 'string'))) problems.push(`task.acceptanceCriteria: must be an array of strings, got ${describe(criteria)}`);
  if (task.testCommand !== undefined && typeof task.testCommand !== 'string') problems.push(`task.testCommand: must be a string, got ${describe(task.testCommand)}`);
  return problems;
}

function optionProblems(o: QualityControllerOptions): string[] {
  if (!isPlainObject(o as unknown)) return [`options: must be an object, got ${describe(o)}`];
  const problems: string[] = [];
  const weight = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (o.validators !== undefined) {
    const names = new Set<string>();
    o.validators.forEach((v, i) => {
      if (typeof v !== 'object' || v === null) return problems.push(`validators[${i}]: must be { name, weight, validate }, got ${describe(v)}`);
      if (typeof v.name !== 'string' || v.name === '') problems.push(`validators[${i}].name: must be a non-empty string, got ${describe(v.name)}`);
      else if (names.has(v.name)) problems.push(`validators[${i}].name: "${v.name}" is used twice`);
      else names.add(v.name);
      if (!weight(v.weight)) problems.push(`validators[${i}].weight: must be a number > 0, got ${describe(v.weight)}`);
      if (typeof v.validate !== 'function') problems.push(`validators[${i}].validate: must be a function`);
      return undefined;
    });
  }
  for (const [name, w] of Object.entries(o.weights ?? {})) if (!weight(w)) problems.push(`weights.${name}: must be a number > 0, got ${describe(w)}`);
  for (const key of ['testTimeoutMs', 'maxLinesAdded', 'maxHistory'] as const) {
    const v = o[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v > 0)) problems.push(`${key}: must be an integer > 0, got ${describe(v)}`);
  }
  for (const key of ['keywordThreshold', 'passScore'] as const) {
    const v = o[key];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) problems.push(`${key}: must be a number from 0 to 1, got ${describe(v)}`);
  }
  if (o.llm) {
    if (typeof o.llm.url !== 'string' || !/^https?:\/\//.test(o.llm.url)) problems.push(`llm.url: must be an http(s) URL, got ${describe(o.llm.url)}`);
    if (typeof o.llm.model !== 'string' || o.llm.model === '') problems.push(`llm.model: must be a model name, got ${describe(o.llm.model)}`);
    if (o.llm.timeoutMs !== undefined && !(Number.isInteger(o.llm.timeoutMs) && o.llm.timeoutMs > 0)) problems.push(`llm.timeoutMs: must be an integer > 0, got ${describe(o.llm.timeoutMs)}`);
  }
  if (o.history !== undefined) problems.push(...historyProblems(o.history));
  return problems;
}
