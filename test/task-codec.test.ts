/**
 * The compact form a snapshot file keeps tasks in (store/task-codec.ts, schema version 3)
 * must give back exactly the task it was given: for the usual tasks (defaults left out,
 * a history that chains) and for any other (odd histories, values that look like
 * defaults, keys the codec does not know).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TASK_STATES, type TaskState } from '../machines/task.js';
import { DEFAULT_RETRY_POLICY } from '../runtime/backoff.js';
import { decodeTask, encodeTask, USUAL } from '../store/task-codec.js';
import type { StoredTask } from '../store/types.js';

const state = fc.constantFrom(...TASK_STATES);
const at = fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 });
const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown); // -0 and the like as JSON has them
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
const word = fc.string({ minLength: 1, maxLength: 8 });

/**
 * A history that chains (`from` = the previous `to`), with a reason or kind here and there,
 * at epoch milliseconds or at fractional times (a custom clock such as performance.now()).
 */
const chained = fc
  .array(fc.record({ to: state, dt: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 1_000, noNaN: true })), reason: fc.option(word, { nil: undefined }), kind: fc.option(word, { nil: undefined }) }), { minLength: 1, maxLength: 6 })
  .chain((steps) =>
    fc.oneof(at, fc.double({ min: 0, max: 1e6, noNaN: true })).map((t0) => {
      let from: TaskState | null = null;
      let t = t0;
      return steps.map(({ to, dt, reason, kind }, i) => {
        t += i === 0 ? 0 : dt;
        const record: Record<string, unknown> = { from, to, at: t };
        if (reason !== undefined) record.reason = reason;
        if (kind !== undefined) record.kind = kind;
        from = to;
        return record;
      });
    }),
  );
/** Any list of records: they need not chain, and may carry keys of their own. */
const loose = fc.array(fc.record({ from: fc.option(state, { nil: null }), to: state, at, note: fc.option(word, { nil: undefined }) }, { requiredKeys: ['from', 'to', 'at'] }), { maxLength: 4 });

const task: fc.Arbitrary<StoredTask> = fc
  .record({
    value: state,
    id: word,
    projectId: word,
    title: fc.option(word, { nil: undefined }),
    priority: fc.integer({ min: 1, max: 10 }),
    dependencies: fc.array(word, { maxLength: 3 }),
    deadline: maybe(at),
    onDependencyFailure: fc.constantFrom('block', 'ignore', 'cancel'),
    maxRetries: fc.oneof(fc.constant(USUAL.maxRetries), fc.integer({ min: 0, max: 9 })),
    retryBaseMs: fc.oneof(fc.constant(USUAL.retryBaseMs), fc.integer({ min: 1, max: 100_000 })),
    metadata: maybe(json),
    attempts: fc.nat(5),
    retries: fc.nat(5),
    lastError: maybe(fc.record({ message: word, kind: word })),
    result: maybe(json),
    retryAt: maybe(at),
    blockedReason: maybe(fc.record({ reason: word, at })),
    history: fc.oneof(chained, loose),
    changedFiles: fc.option(fc.array(fc.record({ path: word, kind: fc.constantFrom('created', 'modified', 'deleted'), at }), { maxLength: 2 }), { nil: undefined }),
    effective: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
    boosts: fc.array(fc.constantFrom('has_dependents', 'deadline', 'retry'), { maxLength: 2 }),
    priorityChanges: fc.option(fc.array(fc.record({ from: fc.integer({ min: 1, max: 20 }), to: fc.integer({ min: 1, max: 20 }), reasons: fc.array(word, { maxLength: 2 }), at }), { maxLength: 3 }), { nil: undefined }),
    ignored: fc.option(fc.array(word, { maxLength: 2 }), { nil: undefined }),
    extraContext: fc.option(fc.dictionary(fc.constantFrom('future', 'later'), json), { nil: undefined }),
    extraTask: fc.option(fc.dictionary(fc.constantFrom('shard', 'owner'), json), { nil: undefined }),
  })
  .map((t) => {
    const context: Record<string, unknown> = {
      id: t.id, projectId: t.projectId, title: t.title ?? t.id, priority: t.priority, dependencies: t.dependencies, deadline: t.deadline,
      onDependencyFailure: t.onDependencyFailure, maxRetries: t.maxRetries, retryBaseMs: t.retryBaseMs, attempts: t.attempts, retries: t.retries,
      lastError: t.lastError, result: t.result, retryAt: t.retryAt, blockedReason: t.blockedReason, history: t.history, metadata: t.metadata,
      ...(t.changedFiles ? { changedFiles: t.changedFiles } : {}),
      ...t.extraContext,
    };
    const stored: Record<string, unknown> = { value: t.value, context, effective: t.effective ?? t.priority, boosts: t.boosts, ...t.extraTask };
    if (t.priorityChanges) stored.priorityChanges = t.priorityChanges;
    if (t.ignored) stored.ignored = t.ignored;
    return JSON.parse(JSON.stringify(stored)) as StoredTask; // as a store holds it: JSON, no undefined
  });

const roundTrip = (t: StoredTask) => decodeTask(JSON.parse(JSON.stringify(encodeTask(t))));

