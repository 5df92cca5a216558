/**
 * Plan files: projects, tasks, defaults and concurrency, in YAML or JSON.
 *
 * The shape is checked with zod; the cross-references (unknown and duplicate ids,
 * cycles, what each executor needs) are checked after it. Every problem is reported
 * with its path — `tasks[3].dependsOn[0]: unknown task "buidl"` — and a plan with any
 * problem yields no tasks at all.
 */
import { compileExpression } from './expression.js';
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import type { TaskSpec } from './validate.js';
import { findCycles } from './graph.js';
import { describe, idProblems, isPlainObject, parseDeadline } from './validate.js';
import { checkRule, DEFAULT_BREAKPOINT_TYPES, factProblems, type RuleDefinition } from './breakpoint-rules.js';
import { formatIssues, qualityConfig } from './zod-issues.js';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `1500`, `"1500ms"`, `"30s"`, `"5m"`, `"1h"` → milliseconds. */
export function parseDuration(value: number | string): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const m = DURATION.exec(value.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : null;
  return ms !== null && Number.isFinite(ms) ? ms : null; // "999…9ms" is no duration either
}

const DURATION_MESSAGE = 'must be a duration: milliseconds, or a number with ms, s, m or h (e.g. "30s")';
const duration = z.union([z.number(), z.string()], { error: DURATION_MESSAGE }).refine((v) => parseDuration(v) !== null, { message: DURATION_MESSAGE });
/** A task's time limit: 0 would time every attempt out at once. */
const timeLimit = duration.refine((v) => parseDuration(v) !== 0, { message: 'must be more than 0' });
const stringMap = z.record(z.string(), z.string());
const policy = z.enum(['block', 'cancel', 'ignore']);
const executorType = z.enum(['shell', 'agent', 'function']);


const agentConfig = z.strictObject({
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  promptVia: z.enum(['stdin', 'argument']).optional(),
});

const taskSchema = z.strictObject({
  id: z.string(),
  title: z.string().optional(),
  executor: executorType.optional(),
  command: z.string().min(1).optional(),
  prompt: z.string().min(1).optional(),
  agent: agentConfig.optional(),
  function: z.string().min(1).optional(),
  cwd: z.string().optional(),
  env: stringMap.optional(),
  dependsOn: z.array(z.string()).optional(),
  priority: z.number().int().min(1).max(10).optional(),
  deadline: z.string().optional(),
  retries: z.number().int().min(0).max(100).optional(),
  retryDelay: duration.optional(),
  /** Per attempt; null: none, whatever `defaults.timeout` says (a long migration in a plan of short steps). */
  timeout: timeLimit.nullable().optional(),
  onDependencyFailure: policy.optional(),
  /** Pause the project for review when this task completes (`milestone_completion`). */
  milestone: z.boolean().optional(),
  /** Ask a person about this decision when the task completes (`decision: architecture` → `architecture_decision`). */
  decision: z.string().min(1).optional(),
  /** An attempt running longer than this raises `time_threshold_exceeded` (stopped and retried). */
  timeThreshold: duration.optional(),
  /** Check the work's result before the task completes (see runtime/judge.ts). */
  quality: qualityConfig.optional(),
  /** With `run --watch`: globs (relative to the watched root) whose changes run this task again. */
  onChange: z.array(z.string().min(1)).optional(),
  /** With `run --watch`: the task waits for a first matching change before it runs. */
  waitForChange: z.boolean().optional(),
});

const defaultsSchema = z.strictObject({
  executor: executorType.optional(),
  quality: qualityConfig.optional(),
  cwd: z.string().optional(),
  env: stringMap.optional(),
  agent: agentConfig.optional(),
  priority: z.number().int().min(1).max(10).optional(),
  retries: z.number().int().min(0).max(100).optional(),
  retryDelay: duration.optional(),
  timeout: timeLimit.optional(),
  onDependencyFailure: policy.optional(),
});

const concurrency = z.number().int().min(1).max(1024);

const ruleSchema = z.strictObject({
  type: z.string(),
  priority: z.enum(['high', 'medium', 'low']).optional(),
  condition: z.string(),
  enabled: z.boolean().optional(),
  scope: z.enum(['task', 'project']).optional(),
  autoResolve: z
    .strictObject({ action: z.enum(['continue', 'retry', 'skip', 'cancel']), afterMs: z.number().min(0).optional(), afterFrom: z.string().optional() })
    .nullable()
    .optional(),
  notify: z.enum(['immediate', 'batch', 'none']).optional(),
  message: z.string().optional(),
  expiresAfterMs: z.number().min(0).optional(),
});

