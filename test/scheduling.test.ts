/**
 * Scheduling: what `scheduleTask(s)` accepts and refuses, how `getNextTask` hands out
 * work, how completion releases dependents, the errors callers program against, the
 * transition history/events, `close()`, and option checks of `createOverseer`.
 * Time comes from a SimulatedClock so every timestamp is exact.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  ClosedError,
  createOverseer,
  DependencyCycleError,
  TaskStateError,
  UnknownTaskError,
  ValidationError,
  type OverseerOptions,
  type TaskSpec,
  type TaskTransitionEvent,
} from '../runtime/index.js';

function setup(options: Omit<OverseerOptions, 'clock'> = {}) {
  const clock = new SimulatedClock();
  clock.set(1_000);
  return { clock, overseer: createOverseer({ clock, ...options }) };
}

/** The error `fn` throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): any {
  try { fn(); } catch (error) { return error; } // prettier-ignore
  throw new Error('expected a throw');
}

/** Casts deliberately malformed input past the type checker, as a JS caller could send it. */
const bad = (value: unknown) => value as TaskSpec;

describe('scheduleTasks refuses bad input, names the problem, and adds nothing', () => {
  // Each case: the batch, and a fragment the single problem must contain.
  const cases: [string, unknown[], string][] = [
    ['an id already scheduled', [{ id: 'existing' }], 'a task "existing" is already scheduled'],
    ['an id repeated within the batch', [{ id: 'n' }, { id: 'n' }], '"n" appears twice in this batch'],
    ['an unknown dependency', [{ id: 'n', dependencies: ['ghost'] }], 'unknown task "ghost"'],
    ['a self-dependency', [{ id: 'n', dependencies: ['n'] }], 'task "n" depends on itself'],
    ['a dependency listed twice', [{ id: 'n', dependencies: ['existing', 'existing'] }], 'task.dependencies[1]: "existing" is listed twice'],
    ['an empty dependency id', [{ id: 'n', dependencies: [' '] }], 'task.dependencies[0]: must not be empty'],
    // A hole in the list: it used to pass the checks and throw from inside the scheduler.
    ['a hole in the dependency list', [{ id: 'n', dependencies: [, 'existing'] }], 'task.dependencies[0]: must be a string, got nothing (undefined)'],
    ['a hole for a task', [, { id: 'n' }], 'tasks[0]: must be an object, got nothing (undefined)'],
    ['a dependency id with a control character', [{ id: 'n', dependencies: ['a\u0007'] }], 'task.dependencies[0]: must not contain control characters'],
    ['an id over 200 characters', [{ id: 'n'.repeat(201) }], 'task.id: longer than 200 characters'],
    ['a project id that is not a string', [{ id: 'n', projectId: 7 }], 'task.projectId: must be a string, got 7'],
    ['priority 0', [{ id: 'n', priority: 0 }], 'priority: must be an integer from 1 to 10, got 0'],
    ['priority 11', [{ id: 'n', priority: 11 }], 'got 11'],
    ['priority 2.5', [{ id: 'n', priority: 2.5 }], 'got 2.5'],
    ['priority "5" (a string)', [{ id: 'n', priority: '5' }], 'got "5"'],
    ['deadline "tomorrow"', [{ id: 'n', deadline: 'tomorrow' }], 'malformed deadline "tomorrow"'],
    ['deadline NaN', [{ id: 'n', deadline: NaN }], 'malformed deadline NaN'],
    ['a deadline past what a Date holds', [{ id: 'n', deadline: 1e20 }], 'malformed deadline 100000000000000000000 (epoch milliseconds must be a finite number from 0 to 8640000000000000'],
    ['an invalid Date deadline', [{ id: 'n', deadline: new Date('nope') }], 'an invalid Date'],
    ['a typo in a field name', [{ id: 'n', prioirty: 3 }], 'prioirty: unknown field'],
    ['a non-object task', [42], 'must be an object, got 42'],
    ['null as a task', [null], 'must be an object, got null'],
  ];

  it.each(cases)('refuses %s', (_, batch, fragment) => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 'existing' });
    const before = overseer.getCounts();
    const error = thrown(() => overseer.scheduleTasks(batch.map(bad)));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain(fragment);
    expect(overseer.getCounts()).toEqual(before);
    // Not even the valid first copy of a duplicated id may slip in.
    expect(overseer.getTaskStatus('n')).toBeNull();
  });

  it('names a dependency listed twice in a long list (checked with a set there)', () => {
    const { overseer } = setup();
    const ids = Array.from({ length: 20 }, (_, i) => `x${i}`);
    overseer.scheduleTasks(ids.map((id) => ({ id })));
    const error = thrown(() => overseer.scheduleTask({ id: 'n', dependencies: [...ids, 'x3', 'x0'] }));
    expect(error.problems).toEqual(['task.dependencies[20]: "x3" is listed twice', 'task.dependencies[21]: "x0" is listed twice']);
    expect(overseer.getTaskStatus('n')).toBeNull();
  });

  it('refuses a non-array batch and a non-object single task', () => {
    const { overseer } = setup();
    expect(thrown(() => overseer.scheduleTasks('a' as never)).problems).toEqual(['tasks: must be an array, got "a"']);
    expect(thrown(() => overseer.scheduleTask(bad('a'))).problems).toEqual(['task: must be an object, got "a"']);
    expect(overseer.getCounts().total).toBe(0);
  });

  it('lists every problem of one call, not just the first', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 'a' });
    const error = thrown(() =>
      overseer.scheduleTasks([
        { id: 'a' },
        bad({ id: 'b', prioirty: 1 }),
        { id: 'c', dependencies: ['ghost'] },
        { id: 'd', dependencies: ['d'] },
        bad({ id: 'e', priority: 11, deadline: 'tomorrow' }),
        bad(7),
        { id: 'ok' }, // valid, but must not be added either: batches are atomic
      ]),
    );
    expect(error).toBeInstanceOf(ValidationError);
    const problems: string[] = error.problems;
    for (const fragment of [
      'tasks[0].id: a task "a" is already scheduled',
      'tasks[1].prioirty: unknown field',
      'tasks[2].dependencies[0]: unknown task "ghost"',
      'tasks[3].dependencies[0]: task "d" depends on itself',
      'tasks[4].priority',
      'tasks[4].deadline: malformed deadline "tomorrow"',
      'tasks[5]: must be an object, got 7',
    ]) {
      expect(problems.some((p) => p.includes(fragment)), fragment).toBe(true);
    }
    expect(problems).toHaveLength(7);
    expect(overseer.getCounts().total).toBe(1);
    expect(overseer.getTaskStatus('ok')).toBeNull();
  });

  it('refuses a cycle within a batch with DependencyCycleError carrying the path', () => {
    const { overseer } = setup();
    const error = thrown(() =>
      overseer.scheduleTasks([
        { id: 'x', dependencies: ['y'] },
        { id: 'y', dependencies: ['x'] },
        { id: 'z', priority: 0 },
      ]),
    );
    expect(error).toBeInstanceOf(DependencyCycleError);
    expect(error).toBeInstanceOf(ValidationError); // callers catching ValidationError see it too
    expect(error.cycle).toEqual(['x', 'y', 'x']);
    // The other problem of the same batch is still reported.
    expect(error.problems).toEqual(['tasks[2].priority: must be an integer from 1 to 10, got 0', 'dependency cycle: x -> y -> x']);
    expect(overseer.getCounts().total).toBe(0);
  });

  // A task with another problem is still part of the cycle check, so one error names everything.
  it('reports a cycle even when a task on it has another problem', () => {
    const { overseer } = setup();
    const error = thrown(() =>
      overseer.scheduleTasks([
        { id: 'x', dependencies: ['y'] },
        { id: 'y', dependencies: ['x'], priority: 11 },
      ]),
    );
    expect(error).toBeInstanceOf(DependencyCycleError);
    expect(error.problems).toHaveLength(2);
  });

  it('accepts forward references in any order and returns views in input order', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 'root' });
    const views = overseer.scheduleTasks([
      { id: 'c', dependencies: ['b', 'root'] },
      { id: 'b', dependencies: ['a'] },
      { id: 'a' },
    ]);
    expect(views.map((v) => v.id)).toEqual(['c', 'b', 'a']);
    expect(views.map((v) => v.state)).toEqual(['pending', 'pending', 'ready']);
    expect(overseer.getTaskStatus('a')!.dependents).toEqual(['b']);
  });
});

