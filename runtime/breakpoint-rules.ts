/**
 * Breakpoint rules: declarative, checked, and evaluated without eval.
 *
 * A rule says when a breakpoint fires (a condition over a facts object, compiled by
 * runtime/expression.ts, which can read only the data it is given), how urgent it is,
 * what it pauses (the task or the whole project), whether it resolves itself, and who
 * hears about it. The eight default types come with rules over the facts the runtime
 * gathers itself; users add their own with `addCustomRule`.
 */
import { nearest } from './nearest.js';
import type { BreakpointPriority, ResolutionAction } from '../machines/breakpoint.js';
import { compileExpression, dataValue, ExpressionError, type CompiledExpression } from './expression.js';
import { describe, isPlainObject } from './validate.js';

export type NotifyPolicy = 'immediate' | 'batch' | 'none';

export interface AutoResolvePolicy {
  /** What the auto-resolution does to the paused work. */
  action: ResolutionAction;
  /** Wait this long first (ms)… */
  afterMs?: number;
  /** …or as long as this path in the facts says (e.g. `error.retryAfterMs`), falling back to `afterMs`. */
  afterFrom?: string;
}

export interface RuleDefinition {
  /** The breakpoint type it raises: one of the defaults, or your own. */
  type: string;
  /** `high` pauses are notified at once; others are batched. Default `medium`. */
  priority?: BreakpointPriority;
  /** The condition over the facts, e.g. `confidence < 0.6 && task.attempts >= 2`. */
  condition: string;
  enabled?: boolean;
  /** Pause the `task` (default) or the whole `project`. */
  scope?: 'task' | 'project';
  autoResolve?: AutoResolvePolicy | null;
  notify?: NotifyPolicy;
  /** A message for people; default: the type and the condition. */
  message?: string;
  /** An unanswered breakpoint expires after this long (ms); expiry cancels the paused work. */
  expiresAfterMs?: number;
}

export interface Rule extends Required<Omit<RuleDefinition, 'autoResolve' | 'message' | 'expiresAfterMs'>> {
  autoResolve: AutoResolvePolicy | null;
  message: string | null;
  expiresAfterMs: number | null;
  compiled: CompiledExpression;
  builtIn: boolean;
  /** The facts' `event` values the condition can hold for (from its `event == …` tests), or null for any. */
  events: ReadonlySet<unknown> | null;
  /** Top-level facts of which the condition needs at least one (`CompiledExpression.rootsRequired`), or null. */
  roots: readonly string[] | null;
}

export const DEFAULT_BREAKPOINT_TYPES = [
  'architecture_decision',
  'breaking_test_failure',
  'conflicting_solutions',
  'milestone_completion',
  'rate_limit_hit',
  'time_threshold_exceeded',
  'confidence_too_low',
  'consecutive_failures',
] as const;

/** Consecutive failures in a project before `consecutive_failures` fires. */
export const CONSECUTIVE_FAILURE_LIMIT = 3;

export const DEFAULT_RULES: readonly RuleDefinition[] = [
  {
    type: 'architecture_decision',
    priority: 'high',
    condition: '(event == "task.completed" && task.decision == "architecture") || (event == "workspace.changed" && len(changes.protected) > 0)',
    message: 'an architecture decision needs a person',
  },
  { type: 'breaking_test_failure', priority: 'high', condition: 'tests.newlyFailingCount > 0', message: 'tests that passed before now fail' },
  { type: 'conflicting_solutions', priority: 'medium', condition: 'validation.disagreement > 0.3', message: 'validators disagree about the result' },
  { type: 'milestone_completion', priority: 'medium', scope: 'project', condition: 'event == "task.completed" && task.milestone == true', message: 'a milestone is done: review before going on' },
  {
    type: 'rate_limit_hit',
    priority: 'high',
    scope: 'project',
    condition: 'error.kind == "rate_limit"',
    autoResolve: { action: 'continue', afterFrom: 'error.retryAfterMs', afterMs: 60_000 },
    message: 'rate limited: the project waits, then goes on',
  },
  {
    type: 'time_threshold_exceeded',
    priority: 'medium',
    condition: 'event == "task.slow" && attempt.elapsedMs >= attempt.thresholdMs',
    autoResolve: { action: 'retry', afterMs: 0 },
    message: 'the attempt ran past its time threshold: it is stopped and retried',
  },
  { type: 'confidence_too_low', priority: 'high', condition: 'confidence < 0.6', message: 'confidence in the result is too low' },
  {
    type: 'consecutive_failures',
    priority: 'high',
    scope: 'project',
    condition: `project.consecutiveFailures >= ${CONSECUTIVE_FAILURE_LIMIT}`,
    message: 'several tasks failed in a row: the project is paused',
  },
];