const planSchema = z.strictObject({
  name: z.string().optional(),
  /** For `run --watch`: what to watch (relative to the plan file), what to ignore, what is protected. */
  watch: z
    .strictObject({ root: z.string().optional(), ignore: z.array(z.string()).optional(), protected: z.array(z.string()).optional() })
    .optional(),
  breakpoints: z
    .strictObject({
      rules: z.array(ruleSchema).optional(),
      /** Default breakpoint types to switch off for this plan. */
      disable: z.array(z.string()).optional(),
      /** Facts the embedding code supplies (`raiseFromFacts`) that rules may read besides the runtime's. */
      facts: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  defaults: defaultsSchema.optional(),
  concurrency: z.union([concurrency, z.strictObject({ global: concurrency.optional(), perProject: concurrency.optional() })]).optional(),
  projects: z.array(z.strictObject({ id: z.string(), concurrency: concurrency.optional(), tasks: z.array(taskSchema) })).optional(),
  tasks: z.array(taskSchema).optional(),
});

/** The plan without its tasks' shapes: each task is checked on its own, so one bad task hides nothing else. */
const planTopSchema = planSchema.extend({
  projects: z.array(z.strictObject({ id: z.string(), concurrency: concurrency.optional(), tasks: z.array(z.unknown()) })).optional(),
  tasks: z.array(z.unknown()).optional(),
});

export type PlanFile = z.infer<typeof planSchema>;

/** What an executor needs to run a task; stored in the task's metadata so a resume needs no plan. */
export type ExecutorSpec =
  | { type: 'shell'; command: string; cwd: string; env?: Record<string, string> }
  | { type: 'agent'; prompt: string; command: string; args?: string[]; promptVia?: 'stdin' | 'argument'; cwd: string; env?: Record<string, string> }
  | { type: 'function'; name: string };

export interface PlanTaskMetadata {
  executor: ExecutorSpec;
  timeoutMs: number | null;
  /** Where the task came from: `tasks[3]`, `projects[0].tasks[1]`. */
  source: string;
  [key: string]: unknown;
}

export interface Plan {
  name: string;
  /** Where `run --watch` watches (absolute), and how. */
  watch: { root: string; ignore: string[]; protected: string[] };
  tasks: TaskSpec[];
  breakpoints: { rules: RuleDefinition[]; disable: string[]; facts?: string[] };
  concurrency: { global: number; perProject: Record<string, number>; defaultPerProject: number | null };
}

export class PlanError extends Error {
  override name = 'PlanError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n  - ${problems.join('\n  - ')}`);
  }
}

/** zod issues as `path: problem` lines; an unknown key is named in the path. */
/** Reads and checks a plan file. Throws PlanError naming every problem. */
export function loadPlan(file: string): Plan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PlanError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` (line ${error.linePos[0].line})` : '';
    throw new PlanError(file, [`not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}${where}: ${(error as Error).message.split('\n')[0]}`]);
  }
  return checkPlan(raw, file, dirname(resolve(file)));
}