describe('getNextTask', () => {
  it('hands out the highest priority first, oldest first among equals, and marks it running', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTasks([{ id: 'low', priority: 2 }, { id: 'old5' }, { id: 'high', priority: 9 }, { id: 'new5' }]);
    clock.increment(500);
    const first = overseer.getNextTask()!;
    expect(first.id).toBe('high');
    expect(first.state).toBe('running');
    expect(first.attempts).toBe(1);
    expect(overseer.getTaskStatus('high')!.state).toBe('running');
    expect([overseer.getNextTask()!.id, overseer.getNextTask()!.id, overseer.getNextTask()!.id]).toEqual(['old5', 'new5', 'low']);
    expect(overseer.getNextTask()).toBeNull();
  });

  it('hands out nothing while paused, and resumes where it left off', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    overseer.pause();
    expect(overseer.getNextTask()).toBeNull();
    expect(overseer.getTaskStatus('t')!.state).toBe('ready'); // pausing does not touch the task
    overseer.resume();
    expect(overseer.getNextTask()!.id).toBe('t');
  });

  it('pauses one project without stopping the others, and can be asked for one project', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'p1-urgent', projectId: 'p1', priority: 10 },
      { id: 'p2-a', projectId: 'p2', priority: 1 },
      { id: 'p2-b', projectId: 'p2', priority: 2 },
    ]);
    // Per project: only that project's tasks, even when another has higher priority.
    expect(overseer.getNextTask('p2')!.id).toBe('p2-b');
    overseer.pause('p1');
    expect(overseer.getNextTask()!.id).toBe('p2-a');
    expect(overseer.getNextTask('p1')).toBeNull();
    overseer.resume('p1');
    expect(overseer.getNextTask('p1')!.id).toBe('p1-urgent');
  });
});