/**
 * Every fact path the runtime fills in (breakpoint-facts.ts, workspace.ts, crossValidate). A
 * plan's rules see only these: a condition reading anything else never fires.
 */
const KNOWN_FACTS = [
  'event', 'project.id', 'project.consecutiveFailures',
  'task.id', 'task.title', 'task.state', 'task.attempts', 'task.retries', 'task.priority', 'task.milestone', 'task.decision', 'task.metadata',
  'error.kind', 'error.message', 'error.retryable', 'error.retryAfterMs',
  'attempt.number', 'attempt.elapsedMs', 'attempt.thresholdMs',
  'tests.passed', 'tests.failed', 'tests.newlyFailing', 'tests.newlyFailingCount',
  'validation.disagreement', 'validation.agreement', 'validation.conflicting', 'confidence',
  'changes.paths', 'changes.created', 'changes.modified', 'changes.deleted', 'changes.tests', 'changes.config', 'changes.dependencies', 'changes.protected', 'changes.burst',
];

/** Known, a whole object the runtime gives (`task`), or inside the user's own metadata. */
export function isKnownFact(field: string, declared: readonly string[] = []): boolean {
  // A list's or a string's `length` (`tests.failed.length > 2`) is as known as the fact itself.
  if (field.endsWith('.length') && isKnownFact(field.slice(0, -'.length'.length), declared)) return true;
  const covers = (k: string) => k === field || k.startsWith(`${field}.`);
  return KNOWN_FACTS.some(covers) || field.startsWith('task.metadata.') || declared.some((d) => covers(d) || field.startsWith(`${d}.`));
}

/**
 * The problem with a fact a plan's rule reads, or null when the runtime provides it or the
 * plan `declared` it (facts the embedding code passes to `raiseFromFacts`): the nearest fact
 * is suggested (`task.attemps` → `task.attempts`).
 */
export function unknownFactProblem(field: string, declared: readonly string[] = []): string | null {
  if (isKnownFact(field, declared)) return null;
  const near = nearest(field, [...KNOWN_FACTS, ...declared]);
  const hint = near !== null
    ? `; did you mean "${near}"?`
    : ` (a plan's rules see event, project.*, task.*, error.*, attempt.*, tests.*, validation.*, confidence, changes.*, and facts the plan declares in breakpoints.facts)`;
  return `reads "${field}", which the runtime never provides, so the rule would never fire${hint}`;
}

/** `<at>.condition reads "…"` for each field a plan's rule (at `at`) reads that nobody provides. */
export function factProblems(fields: readonly string[], declared: readonly string[] | undefined, at: string): string[] {
  const problems: string[] = [];
  for (const field of fields) {
    const problem = unknownFactProblem(field, declared);
    if (problem) problems.push(`${at}.condition ${problem}`);
  }
  return problems;
}

const PRIORITIES: readonly BreakpointPriority[] = ['high', 'medium', 'low'];
const ACTIONS: readonly ResolutionAction[] = ['continue', 'retry', 'skip', 'cancel'];
const RULE_KEYS = new Set(['type', 'priority', 'condition', 'enabled', 'scope', 'autoResolve', 'notify', 'message', 'expiresAfterMs']);
const TYPE = /^[a-z][a-z0-9_]{0,63}$/;