/** Checks a parsed plan; `baseDir` resolves relative `cwd`s. */
export function checkPlan(raw: unknown, file: string, baseDir: string): Plan {
  const problems: string[] = [];
  const top = planTopSchema.safeParse(raw, { reportInput: true });
  if (!top.success) problems.push(...formatIssues(top.error.issues, '', planTopSchema));
  const rawPlan = isPlainObject(raw) ? raw : {};
  const d = (top.success ? top.data.defaults : defaultsSchema.safeParse(rawPlan.defaults).data) ?? {};

  // Every task is checked on its own; dependencies and cycles are checked on every task with an id.
  type Entry = { projectId: string; path: string; raw: unknown; task: z.infer<typeof taskSchema> | null; id: string | null; deps: string[] };
  const entries: Entry[] = [];
  const addTasks = (projectId: string, path: string, list: unknown) => {
    if (!Array.isArray(list)) return;
    list.forEach((t, i) => {
      const tpath = `${path}[${i}]`;
      const parsed = taskSchema.safeParse(t, { reportInput: true });
      if (!parsed.success) problems.push(...formatIssues(parsed.error.issues, tpath, taskSchema));
      const obj = isPlainObject(t) ? t : {};
      const deps = Array.isArray(obj.dependsOn) ? obj.dependsOn.filter((x): x is string => typeof x === 'string') : [];
      entries.push({ projectId, path: tpath, raw: t, task: parsed.success ? parsed.data : null, id: typeof obj.id === 'string' ? obj.id : null, deps });
    });
  };
  addTasks('default', 'tasks', rawPlan.tasks);
  if (Array.isArray(rawPlan.projects)) {
    rawPlan.projects.forEach((p, i) => {
      if (!isPlainObject(p)) return;
      if (typeof p.id === 'string') problems.push(...idProblems(p.id, `projects[${i}].id`));
      addTasks(typeof p.id === 'string' ? p.id : `projects[${i}]`, `projects[${i}].tasks`, p.tasks);
    });
  }
  if (entries.length === 0) problems.push('(top level): the plan has no tasks (add `tasks:` or `projects:`)');

  const where = new Map<string, string>();
  for (const e of entries) {
    if (e.id === null) continue;
    problems.push(...idProblems(e.id, `${e.path}.id`));
    if (where.has(e.id)) problems.push(`${e.path}.id: "${e.id}" is already used by ${where.get(e.id)}`);
    else where.set(e.id, e.path);
  }
  for (const e of entries) {
    e.deps.forEach((dep, j) => {
      if (dep === e.id) problems.push(`${e.path}.dependsOn[${j}]: "${dep}" is the task itself`);
      else if (!where.has(dep)) problems.push(`${e.path}.dependsOn[${j}]: unknown task "${dep}"`);
    });
  }
  // A duplicate id is reported above; its first task's dependencies are the ones checked (a second one must not hide a cycle).
  const depsById = new Map<string, string[]>();
  for (const e of entries) if (e.id !== null && !depsById.has(e.id)) depsById.set(e.id, e.deps.filter((x) => x !== e.id));
  for (const cycle of findCycles([...depsById.keys()], (id) => depsById.get(id) ?? [])) {
    problems.push(`dependency cycle: ${cycle.join(' -> ')} (${cycle.slice(0, -1).map((id) => where.get(id)).join(', ')})`);
  }

  // Tasks whose shape failed still get the checks that do not need the rest of them.
  for (const { task, raw, path } of entries) {
    if (task || !isPlainObject(raw)) continue;
    if (typeof raw.deadline === 'string') {
      const deadline = parseDeadline(raw.deadline, `${path}.deadline`);
      if (typeof deadline === 'string') problems.push(deadline);
    }
    const type = raw.executor ?? d.executor ?? (raw.prompt !== undefined ? 'agent' : raw.function !== undefined ? 'function' : 'shell');
    if (type === 'shell' && raw.command === undefined) problems.push(`${path}.command: a shell task needs a command`);
  }

  const specs: TaskSpec[] = [];
  for (const { task: t, path, projectId } of entries) {
    if (!t) continue;
    if (t.deadline !== undefined) {
      const deadline = parseDeadline(t.deadline, `${path}.deadline`);
      if (typeof deadline === 'string') problems.push(deadline);
    }
    const executor = resolveExecutor(t, d, baseDir, path, problems);
    const timeout = t.timeout === null ? undefined : (t.timeout ?? d.timeout);
    const retryDelay = t.retryDelay ?? d.retryDelay;
    const metadata: PlanTaskMetadata = { executor: executor!, timeoutMs: timeout === undefined ? null : parseDuration(timeout), source: path };
    if (t.milestone) metadata.milestone = true;
    if (t.decision) metadata.decision = t.decision;
    if (t.timeThreshold !== undefined) metadata.timeThresholdMs = parseDuration(t.timeThreshold);
    if (t.onChange?.length) metadata.onChange = t.onChange;
    const quality = t.quality ?? d.quality;
    if (quality) metadata.quality = quality;
    if (t.waitForChange) {
      metadata.waitForChange = true;
      if (!t.onChange?.length) problems.push(`${path}.waitForChange: needs onChange globs to say which changes it waits for`);
    }
    const spec: TaskSpec = {
      id: t.id,
      projectId,
      title: t.title ?? t.id,
      priority: t.priority ?? d.priority ?? 5,
      dependencies: [...new Set(t.dependsOn ?? [])],
      onDependencyFailure: t.onDependencyFailure ?? d.onDependencyFailure ?? 'block',
      metadata: metadata as never,
    };
    if (t.deadline !== undefined) spec.deadline = t.deadline;
    const retries = t.retries ?? d.retries;
    if (retries !== undefined) spec.maxRetries = retries;
    if (retryDelay !== undefined) spec.retryBaseMs = parseDuration(retryDelay)!;
    specs.push(spec);
  }
  const plan = top.success ? top.data : null;
  const rules = (plan?.breakpoints?.rules ?? []) as RuleDefinition[];
  const declaredFacts = plan?.breakpoints?.facts ?? [];
  if (!plan) {
    // Something else in the file is wrong: still name the facts its rules misspell, so that one
    // round of fixes is enough (the rules' other problems are among zod's already).
    const raw = isPlainObject(rawPlan.breakpoints) ? rawPlan.breakpoints : {};
    const declared = Array.isArray(raw.facts) ? raw.facts.filter((f): f is string => typeof f === 'string') : [];
    (Array.isArray(raw.rules) ? raw.rules : []).forEach((rule: unknown, i) => {
      const condition = isPlainObject(rule) ? rule.condition : undefined;
      if (typeof condition !== 'string') return;
      try {
        problems.push(...factProblems(compileExpression(condition).fields, declared, `breakpoints.rules[${i}]`));
      } catch {
        // a condition that does not parse: zod does not say so, checkRule does once the rest is right
      }
    });
  }
  const firstOfType = new Map<string, number>();
  rules.forEach((rule, i) => {
    const checked = checkRule(rule);
    // A plan's rules see only the runtime's facts: a misspelled one would quietly never fire.
    if (Array.isArray(checked)) problems.push(...checked.map((p) => `breakpoints.rules[${i}]${p.slice('rule'.length)}`));
    else problems.push(...factProblems(checked.compiled.fields, declaredFacts, `breakpoints.rules[${i}]`));
    // One rule per type (a rule of a type replaces the one before): two would take turns from one run to the next.
    const first = firstOfType.get(rule.type);
    if (first !== undefined) problems.push(`breakpoints.rules[${i}].type: "${rule.type}" is already the type of breakpoints.rules[${first}]; one rule per type`);
    else firstOfType.set(rule.type, i);
  });
  const knownTypes = new Set<string>([...DEFAULT_BREAKPOINT_TYPES, ...rules.map((r) => r.type)]);
  (plan?.breakpoints?.disable ?? []).forEach((type, i) => {
    if (!knownTypes.has(type)) problems.push(`breakpoints.disable[${i}]: unknown breakpoint type "${type}" (known: ${[...knownTypes].join(', ')})`);
  });
  if (problems.length || !plan) throw new PlanError(file, problems);

  const c = plan.concurrency;
  const perProject: Record<string, number> = {};
  plan.projects?.forEach((p) => {
    if (p.concurrency !== undefined) perProject[p.id] = p.concurrency;
  });
  return {
    name: plan.name ?? file,
    tasks: specs,
    breakpoints: { rules, disable: plan.breakpoints?.disable ?? [], ...(declaredFacts.length ? { facts: declaredFacts } : {}) },
    watch: { root: resolve(baseDir, plan.watch?.root ?? '.'), ignore: plan.watch?.ignore ?? [], protected: plan.watch?.protected ?? [] },
    concurrency: {
      global: typeof c === 'number' ? c : (c?.global ?? 4),
      perProject,
      defaultPerProject: typeof c === 'object' ? (c.perProject ?? null) : null,
    },
  };
}

