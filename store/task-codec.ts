/**
 * How a task is written in a snapshot file (schema version 3).
 *
 * A task at rest as the runtime holds it (`StoredTask`) is ~620 bytes of JSON, most of it
 * repeated keys, nulls and defaults, and a history whose `from` is always the previous
 * `to`. The file keeps the same facts in ~180 bytes: short keys, what equals its default
 * left out, the history as `[to, ms since the previous entry, ...]`. At 100,000 tasks that
 * is 18 MB instead of 62 MB to stringify, write, fsync and parse at every compaction and
 * restore.
 *
 * The encoding is lossless for any task, not just the usual ones: a history that does not
 * chain is written whole (`hf`), and a key this codec does not know (a field added to the
 * task machine later, say) is carried in `x` (context) or `X` (task record). A property
 * test checks `decodeTask(encodeTask(t))` equals `t` for arbitrary tasks.
 */
import type { TaskContext, TransitionRecord } from '../machines/task.js';
import type { StoredTask } from './types.js';

/** Values left out of the file when a task has them: the runtime's default retry policy (runtime/options.ts). */
export const USUAL = { maxRetries: 3, retryBaseMs: 60_000, onDependencyFailure: 'block' } as const;

/** A task as written in the file. */
export interface EncodedTask {
  i: string;
  s: string;
  p: string;
  n: number;
  t?: string;
  d?: string[];
  dl?: number;
  f?: string;
  mr?: number;
  rb?: number;
  m?: unknown;
  a?: number;
  r?: number;
  le?: unknown;
  res?: unknown;
  ra?: number;
  br?: unknown;
  cf?: unknown[];
  /** The history as `[to, at − previous at, ...]` (the first `at` absolute, its `from` null). */
  h?: (string | number)[];
  /** Reasons and kinds of history entries: `[index, reason | null, kind?]`. */
  hx?: [number, string | null, string?][];
  /** The history as stored, when it cannot be chained. */
  hf?: TransitionRecord[];
  e?: number;
  b?: string[];
  pc?: [number, number, string[], number][];
  ig?: string[];
  x?: Record<string, unknown>;
  X?: Record<string, unknown>;
}

const CONTEXT_KEYS = new Set<string>([
  'id', 'projectId', 'title', 'priority', 'dependencies', 'deadline', 'onDependencyFailure', 'maxRetries', 'retryBaseMs',
  'attempts', 'retries', 'lastError', 'result', 'retryAt', 'blockedReason', 'history', 'metadata', 'changedFiles',
]);
const TASK_KEYS = new Set<string>(['value', 'context', 'effective', 'boosts', 'priorityChanges', 'ignored']);
const RECORD_KEYS = new Set<string>(['from', 'to', 'at', 'reason', 'kind']);

export function encodeTask(task: StoredTask): EncodedTask {
  const c = task.context;
  const o: EncodedTask = { i: c.id, s: task.value, p: c.projectId, n: c.priority };
  if (c.title !== c.id) o.t = c.title;
  if (c.dependencies.length > 0) o.d = c.dependencies;
  if (c.deadline !== null) o.dl = c.deadline;
  if (c.onDependencyFailure !== USUAL.onDependencyFailure) o.f = c.onDependencyFailure;
  if (c.maxRetries !== USUAL.maxRetries) o.mr = c.maxRetries;
  if (c.retryBaseMs !== USUAL.retryBaseMs) o.rb = c.retryBaseMs;
  if (c.metadata !== null) o.m = c.metadata;
  if (c.attempts !== 0) o.a = c.attempts;
  if (c.retries !== 0) o.r = c.retries;
  if (c.lastError !== null) o.le = c.lastError;
  if (c.result !== null) o.res = c.result;
  if (c.retryAt !== null) o.ra = c.retryAt;
  if (c.blockedReason !== null) o.br = c.blockedReason;
  if (c.changedFiles !== undefined) o.cf = c.changedFiles;
  encodeHistory(c.history, o);
  if (task.effective !== c.priority) o.e = task.effective;
  if (task.boosts.length > 0) o.b = task.boosts;
  if (task.priorityChanges !== undefined) o.pc = task.priorityChanges.map((p) => [p.from, p.to, p.reasons, p.at]);
  if (task.ignored !== undefined) o.ig = task.ignored;
  const x = others(c, CONTEXT_KEYS);
  if (x) o.x = x;
  const X = others(task, TASK_KEYS);
  if (X) o.X = X;
  return o;
}