describe('markComplete', () => {
  it('makes a dependent ready only when all of its dependencies are complete', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b' }, { id: 'c', dependencies: ['a', 'b'] }]);
    overseer.getNextTask();
    overseer.getNextTask();
    overseer.markComplete('a', { files: 3 });
    expect(overseer.getTaskStatus('c')!.state).toBe('pending');
    overseer.markComplete('b');
    expect(overseer.getTaskStatus('c')!.state).toBe('ready');
    expect(overseer.getTaskStatus('a')!.result).toEqual({ files: 3 });
  });

  it('refuses an illegal transition with a TaskStateError that explains it, changing nothing', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'c', dependencies: ['a'] }]);
    const historyBefore = overseer.getTaskStatus('c')!.history.length;
    const error = thrown(() => overseer.markComplete('c'));
    expect(error).toBeInstanceOf(TaskStateError);
    expect(error.message).toBe('task "c" is pending and cannot become completed; from pending it can become: ready, blocked, cancelled');
    expect(error).toMatchObject({ taskId: 'c', state: 'pending', requested: 'completed', legal: ['ready', 'blocked', 'cancelled'] });
    expect(overseer.getTaskStatus('c')!.state).toBe('pending');
    expect(overseer.getTaskStatus('c')!.history).toHaveLength(historyBefore);
  });

  it('throws UnknownTaskError for unknown ids and ValidationError for empty ones', () => {
    const { overseer } = setup();
    expect(thrown(() => overseer.markComplete('nope'))).toBeInstanceOf(UnknownTaskError);
    expect(thrown(() => overseer.cancelTask('nope')).taskId).toBe('nope');
    expect(thrown(() => overseer.markComplete(''))).toBeInstanceOf(ValidationError);
    expect(thrown(() => overseer.getTaskStatus(''))).toBeInstanceOf(ValidationError);
    expect(overseer.getTaskStatus('nope')).toBeNull();
  });

  it('stores only JSON results, as a copy', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    overseer.getNextTask();
    class Report {
      lines = 1;
    }
    for (const result of [() => 1, new Report(), { at: new Date(0) }]) {
      expect(thrown(() => overseer.markComplete('t', result as never))).toBeInstanceOf(ValidationError);
      expect(overseer.getTaskStatus('t')!.state).toBe('running');
    }
    const result = { lines: [1, 2] };
    overseer.markComplete('t', result);
    result.lines.push(3); // the caller's object is not the stored one
    expect(overseer.getTaskStatus('t')!.result).toEqual({ lines: [1, 2] });
  });

  // Views hand out the task's own (frozen) objects: a caller that mutates one gets a
  // TypeError instead of silently rewriting the stored task.
  it('refuses mutation through a view and keeps the stored task as it was', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 't', metadata: { tags: ['a'] } });
    overseer.getNextTask();
    const view = overseer.markComplete('t', { lines: [1] });
    expect(() => (view.result as { lines: number[] }).lines.push(2)).toThrow(TypeError);
    expect(() => (view.history as unknown[]).push({ from: 'completed', to: 'ready', at: 0 })).toThrow(TypeError);
    expect(() => ((view.metadata as { tags: string[] }).tags[0] = 'b')).toThrow(TypeError);
    expect(() => (view.dependencies as string[]).push('x')).toThrow(TypeError);
    expect(overseer.getTaskStatus('t')!.result).toEqual({ lines: [1] });
    expect(overseer.getTaskStatus('t')!.history).toHaveLength(4);
    expect(overseer.getTaskStatus('t')!.metadata).toEqual({ tags: ['a'] });
  });

  it('freezes what an array holds beyond its items too (structuredClone keeps such keys)', () => {
    const { overseer } = setup();
    const metadata = Object.assign([1], { extra: { a: 1 } });
    overseer.scheduleTask({ id: 't', metadata: metadata as never });
    const stored = overseer.getTaskStatus('t')!.metadata as unknown as { extra: { a: number } };
    expect(() => (stored.extra.a = 2)).toThrow(TypeError);
    expect(stored.extra.a).toBe(1);
  });
});

