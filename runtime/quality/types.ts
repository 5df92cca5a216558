/**
 * The quality controller's vocabulary. Everything a result, a record or a report holds is
 * plain JSON, so a caller can store it, hand it to a task as its result, or pass a past
 * result back as a baseline.
 */
import type { JsonValue } from '../json.js';

export type Severity = 'error' | 'warning' | 'info';

/** One finding. `code` names the kind of finding (what `suggestImprovements` groups by). */
export interface Issue {
  /** The stage that found it: `syntax`, `requirements`, `quality`, `testing`, `llm`, or a custom one. */
  stage: string;
  severity: Severity;
  /** e.g. `syntax`, `requirement`, `todo`, `secret`, `entropy`, `empty-file`, `large-change`, `test-failed`. */
  code: string;
  message: string;
  /** Relative to the workdir, as the output named it. */
  file?: string;
  /** 1-based. */
  line?: number;
  /** 1-based. */
  column?: number;
}

export interface ChangedFile {
  /** Relative to the workdir (absolute paths are accepted when they lie inside it). */
  path: string;
  kind: 'created' | 'modified' | 'deleted';
  /** Lines this change added, when the caller knows (a diff). Created files count all their lines. */
  linesAdded?: number;
}

/** What an agent or job produced. */
export interface QualityOutput {
  response?: string;
  changedFiles?: ChangedFile[];
  /** Where the changed files and the test command live. */
  workdir: string;
}

export interface QualityTask {
  id: string;
  projectId: string;
  title: string;
  /** See runtime/quality/requirements.ts for the criterion forms. */
  acceptanceCriteria?: string[];
  /** Run with /bin/sh in the workdir by the testing stage. */
  testCommand?: string;
  metadata?: JsonValue;
}

/** A changed file as the stages see it: read once by the controller. */
export interface FileSnapshot extends ChangedFile {
  absPath: string;
  /** null when there is nothing to read; `unreadable` says why. */
  content: string | null;
  unreadable?: 'deleted' | 'missing' | 'binary' | 'too-large' | 'outside-workdir' | 'error';
}

export interface ValidatorInput {
  output: QualityOutput;
  task: QualityTask;
  files: readonly FileSnapshot[];
  /** Aborted when the caller gives up: stop, and let the error through. */
  signal: AbortSignal;
  log: (line: string) => void;
}

/** What a validator returns. `issues` may omit `stage`; the controller fills it in. */
export interface ValidatorOutcome {
  /** 0..1 (clamped). Ignored when `skipped`. */
  score: number;
  issues: Array<Omit<Issue, 'stage'> & { stage?: string }>;
  details?: { [key: string]: JsonValue };
  /** Nothing to check (no files of its kind, no criteria, no test command…): the stage does not count. */
  skipped?: boolean;
  /** The testing stage's names, when the runner's output named them. */
  tests?: TestReport;
}

/** A pluggable stage. */
export interface Validator {
  name: string;
  /** > 0; relative to the other stages (they need not sum to 1). */
  weight: number;
  validate(input: ValidatorInput): Promise<ValidatorOutcome>;
}

export interface TestReport {
  passed: string[];
  failed: string[];
}

export type StageStatus = 'passed' | 'failed' | 'skipped' | 'error';

export interface StageResult {
  name: string;
  weight: number;
  /** `passed`: ran, no error-level issue; `failed`: ran with one; `error`: the validator itself threw (scored 0). */
  status: StageStatus;
  /** null when skipped. */
  score: number | null;
  issues: Issue[];
  details: { [key: string]: JsonValue };
  startedAt: number;
  finishedAt: number;
}

export interface QualityResult {
  taskId: string;
  projectId: string;
  /** Weighted mean of the stages that ran; 1 when none ran (see `stagesRun`). */
  score: number;
  stagesRun: number;
  stages: StageResult[];
  /** Every stage's issues, errors first. */
  issues: Issue[];
  /** Present when the testing stage could name tests (the shape breakpoint facts read). */
  tests?: TestReport;
  /** Present when `context.baseline` was given. */
  regression?: RegressionReport;
  startedAt: number;
  finishedAt: number;
}

export interface QualityGate {
  /** The overall score must be at least this. */
  minScore: number;
  /** Per-stage minimums; a stage named here that did not run fails the gate. */
  stages?: Record<string, number>;
  /** At most this many error-level issues. */
  maxErrors?: number;
  /** At least this many stages must have run. Default 1: a result that checked nothing does not pass. */
  minStagesRun?: number;
}

export interface GateResult {
  passed: boolean;
  failures: string[];
}

export interface Regression {
  /** A stage name, or `overall`. */
  stage: string;
  baseline: number;
  current: number;
  drop: number;
}

export interface RegressionReport {
  regressed: boolean;
  tolerance: number;
  regressions: Regression[];
}

export interface CrossValidation {
  /** Per validator: its score, or null when it skipped (those do not count). */
  results: Array<{ name: string; score: number | null; issues: Issue[] }>;
  /** Mean of the scores that count; null when none does. */
  score: number | null;
  /** max − min of the scores that count (scores are 0..1, so this is already normalized); 0 with fewer than two. */
  disagreement: number;
  /** 1 − disagreement. */
  agreement: number;
  /** disagreement > 0.3: the `conflicting_solutions` breakpoint's threshold. */
  conflicting: boolean;
}

/** One validation, as kept in the history: small and plain JSON. */
export interface QualityRecord {
  taskId: string;
  projectId: string;
  /** Epoch ms. */
  at: number;
  score: number;
  stagesRun: number;
  /** Per stage: its score, or null when skipped. */
  stages: Record<string, number | null>;
  errors: number;
  warnings: number;
  /** How many issues of each code. */
  issueCodes: Record<string, number>;
}

export interface TrendPoint {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  count: number;
  mean: number;
  min: number;
  max: number;
}

export interface QualityTrends {
  projectId: string;
  days: number;
  from: number;
  to: number;
  count: number;
  points: TrendPoint[];
  /** Mean score per stage over the window (stages that ran). */
  stages: Record<string, number>;
  /** Second half of the window's records vs the first half: ±0.05 or more is a direction. */
  direction: 'improving' | 'declining' | 'stable' | 'insufficient-data';
  delta: number;
}

export interface QualityReport {
  projectId: string;
  generatedAt: number;
  count: number;
  meanScore: number | null;
  latestScore: number | null;
  /** Share of records with score ≥ `passScore`. */
  passRate: number | null;
  passScore: number;
  stages: Record<string, { mean: number; runs: number; skipped: number }>;
  topIssues: Array<{ code: string; count: number }>;
  worst: Array<{ taskId: string; score: number; at: number }>;
  trend: QualityTrends;
  /** The same, for people. */
  text: string;
}
