/**
 * The agent executor: renders the task's prompt and hands it to a coding-agent CLI
 * (argv array, no shell), supervised like a shell task (process group, bounded output, tree kill).
 *
 * Rate-limit convention: an agent (or a wrapper around one) that is throttled prints a line
 *   RATE_LIMIT retry-after=<seconds>
 * on stderr and exits. The attempt then fails with kind 'rate_limit', retryable, with
 * `retryAfterMs` set, so the scheduler can wait that long instead of burning a retry.
 *
 * Confidence convention: an agent that can say how sure it is of its work prints a line
 *   CONFIDENCE <0..1>
 * on stderr (the last one counts). The result then carries `confidence`: below 0.6 the
 * `confidence_too_low` rule holds the task, with its result, for a person (for a task with
 * quality settings, the judge weighs it: see runtime/judge.ts).
 */
import type { JsonValue } from '../runtime/json.js';
import type { TaskView } from '../runtime/view.js';
import { DEFAULT_KILL_GRACE_MS, DEFAULT_MAX_LOG_LINES, DEFAULT_TAIL_BYTES, exitError, runProcess, type ProcessLimits } from './process.js';
import { ExecutionError, type AgentSpec, type ExecutionContext, type Executor } from './types.js';

export interface AgentOptions extends ProcessLimits {
  /** How much of stdout (the response) is kept: the last bytes. Default 1 MiB. */
  maxResponseBytes?: number;
}

/** What a successful agent task resolves with (its task result). */
export type AgentResult = {
  /** The agent's stdout, trimmed. */
  response: string;
  /** The last `tailBytes` of stderr. */
  stderr: string;
  exitCode: 0;
  durationMs: number;
  /** What the agent said of its own work (a `CONFIDENCE <0..1>` line on stderr), when it did. */
  confidence?: number;
};

export const RATE_LIMIT_LINE = /^RATE_LIMIT retry-after=(\d+(?:\.\d+)?)\s*$/;
/** A number from 0 to 1 (a line with anything else is ordinary output). */
export const CONFIDENCE_LINE = /^CONFIDENCE (0(?:\.\d+)?|1(?:\.0+)?|\.\d+)\s*$/;

/** The parts of a task and its attempt that a prompt can mention. */
export type PromptTask = Pick<TaskView, 'id' | 'title' | 'dependencies' | 'metadata'>;
export type PromptContext = Pick<ExecutionContext, 'attempt' | 'dependencyResults' | 'feedback'>;

export const FEEDBACK_HEADING = 'Feedback from earlier attempts:';

/**
 * Only these names are placeholders; anything else in braces (`{{constructor}}`, `${...}`)
 * is left as written. Values are looked up, never evaluated, and inserted in one pass, so a
 * value that itself contains `{{feedback}}` or `$&` stays literal.
 */
const PLACEHOLDER = /\{\{\s*(id|title|attempt|dependencies|feedback|metadata(?:\.[\w$-]+)+)\s*\}\}/g;

export function renderPrompt(template: string, task: PromptTask, ctx: PromptContext): string {
  const feedback = formatFeedback(ctx.feedback);
  let usedFeedback = false;
  const text = template.replace(PLACEHOLDER, (_match, name: string) => {
    switch (name) {
      case 'id': return task.id;
      case 'title': return task.title;
      case 'attempt': return String(ctx.attempt);
      case 'dependencies': return formatDependencies(task, ctx.dependencyResults);
      case 'feedback':
        usedFeedback = true;
        return feedback;
      default: return formatValue(lookup(task.metadata, name.split('.').slice(1)));
    }
  });
  // A retried agent must see why the last attempt failed, even if the template forgot to ask.
  if (feedback && !usedFeedback) return `${text.trimEnd()}\n\n${FEEDBACK_HEADING}\n${feedback}\n`;
  return text;
}