describe('the compact task form', () => {
  it('gives back every task exactly', () => {
    fc.assert(
      fc.property(task, (t) => {
        expect(roundTrip(t)).toEqual(t);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves out what a usual task has by default, and writes a chained history as [to, ms, ...]', () => {
    const usual: StoredTask = {
      value: 'completed',
      context: {
        id: 't1', projectId: 'p', title: 't1', priority: 4, dependencies: [], deadline: null, onDependencyFailure: 'block',
        maxRetries: USUAL.maxRetries, retryBaseMs: USUAL.retryBaseMs, attempts: 1, retries: 0, lastError: null, result: null, retryAt: null, blockedReason: null,
        history: [
          { from: null, to: 'pending', at: 1_000 },
          { from: 'pending', to: 'ready', at: 1_000 },
          { from: 'ready', to: 'running', at: 1_250 },
          { from: 'running', to: 'completed', at: 1_300, reason: 'done' },
        ],
        metadata: null,
      },
      effective: 4,
      boosts: [],
    };
    const encoded = encodeTask(usual);
    expect(encoded).toEqual({ i: 't1', s: 'completed', p: 'p', n: 4, a: 1, h: ['pending', 1_000, 'ready', 0, 'running', 250, 'completed', 50], hx: [[3, 'done']] });
    expect(roundTrip(usual)).toEqual(usual);
    expect(JSON.stringify(encoded).length).toBeLessThan(JSON.stringify(usual).length / 3);
  });

  it('writes whole a history whose times a difference would not give back exactly (fractions of a millisecond)', () => {
    const t: StoredTask = JSON.parse(
      JSON.stringify({
        value: 'ready',
        context: {
          id: 'f', projectId: 'p', title: 'f', priority: 1, dependencies: [], deadline: null, onDependencyFailure: 'block', maxRetries: 3, retryBaseMs: 60_000,
          attempts: 0, retries: 0, lastError: null, result: null, retryAt: null, blockedReason: null, metadata: null,
          // 8.56557007313259 + (383.70391427526164 − 8.56557007313259) is 383.7039142752616 in floating point.
          history: [{ from: null, to: 'pending', at: 8.56557007313259 }, { from: 'pending', to: 'ready', at: 383.70391427526164 }],
        },
        effective: 1,
        boosts: [],
      }),
    );
    expect(encodeTask(t).hf).toBe(t.context.history);
    expect(roundTrip(t)).toEqual(t);
  });

  it('keeps an unknown "__proto__" key of a tampered file as a plain key, never as the prototype', () => {
    const raw = JSON.parse('{"i":"t","s":"pending","p":"p","n":5,"h":["pending",1],"x":{"__proto__":{"polluted":true},"note":"kept"}}');
    const { context } = decodeTask(raw);
    expect(Object.getPrototypeOf(context)).toBe(Object.prototype);
    expect((context as unknown as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.hasOwn(context, '__proto__')).toBe(true);
    expect((context as unknown as { note: string }).note).toBe('kept');
    // And it is written again as it was read.
    const again = JSON.parse(JSON.stringify(encodeTask(decodeTask(raw)))) as { x: Record<string, unknown> };
    expect(Object.hasOwn(again.x, '__proto__')).toBe(true);
    expect(decodeTask(again).context).toEqual(context);
  });

  it("leaves out exactly the runtime's own retry defaults", () => {
    expect(USUAL.maxRetries).toBe(DEFAULT_RETRY_POLICY.maxRetries);
    expect(USUAL.retryBaseMs).toBe(DEFAULT_RETRY_POLICY.baseDelayMs);
  });

  it.each([
    ['not an object', 7, /^not a task record$/],
    ['no id', { s: 'ready', n: 1, p: 'p', h: ['pending', 1] }, /no task id/],
    ['no priority', { i: 'a', s: 'ready', p: 'p', h: ['pending', 1] }, /^task "a": n \(priority\) is not a number$/],
    ['no history', { i: 'a', s: 'ready', p: 'p', n: 1 }, /^task "a": no history: h is not \[state, ms, state, ms, \.\.\.\]$/],
    ['a history with a time that is not a number', { i: 'a', s: 'ready', p: 'p', n: 1, h: ['pending', '5'] }, /task "a": no history/],
    ['a history with a state that is none', { i: 'a', s: 'ready', p: 'p', n: 1, h: [7, 1000] }, /task "a": no history/],
    ['a note for a history entry that is not there', { i: 'a', s: 'ready', p: 'p', n: 1, h: ['pending', 1], hx: [[4, 'x']] }, /hx \(history notes\) is not a list of \[entry, reason, kind\?\] for entries that exist/],
    [
      'several bad fields, every one named',
      { i: 'a', s: 'ready', n: 1, h: ['pending', 1], d: 5, b: 'x', x: 'ab', pc: [5], hf: undefined },
      /^task "a": p \(project\) is not a string; d \(dependencies\) is not a list of ids; b \(boosts\) is not a list of reasons; x is not an object; pc \(priority changes\) is not a list of \[from, to, reasons, at\]$/,
    ],
    ['a whole history that is not a list of records', { i: 'a', s: 'ready', p: 'p', n: 1, hf: 'x' }, /task "a": hf \(history\) is not a list/],
  ])('refuses %s, saying what is wrong', (_, raw, message) => {
    expect(() => decodeTask(raw)).toThrow(message);
  });
});