function encodeHistory(history: TransitionRecord[], o: EncodedTask): void {
  const h: (string | number)[] = [];
  let hx: EncodedTask['hx'];
  let from: string | null = null;
  let at = 0;
  for (let k = 0; k < history.length; k++) {
    const r = history[k]!;
    if (r.from !== from || !Number.isFinite(r.at) || others(r, RECORD_KEYS) || (r.reason !== undefined && typeof r.reason !== 'string') || (r.kind !== undefined && typeof r.kind !== 'string')) {
      o.hf = history;
      return;
    }
    h.push(r.to, r.at - at);
    if (r.reason !== undefined || r.kind !== undefined) (hx ??= []).push(r.kind === undefined ? [k, r.reason ?? null] : [k, r.reason ?? null, r.kind]);
    from = r.to;
    at = r.at;
  }
  o.h = h;
  if (hx) o.hx = hx;
}

/** The keys of `object` that `known` does not list, or null. */
function others(object: object, known: ReadonlySet<string>): Record<string, unknown> | null {
  let out: Record<string, unknown> | null = null;
  // for…in, not Object.keys: no array per call (this runs for every history entry). Own keys only.
  for (const key in object) {
    if (!known.has(key) && Object.hasOwn(object, key)) (out ??= {})[key] = (object as Record<string, unknown>)[key];
  }
  return out;
}

/**
 * The task `raw` encodes. Throws an Error saying what is wrong when `raw` is not an
 * encoded task (the caller names the file and the index).
 */
export function decodeTask(raw: unknown): StoredTask {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a task record');
  const o = raw as EncodedTask;
  if (typeof o.i !== 'string') throw new Error('no task id');
  if (typeof o.n !== 'number') throw new Error(`task "${o.i}": no priority`);
  const context = {
    id: o.i,
    projectId: o.p,
    title: o.t ?? o.i,
    priority: o.n,
    dependencies: o.d ?? [],
    deadline: o.dl ?? null,
    onDependencyFailure: o.f ?? USUAL.onDependencyFailure,
    maxRetries: o.mr ?? USUAL.maxRetries,
    retryBaseMs: o.rb ?? USUAL.retryBaseMs,
    attempts: o.a ?? 0,
    retries: o.r ?? 0,
    lastError: o.le ?? null,
    result: o.res ?? null,
    retryAt: o.ra ?? null,
    blockedReason: o.br ?? null,
    history: o.hf ?? decodeHistory(o),
    metadata: o.m ?? null,
    ...(o.cf !== undefined ? { changedFiles: o.cf } : {}),
    ...o.x,
  } as TaskContext;
  const task: StoredTask = { value: o.s as StoredTask['value'], context, effective: o.e ?? o.n, boosts: (o.b ?? []) as StoredTask['boosts'] };
  if (o.pc !== undefined) {
    if (!Array.isArray(o.pc)) throw new Error(`task "${o.i}": priority changes are not a list`);
    task.priorityChanges = o.pc.map(([from, to, reasons, at]) => ({ from, to, reasons: reasons as StoredTask['boosts'], at }));
  }
  if (o.ig !== undefined) task.ignored = o.ig;
  return o.X ? Object.assign(task, o.X) : task;
}

function decodeHistory(o: EncodedTask): TransitionRecord[] {
  const h = o.h;
  if (!Array.isArray(h) || h.length % 2 !== 0) throw new Error(`task "${o.i}": no history`);
  const history: TransitionRecord[] = new Array(h.length / 2);
  let from: TransitionRecord['from'] = null;
  let at = 0;
  for (let k = 0; k < h.length; k += 2) {
    const to = h[k] as TransitionRecord['to'];
    at += h[k + 1] as number;
    history[k / 2] = { from, to, at };
    from = to;
  }
  for (const [k, reason, kind] of o.hx ?? []) {
    const record = history[k];
    if (!record) throw new Error(`task "${o.i}": a note for history entry ${k}, which does not exist`);
    if (reason !== null) record.reason = reason;
    if (kind !== undefined) record.kind = kind;
  }
  return history;
}