const nonNegative = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Checks a rule definition; throws a list of problems (each naming its field), or returns the rule. */
export function checkRule(raw: unknown, builtIn = false): Rule | string[] {
  if (!isPlainObject(raw)) return [`rule: must be an object, got ${describe(raw)}`];
  const problems: string[] = [];
  for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) problems.push(`rule.${key}: unknown field (known: ${[...RULE_KEYS].join(', ')})`);
  if (typeof raw.type !== 'string' || !TYPE.test(raw.type)) problems.push(`rule.type: must be snake_case letters and digits, got ${describe(raw.type)}`);
  if (raw.priority !== undefined && !PRIORITIES.includes(raw.priority as BreakpointPriority)) problems.push(`rule.priority: must be one of ${PRIORITIES.join(', ')}, got ${describe(raw.priority)}`);
  if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean') problems.push(`rule.enabled: must be true or false`);
  if (raw.scope !== undefined && raw.scope !== 'task' && raw.scope !== 'project') problems.push(`rule.scope: must be task or project, got ${describe(raw.scope)}`);
  if (raw.notify !== undefined && !['immediate', 'batch', 'none'].includes(raw.notify as string)) problems.push(`rule.notify: must be immediate, batch or none, got ${describe(raw.notify)}`);
  if (raw.message !== undefined && typeof raw.message !== 'string') problems.push(`rule.message: must be a string`);
  if (raw.expiresAfterMs !== undefined && !nonNegative(raw.expiresAfterMs)) problems.push(`rule.expiresAfterMs: must be a number of milliseconds ≥ 0`);
  const auto = raw.autoResolve;
  if (auto !== undefined && auto !== null) {
    if (!isPlainObject(auto)) problems.push(`rule.autoResolve: must be an object or null`);
    else {
      if (!ACTIONS.includes(auto.action as ResolutionAction)) problems.push(`rule.autoResolve.action: must be one of ${ACTIONS.join(', ')}, got ${describe(auto.action)}`);
      if (auto.afterMs !== undefined && !nonNegative(auto.afterMs)) problems.push(`rule.autoResolve.afterMs: must be a number of milliseconds ≥ 0`);
      if (auto.afterFrom !== undefined && typeof auto.afterFrom !== 'string') problems.push(`rule.autoResolve.afterFrom: must be a path such as error.retryAfterMs`);
      if (raw.scope === 'project' && auto.action === 'skip') problems.push(`rule.autoResolve.action: skip counts a task as done, and a project rule holds a project: continue, retry or cancel`);
    }
  }
  let compiled: CompiledExpression | null = null;
  if (typeof raw.condition !== 'string' || raw.condition.trim() === '') problems.push(`rule.condition: must be an expression, got ${describe(raw.condition)}`);
  else {
    try {
      compiled = compileExpression(raw.condition);
    } catch (error) {
      problems.push(`rule.condition: ${error instanceof ExpressionError ? error.message : String(error)}`);
    }
  }
  if (problems.length || !compiled) return problems;
  return {
    type: raw.type as string,
    priority: (raw.priority as BreakpointPriority | undefined) ?? 'medium',
    condition: raw.condition as string,
    enabled: (raw.enabled as boolean | undefined) ?? true,
    scope: (raw.scope as 'task' | 'project' | undefined) ?? 'task',
    autoResolve: (auto as AutoResolvePolicy | null | undefined) ?? null,
    notify: (raw.notify as NotifyPolicy | undefined) ?? (raw.priority === 'high' ? 'immediate' : 'batch'),
    message: (raw.message as string | undefined) ?? null,
    expiresAfterMs: (raw.expiresAfterMs as number | undefined) ?? null,
    compiled,
    builtIn,
    events: eventsOf(compiled),
    roots: compiled.rootsRequired,
  };
}

function eventsOf(compiled: CompiledExpression): ReadonlySet<unknown> | null {
  const values = compiled.valuesRequiredOf('event');
  return values && new Set(values);
}

/**
 * For one set of facts: false for a rule whose condition needs another `event` than the
 * facts have, or facts they do not have at all (`tests`, `confidence`, `error` on a plain
 * completion): it cannot hold, so it need not be evaluated. Facts are read as the
 * expression reads them (own data properties: a getter is never run, and reads as absent).
 */
export function mayHoldOn(facts: object): (rule: Rule) => boolean {
  const event = dataValue(facts, 'event');
  return (rule) => {
    if (rule.events !== null && !rule.events.has(event)) return false;
    if (rule.roots === null) return true;
    // An index loop: for…of over a frozen array takes the iterator protocol (an object per step) on Node 20.
    for (let i = 0; i < rule.roots.length; i++) if (dataValue(facts, rule.roots[i]!) !== undefined) return true;
    return false;
  };
}

export function defaultRules(): Rule[] {
  return DEFAULT_RULES.map((r) => {
    const rule = checkRule(r, true);
    if (Array.isArray(rule)) throw new Error(`a default rule is invalid: ${rule.join('; ')}`);
    return rule;
  });
}

/** The rule as stored and shown (without its compiled form). */
export function ruleDefinition(rule: Rule): RuleDefinition {
  const out: RuleDefinition = { type: rule.type, priority: rule.priority, condition: rule.condition, enabled: rule.enabled, scope: rule.scope, notify: rule.notify };
  if (rule.autoResolve) out.autoResolve = rule.autoResolve;
  if (rule.message !== null) out.message = rule.message;
  if (rule.expiresAfterMs !== null) out.expiresAfterMs = rule.expiresAfterMs;
  return out;
}

/** Reads a dotted path of own data properties (for `afterFrom`), or undefined. */
export function readPath(facts: unknown, path: string): unknown {
  let value: unknown = facts;
  for (const key of path.split('.')) {
    if (!isPlainObject(value)) return undefined;
    value = dataValue(value, key);
  }
  return value;
}

const URGENCY: Record<BreakpointPriority, number> = { high: 0, medium: 1, low: 2 };

/** The rules that can fire: enabled, of a type not switched off, most urgent first (in order of addition among equals). */
export function activeRules(rules: readonly Rule[], disabledTypes: ReadonlySet<string>): Rule[] {
  return rules.filter((r) => r.enabled && !disabledTypes.has(r.type)).sort((a, b) => URGENCY[a.priority] - URGENCY[b.priority]);
}
