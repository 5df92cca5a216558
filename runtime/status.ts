/**
 * A store's state without opening it for writing: what `overseer status` shows, safe
 * to run while another process holds the store.
 */
import { forgiveness } from './backoff.js';
import { TASK_STATES, type TaskState } from '../machines/task.js';
import { readStoreFile } from '../store/json-file.js';
import { replay, type ReplayResult } from './persistence.js';
import { TaskHost } from './task-host.js';
import { breakpointReason, breakpointView, type BreakpointView } from './breakpoint-view.js';
import { isOpenBreakpoint } from '../machines/breakpoint.js';
import { isPlainObject } from './validate.js';
import { answer } from './cli-view.js';
import { rerunOf } from './workspace.js';

export interface StoreStatus {
  store: string;
  counts: Record<TaskState, number> & { total: number };
  projects: Record<string, Record<TaskState, number>>;
  running: { id: string; attempt: number; since: number }[];
  blocked: { id: string; reason: string; upstream?: string; since: number }[];
  failed: { id: string; error: string; kind?: string }[];
  retrying: { id: string; retryAt: number | null; lastError: string | undefined }[];
  /** Ready tasks in the order they would be handed out. */
  nextReady: { id: string; projectId: string; effectivePriority: number }[];
  /** Every breakpoint, oldest first. */
  breakpoints: BreakpointView[];
  /** Projects paused (by a breakpoint or a person), and whether everything is. */
  paused: { all: boolean; projects: string[] };
}

/** Reads a store without its lock, as `overseer status` does; throws what the store says is wrong with it. */
export function readStore(path: string): ReplayResult {
  return replay(readStoreFile(path), new TaskHost(), `${path}.journal`);
}

export function storeStatus(path: string): StoreStatus {
  const { tasks, breakpoints, supervisor } = readStore(path);
  const empty = () => Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  const status: StoreStatus = {
    store: path,
    counts: { ...empty(), total: 0 },
    projects: {},
    running: [],
    blocked: [],
    failed: [],
    retrying: [],
    nextReady: [],
    breakpoints: breakpoints.map((b) => breakpointView(b)),
    paused: { all: supervisor.value === 'paused', projects: supervisor.context.pausedProjects },
  };
  const ready: (StoreStatus['nextReady'][number] & { seq: number })[] = [];
  tasks.forEach((t, seq) => {
    const c = t.context;
    status.counts[t.value]++;
    status.counts.total++;
    (status.projects[c.projectId] ??= empty())[t.value]++;
    const since = c.history[c.history.length - 1]!.at;
    if (t.value === 'running') status.running.push({ id: c.id, attempt: c.attempts, since });
    if (t.value === 'blocked' && c.blockedReason) {
      status.blocked.push({ id: c.id, reason: c.blockedReason.reason, ...(c.blockedReason.upstream ? { upstream: c.blockedReason.upstream } : {}), since });
    }
    if (t.value === 'failed') status.failed.push({ id: c.id, error: c.lastError?.message ?? '', ...(c.lastError?.kind ? { kind: c.lastError.kind } : {}) });
    if (t.value === 'retrying') status.retrying.push({ id: c.id, retryAt: c.retryAt, lastError: c.lastError?.message });
    if (t.value === 'ready') ready.push({ id: c.id, projectId: c.projectId, effectivePriority: t.effective, seq });
  });
  ready.sort((a, b) => b.effectivePriority - a.effectivePriority || a.seq - b.seq);
  status.nextReady = ready.map(({ seq: _, ...r }) => r);
  return status;
}

/** One task as the store holds it: what `overseer status <task>` shows, its output included. */
export interface TaskDetail {
  id: string;
  projectId: string;
  state: TaskState;
  priority: number;
  effectivePriority: number;
  dependencies: string[];
  attempts: number;
  retries: number;
  maxRetries: number;
  retryAt: number | null;
  blockedReason: { reason: string; upstream?: string } | null;
  /** The last failure: its message holds the tails of what a shell step printed. */
  lastError: { message: string; kind?: string } | null;
  /** What the last successful attempt returned (a shell step: its exit code and output tails). */
  result: unknown;
  history: { from: string | null; to: string; at: number; reason?: string; kind?: string }[];
  /** The open breakpoint that holds it, and the result it holds for a person, if any. */
  heldBy: Pick<BreakpointView, 'id' | 'type' | 'state' | 'message' | 'autoResolveAt'> & { why: string | null; heldResult?: unknown } | null;
  /** Its runs again under `run --watch` (`<id>@2`, …), oldest first: the last is the latest. */
  reruns: { id: string; state: TaskState }[];
}