/** Runs the agent once with the rendered prompt. Errors as in runShell, plus 'rate_limit'. */
export async function runAgent(spec: AgentSpec, task: PromptTask, ctx: ExecutionContext, options: AgentOptions = {}): Promise<AgentResult> {
  const prompt = renderPrompt(spec.prompt, task, ctx);
  const viaArgument = spec.promptVia === 'argument';
  let retryAfterMs: number | undefined;
  let confidence: number | undefined;
  const label = `agent \`${spec.command}\` (task ${task.id}, attempt ${ctx.attempt})`;
  const outcome = await runProcess({
    file: spec.command,
    args: viaArgument ? [...(spec.args ?? []), prompt] : (spec.args ?? []),
    input: viaArgument ? undefined : prompt,
    cwd: spec.cwd,
    env: spec.env,
    signal: ctx.signal,
    log: ctx.log,
    // Watch every stderr line, not just the kept tail: a chatty agent could push it out.
    onLine: (stream, line) => {
      if (stream !== 'stderr') return;
      const limited = RATE_LIMIT_LINE.exec(line);
      if (limited) retryAfterMs = Math.round(Number(limited[1]) * 1000);
      const sure = CONFIDENCE_LINE.exec(line);
      if (sure) confidence = Number(sure[1]);
    },
    label,
    killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    stdoutBytes: options.maxResponseBytes ?? 1024 * 1024,
    stderrBytes: options.tailBytes ?? DEFAULT_TAIL_BYTES,
    maxLogLines: options.maxLogLines ?? DEFAULT_MAX_LOG_LINES,
  });
  if (retryAfterMs !== undefined) {
    throw new ExecutionError(`${label} is rate limited: retry after ${retryAfterMs} ms`, {
      kind: 'rate_limit', retryable: true, retryAfterMs, exitCode: outcome.exitCode, output: outcome.stderr || undefined,
    });
  }
  if (outcome.exitCode !== 0) throw exitError(label, outcome);
  if (outcome.stdoutTruncated) ctx.log(`[overseer] the response was longer than the kept ${options.maxResponseBytes ?? 1024 * 1024} bytes; its start was dropped`);
  const result: AgentResult = { response: outcome.stdout.trim(), stderr: outcome.stderr, exitCode: 0, durationMs: outcome.durationMs };
  if (confidence !== undefined) result.confidence = confidence;
  return result;
}

export function agentExecutor(spec: AgentSpec, options: AgentOptions = {}): Executor {
  return (task, ctx) => runAgent(spec, task, ctx, options);
}

function formatFeedback(feedback: readonly string[]): string {
  // Continuation lines are indented under their number so multi-line errors stay readable.
  return feedback.map((f, i) => `${i + 1}. ${f.trim().split('\n').join('\n   ')}`).join('\n');
}

/**
 * Characters of one dependency's result in a prompt: an agent's whole response can be a
 * megabyte, and a prompt passed as an argument fails to start past the system's limit (E2BIG).
 */
export const DEPENDENCY_RESULT_CHARS = 4_000;

function formatDependencies(task: PromptTask, results: PromptContext['dependencyResults']): string {
  const ids = [...new Set([...task.dependencies, ...Object.keys(results)])];
  if (ids.length === 0) return '(none)';
  return ids.map((id) => {
    const result = Object.hasOwn(results, id) ? results[id] : null;
    if (result === null || result === undefined) return `- ${id}: (no result)`;
    const json = JSON.stringify(result);
    // The end is kept: an agent's conclusion, a command's last lines.
    return `- ${id}: ${json.length > DEPENDENCY_RESULT_CHARS ? `…(${json.length - DEPENDENCY_RESULT_CHARS} earlier characters left out) ${json.slice(-DEPENDENCY_RESULT_CHARS)}` : json}`;
  }).join('\n');
}

/** Own properties of plain JSON only: `metadata.constructor` or `metadata.__proto__` find nothing. */
function lookup(value: JsonValue | null, path: readonly string[]): JsonValue | undefined {
  let current: JsonValue | undefined = value ?? undefined;
  for (const key of path) {
    if (current === null || current === undefined || typeof current !== 'object' || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

function formatValue(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