describe('history and events', () => {
  it('records every transition with the time of the clock', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    clock.increment(2_000);
    overseer.getNextTask();
    clock.increment(5_000);
    overseer.markComplete('t');
    expect(overseer.getTaskStatus('t')!.history).toEqual([
      { from: null, to: 'pending', at: 1_000 },
      { from: 'pending', to: 'ready', at: 1_000 },
      { from: 'ready', to: 'running', at: 3_000 },
      { from: 'running', to: 'completed', at: 8_000 },
    ]);
  });

  it('emits task.transition with from, to, at and reason', () => {
    const { clock, overseer } = setup();
    const events: TaskTransitionEvent[] = [];
    overseer.on('task.transition', (e) => events.push(e));
    overseer.scheduleTask({ id: 't', projectId: 'p' });
    clock.increment(10);
    overseer.getNextTask();
    overseer.blockTask('t', 'waiting for review');
    expect(events.map(({ from, to, at }) => [from, to, at])).toEqual([
      [null, 'pending', 1_000],
      ['pending', 'ready', 1_000],
      ['ready', 'running', 1_010],
      ['running', 'blocked', 1_010],
    ]);
    expect(events[3]).toMatchObject({ taskId: 't', projectId: 'p', reason: 'waiting for review' });
  });

  it('keeps working when a listener throws, reporting it to onListenerError', () => {
    const reported: [unknown, string][] = [];
    const { overseer } = setup({ onListenerError: (error, type) => reported.push([error, type]) });
    const boom = new Error('listener bug');
    const seen: string[] = [];
    overseer.on('task.transition', () => {
      throw boom;
    });
    overseer.on('task.transition', (e) => seen.push(e.to));
    overseer.scheduleTask({ id: 't' });
    expect(overseer.getNextTask()!.id).toBe('t');
    expect(seen).toEqual(['pending', 'ready', 'running']); // later listeners still called
    expect(reported).toHaveLength(3);
    expect(reported[0]).toEqual([boom, 'task.transition']);
  });
});

describe('close', () => {
  it('refuses every later change with ClosedError, but still answers queries', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b' }]);
    overseer.getNextTask();
    overseer.close();
    for (const change of [
      () => overseer.scheduleTask({ id: 'c' }),
      () => overseer.getNextTask(),
      () => overseer.markComplete('a'),
      () => overseer.cancelTask('b'),
      () => overseer.pause(),
    ]) {
      expect(thrown(change)).toBeInstanceOf(ClosedError);
    }
    expect(overseer.getTaskStatus('a')!.state).toBe('running');
    expect(overseer.getCounts()).toMatchObject({ total: 2, running: 1, ready: 1 });
  });
});

describe('createOverseer options', () => {
  it('names every problem with the options', () => {
    const error = thrown(() =>
      createOverseer({ clok: {}, retry: { baseDelayMs: -1, maxRetries: 1.5, jitter: true } } as never),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.problems).toHaveLength(4);
    const text = error.problems.join('\n');
    expect(text).toContain('options.clok: unknown option');
    expect(text).toContain('options.retry.baseDelayMs: must be a number ≥ 0, got -1');
    expect(text).toContain('options.retry.maxRetries: must be an integer ≥ 0, got 1.5');
    expect(text).toContain('options.retry.jitter: unknown option');
  });
});