/** The task `id` of the store at `path`, or null when it has none. */
export function taskDetail(path: string, id: string): TaskDetail | null {
  const { tasks, breakpoints } = readStore(path);
  const task = tasks.find((t) => t.context.id === id);
  if (!task) return null;
  const c = task.context;
  const holder = task.value === 'blocked' && c.blockedReason?.breakpoint ? breakpoints.find((b) => b.context.id === c.blockedReason!.breakpoint) : undefined;
  const bp = holder && isOpenBreakpoint(holder.value) ? breakpointView(holder) : null;
  const held = bp && isPlainObject(bp.data) && bp.data.pendingResult !== undefined ? { heldResult: bp.data.pendingResult } : {};
  return {
    id: c.id,
    projectId: c.projectId,
    state: task.value,
    priority: c.priority,
    effectivePriority: task.effective,
    dependencies: [...c.dependencies],
    attempts: c.attempts,
    retries: c.retries,
    maxRetries: c.maxRetries,
    retryAt: c.retryAt,
    blockedReason: c.blockedReason ? { reason: c.blockedReason.reason, ...(c.blockedReason.upstream ? { upstream: c.blockedReason.upstream } : {}) } : null,
    lastError: c.lastError ? { message: c.lastError.message, ...(c.lastError.kind ? { kind: c.lastError.kind } : {}) } : null,
    result: c.result,
    history: c.history.map((h) => ({ from: h.from, to: h.to, at: h.at, ...(h.reason ? { reason: h.reason } : {}), ...(h.kind ? { kind: h.kind } : {}) })),
    heldBy: bp ? { id: bp.id, type: bp.type, state: bp.state, message: bp.message, autoResolveAt: bp.autoResolveAt, why: breakpointReason(bp), ...held } : null,
    reruns: tasks.filter((t) => rerunOf(t.context.metadata) === c.id).map((t) => ({ id: t.context.id, state: t.value })),
  };
}

const HISTORY_LINES = 20;

/** `2 of 3`, and how many of them were forgiven (an interruption, a rate limit waited out), which use none of the budget. */
function retriesText(d: Pick<TaskDetail, 'retries' | 'maxRetries' | 'history'>): string {
  const { forgiven } = forgiveness(d.history, undefined);
  const counted = Math.min(forgiven, d.retries);
  return counted > 0 ? `${d.retries} (${counted} forgiven) of ${d.maxRetries}` : `${d.retries} of ${d.maxRetries}`;
}

/** A task's detail as lines for people (the caller makes them printable); `store`: the `--store` the answering commands need (storeFlag). */
export function taskDetailLines(d: TaskDetail, store = ''): string[] {
  const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 23);
  const lines = [
    `${d.id}  ${d.state}  (project ${d.projectId}, priority ${d.priority}${d.effectivePriority !== d.priority ? ` → ${d.effectivePriority}` : ''}, ` +
      `attempt ${d.attempts}, retries ${retriesText(d)}${d.dependencies.length ? `, after ${d.dependencies.join(', ')}` : ''})`,
  ];
  if (d.retryAt !== null) lines.push(`  retries at ${time(d.retryAt)}`);
  // This is the first run; under --watch the latest is another task.
  if (d.reruns.length) lines.push(`  run again (--watch): ${d.reruns.map((r) => `${r.id} ${r.state}`).join(', ')} — the latest: \`overseer status ${d.reruns.at(-1)!.id}\``);
  if (d.blockedReason) lines.push(`  blocked: ${d.blockedReason.reason}${d.blockedReason.upstream ? ` (${d.blockedReason.upstream})` : ''}`);
  const h = d.heldBy;
  if (h) {
    lines.push(`  held by breakpoint ${h.id} (${h.type}): ${h.message}${h.why ? ` — ${h.why}` : ''}`, `  answer: ${answer(h, store)}`);
    // What a person approves: the attempt's result, kept until then.
    if (h.heldResult !== undefined) lines.push('  held result (approve accepts it; reject --action retry runs the task again):', ...resultLines(h.heldResult));
  }
  // The last transitions (a task re-run by --watch collects many); --json has them all.
  const shown = d.history.slice(-HISTORY_LINES);
  lines.push('  history:');
  if (shown.length < d.history.length) lines.push(`    … ${d.history.length - shown.length} earlier transition(s) (--json has them)`);
  lines.push(...shown.map((h) => `    ${time(h.at)}  ${h.from ?? '(created)'} → ${h.to}${h.reason ? ` — ${h.reason.split('\n')[0]}` : ''}`));
  if (d.lastError) lines.push(`  last error${d.lastError.kind ? ` (${d.lastError.kind})` : ''}:`, ...d.lastError.message.split('\n').map((l) => `    ${l}`));
  if (d.result !== null && d.result !== undefined) lines.push('  result:', ...resultLines(d.result));
  return lines;
}

/** A result as lines: a shell step's output as printed, rather than as JSON with escaped newlines. */
function resultLines(result: unknown): string[] {
  const r = result as Record<string, unknown>;
  const text = (v: unknown): v is string => typeof v === 'string';
  if (typeof r !== 'object' || r === null || Array.isArray(r) || !(text(r.stdout) || text(r.stderr))) return JSON.stringify(result, null, 2).split('\n').map((l) => `    ${l}`);
  const lines: string[] = [];
  const rest = Object.fromEntries(Object.entries(r).filter(([k, v]) => !((k === 'stdout' || k === 'stderr') && text(v))));
  if (Object.keys(rest).length) lines.push(`    ${JSON.stringify(rest)}`);
  for (const name of ['stdout', 'stderr'] as const) {
    const out = r[name];
    if (text(out) && out.trim()) lines.push(`    --- ${name} ---`, ...out.trimEnd().split('\n').map((l) => `    ${l}`));
  }
  return lines;
}