function resolveExecutor(
  t: z.infer<typeof taskSchema>,
  d: z.infer<typeof defaultsSchema>,
  baseDir: string,
  path: string,
  problems: string[],
): ExecutorSpec | null {
  const type = t.executor ?? d.executor ?? (t.prompt ? 'agent' : t.function ? 'function' : 'shell');
  const cwd = resolve(baseDir, t.cwd ?? d.cwd ?? '.');
  const env = t.env || d.env ? { ...d.env, ...t.env } : undefined;
  const withEnv = <T extends object>(spec: T) => (env ? { ...spec, env } : spec);
  switch (type) {
    case 'shell':
      if (!t.command) return problems.push(`${path}.command: a shell task needs a command`), null;
      return withEnv({ type: 'shell' as const, command: t.command, cwd });
    case 'agent': {
      const agent = t.agent ?? d.agent;
      if (!t.prompt) problems.push(`${path}.prompt: an agent task needs a prompt`);
      if (!agent) problems.push(`${path}.agent: an agent task needs an agent command (here or in defaults.agent)`);
      if (!t.prompt || !agent) return null;
      return withEnv({ type: 'agent' as const, prompt: t.prompt, ...agent, cwd });
    }
    case 'function':
      if (!t.function) return problems.push(`${path}.function: a function task needs the name of a registered executor`), null;
      return { type: 'function', name: t.function };
  }
}
