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
import { markIfExtended, TASK_CONTEXT_KEYS, TASK_STATES, type TaskContext, type TransitionRecord } from '../machines/task.js';
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

const CONTEXT_KEYS = new Set<string>(TASK_CONTEXT_KEYS);
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
  if (history.length === 0) {
    o.hf = history; // none the runtime makes (a task starts with its creation), but kept as it is
    return;
  }
  const h: (string | number)[] = [];
  let hx: EncodedTask['hx'];
  let from: string | null = null;
  let at = 0;
  for (let k = 0; k < history.length; k++) {
    const r = history[k]!;
    // Written whole instead when it does not chain, has more than the codec knows, or a time
    // the difference would not give back exactly (a clock with fractions of a millisecond).
    if (
      r.from !== from || typeof r.at !== 'number' || at + (r.at - at) !== r.at || others(r, RECORD_KEYS) ||
      (r.reason !== undefined && typeof r.reason !== 'string') || (r.kind !== undefined && typeof r.kind !== 'string')
    ) {
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
    if (!known.has(key) && Object.hasOwn(object, key)) {
      // Defined, not assigned: assigning an own "__proto__" key would set the prototype instead.
      Object.defineProperty((out ??= {}), key, { value: (object as Record<string, unknown>)[key], enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

/**
 * The task `raw` encodes. Throws an Error naming the task and every field that is not as
 * the encoder writes it (the caller names the file and the index).
 */
export function decodeTask(raw: unknown): StoredTask {
  if (!isRecord(raw)) throw new Error('not a task record');
  const o = raw as unknown as EncodedTask;
  if (typeof o.i !== 'string') throw new Error('not a task record: no task id');
  const problems = shapeProblems(o);
  if (problems.length > 0) throw new Error(`task "${o.i}": ${problems.join('; ')}`);
  let context = {
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
    history: o.hf ?? decodeHistory(o.h!, o.hx ?? []),
    metadata: o.m ?? null,
  } as TaskContext;
  // Added after the literal, not spread into it: a literal with spreads is built key by key.
  if (o.cf !== undefined) context.changedFiles = o.cf as TaskContext['changedFiles'];
  if (o.x) {
    // Spread (defines keys) not Object.assign (sets them: an own "__proto__" key would set the prototype).
    context = { ...context, ...o.x };
    markIfExtended(context); // the task machine keeps keys it does not know
  }
  const task: StoredTask = { value: o.s as StoredTask['value'], context, effective: o.e ?? o.n, boosts: (o.b ?? []) as StoredTask['boosts'] };
  if (o.pc !== undefined) task.priorityChanges = o.pc.map(([from, to, reasons, at]) => ({ from, to, reasons: reasons as StoredTask['boosts'], at }));
  if (o.ig !== undefined) task.ignored = o.ig;
  return o.X ? Object.assign(task, o.X) : task;
}

/** A JSON object: not null, not an array. */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumber = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const isStrings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
const STATES = new Set<unknown>(TASK_STATES);

/** Every field of `o` that is not what the encoder writes. */
function shapeProblems(o: EncodedTask): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => void (ok || problems.push(what));
  // Runs for every task at every restore: the message is only built for a field that is wrong.
  const optional = (key: keyof EncodedTask, ok: (v: unknown) => boolean, what: string) => {
    const value = o[key];
    if (value !== undefined && !ok(value)) problems.push(`${key} ${what}`);
  };
  check(typeof o.s === 'string', 's (state) is not a string');
  check(typeof o.p === 'string', 'p (project) is not a string');
  check(isNumber(o.n), 'n (priority) is not a number');
  optional('t', (v) => typeof v === 'string', '(title) is not a string');
  optional('d', isStrings, '(dependencies) is not a list of ids');
  optional('f', (v) => typeof v === 'string', '(onDependencyFailure) is not a string');
  for (const key of ['dl', 'mr', 'rb', 'a', 'r', 'ra', 'e'] as const) optional(key, isNumber, 'is not a number');
  optional('b', isStrings, '(boosts) is not a list of reasons');
  optional('ig', isStrings, '(ignored) is not a list of ids');
  optional('cf', Array.isArray, '(changed files) is not a list');
  optional('x', isRecord, 'is not an object');
  optional('X', isRecord, 'is not an object');
  optional('pc', (v) => Array.isArray(v) && v.every((c) => Array.isArray(c) && c.length === 4 && isNumber(c[0]) && isNumber(c[1]) && isStrings(c[2]) && isNumber(c[3])), '(priority changes) is not a list of [from, to, reasons, at]');
  if (o.hf !== undefined) {
    check(Array.isArray(o.hf) && o.hf.every((r) => isRecord(r) && STATES.has(r.to) && typeof r.at === 'number'), 'hf (history) is not a list of { from, to, at }');
  } else {
    const h = o.h as unknown[] | undefined;
    const chained = Array.isArray(h) && h.length >= 2 && h.length % 2 === 0 && h.every((v, k) => (k % 2 === 0 ? STATES.has(v) : isNumber(v)));
    check(chained, 'no history: h is not [state, ms, state, ms, ...]');
    if (chained) {
      optional('hx', (v) => Array.isArray(v) && v.every((n) => Array.isArray(n) && Number.isInteger(n[0]) && n[0] >= 0 && n[0] < h.length / 2 && (n[1] === null || typeof n[1] === 'string') && (n[2] === undefined || typeof n[2] === 'string')), '(history notes) is not a list of [entry, reason, kind?] for entries that exist');
    }
  }
  return problems;
}

function decodeHistory(h: (string | number)[], notes: NonNullable<EncodedTask['hx']>): TransitionRecord[] {
  const history: TransitionRecord[] = new Array(h.length / 2);
  let from: TransitionRecord['from'] = null;
  let at = 0;
  for (let k = 0; k < h.length; k += 2) {
    const to = h[k] as TransitionRecord['to'];
    at += h[k + 1] as number;
    history[k / 2] = { from, to, at };
    from = to;
  }
  for (const [k, reason, kind] of notes) {
    const record = history[k]!;
    if (reason !== null) record.reason = reason;
    if (kind !== undefined) record.kind = kind;
  }
  // Frozen here, as the runtime freezes a history it makes: the restore's deepFreeze then stops at it.
  for (const record of history) Object.freeze(record);
  return Object.freeze(history) as TransitionRecord[];
}
