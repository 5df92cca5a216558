/**
 * An optional stage that asks a language model served with Ollama's API for a verdict:
 * POST {url}/api/generate with { model, prompt, stream: false, format: 'json' }; the reply's
 * `response` field must be JSON `{ "score": 0..1, "issues": [...] }` (a server that puts the
 * verdict at the top level is accepted too). Off unless configured.
 *
 * A model is an opinion, not a measurement, and a server can be down: when the call fails,
 * times out or answers something unreadable, the stage reports a warning and is skipped
 * (it does not count in the score) rather than failing the work or throwing. Only the
 * caller's own cancel is let through.
 */
import { isPlainObject } from '../validate.js';
import { clip } from './text.js';
import type { Severity, Validator, ValidatorInput, ValidatorOutcome } from './types.js';

export interface LlmValidatorOptions {
  /** The server's base URL, e.g. http://127.0.0.1:11434. */
  url: string;
  model: string;
  /** Per request. Default 60,000. */
  timeoutMs?: number;
  /** Default 0.2. */
  weight?: number;
  /** Default `llm`. */
  name?: string;
  /** How much of the response and of each file goes into the prompt. Default 4,000 / 6,000 characters. */
  maxResponseChars?: number;
  maxFileChars?: number;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
}

export const LLM_WEIGHT = 0.2;
export const DEFAULT_LLM_TIMEOUT_MS = 60_000;
const MAX_ISSUES = 50;
const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

type Found = ValidatorOutcome['issues'][number];

export function llmValidator(options: LlmValidatorOptions): Validator {
  const timeoutMs = options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS;
  const endpoint = `${options.url.replace(/\/+$/, '')}/api/generate`;
  const doFetch = options.fetch ?? fetch;
  return {
    name: options.name ?? 'llm',
    weight: options.weight ?? LLM_WEIGHT,
    async validate(input) {
      const unavailable = (why: string): ValidatorOutcome => ({
        score: 1,
        skipped: true,
        issues: [{ severity: 'warning', code: 'llm-unavailable', message: `the model's review is missing: ${why}` }],
        details: { endpoint, model: options.model },
      });
      const signal = AbortSignal.any([input.signal, AbortSignal.timeout(timeoutMs)]);
      let body: string;
      try {
        const res = await doFetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: options.model, prompt: buildPrompt(input, options), stream: false, format: 'json' }),
          signal,
        });
        body = await res.text();
        if (!res.ok) return unavailable(`${endpoint} answered HTTP ${res.status}: ${clip(body, 200)}`);
      } catch (err) {
        if (input.signal.aborted) throw err;
        const timeout = (err as Error).name === 'TimeoutError' || signal.reason?.name === 'TimeoutError';
        return unavailable(timeout ? `${endpoint} did not answer within ${timeoutMs} ms` : `${endpoint} could not be reached (${(err as Error).message})`);
      }
      const verdict = parseVerdict(body);
      if (typeof verdict === 'string') return unavailable(verdict);
      return { score: verdict.score, issues: verdict.issues, details: { endpoint, model: options.model, summary: verdict.summary } };
    },
  };
}

/** Reads the server's reply; a string says what was wrong with it. */
export function parseVerdict(body: string): { score: number; issues: Found[]; summary: string } | string {
  let outer: unknown;
  try {
    outer = JSON.parse(body);
  } catch {
    return `the server's reply is not JSON: ${clip(JSON.stringify(body), 120)}`;
  }
  let verdict: unknown = outer;
  if (isPlainObject(outer) && typeof outer.response === 'string') {
    try {
      verdict = JSON.parse(outer.response);
    } catch {
      return `the model's answer is not JSON: ${clip(JSON.stringify(outer.response), 120)}`;
    }
  }
  if (!isPlainObject(verdict)) return 'the model answered without an object';
  const { score } = verdict;
  if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) {
    return `the model's score must be a number from 0 to 1, got ${clip(JSON.stringify(score) ?? 'nothing', 40)}`;
  }
  const issues: Found[] = [];
  for (const item of Array.isArray(verdict.issues) ? verdict.issues.slice(0, MAX_ISSUES) : []) {
    if (typeof item === 'string' && item.trim()) issues.push({ severity: 'warning', code: 'llm', message: clip(item.trim(), 500) });
    else if (isPlainObject(item) && typeof item.message === 'string') {
      const issue: Found = {
        severity: SEVERITIES.includes(item.severity as Severity) ? (item.severity as Severity) : 'warning',
        code: 'llm',
        message: clip(item.message, 500),
      };
      if (typeof item.file === 'string') issue.file = item.file;
      if (typeof item.line === 'number' && Number.isInteger(item.line) && item.line > 0) issue.line = item.line;
      issues.push(issue);
    }
  }
  return { score, issues, summary: typeof verdict.summary === 'string' ? clip(verdict.summary, 1000) : '' };
}

function buildPrompt(input: ValidatorInput, options: LlmValidatorOptions): string {
  const { task, output, files } = input;
  const parts = [
    'You review the work of a coding agent. Judge whether it does what the task asks, correctly and cleanly.',
    'Answer ONLY with JSON: {"score": <0..1>, "summary": "<one sentence>", "issues": [{"severity": "error"|"warning"|"info", "message": "...", "file": "...", "line": <n>}]}',
    `Task: ${task.title}`,
  ];
  if (task.acceptanceCriteria?.length) parts.push(`Acceptance criteria:\n${task.acceptanceCriteria.map((c) => `- ${c}`).join('\n')}`);
  if (output.response) parts.push(`The agent's reply:\n${clip(output.response, options.maxResponseChars ?? 4000)}`);
  for (const f of files) {
    parts.push(f.content === null ? `File ${f.path} (${f.kind}; not shown: ${f.unreadable})` : `File ${f.path} (${f.kind}):\n${clip(f.content, options.maxFileChars ?? 6000)}`);
  }
  return parts.join('\n\n');
}
