/**
 * Failure propagation: when a task fails for good or is cancelled, each dependent
 * follows its `onDependencyFailure` policy (block | cancel | ignore). Also the manual
 * blockTask / unblockTask pair, which must respect incomplete and failed dependencies.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createOverseer, TaskStateError, type Overseer } from '../runtime/index.js';

function setup() {
  const clock = new SimulatedClock();
  clock.set(1_000);
  return { clock, overseer: createOverseer({ clock }) };
}

/** Starts `id` (which must be the next task) and fails it for good. */
function failForGood(overseer: Overseer, id: string) {
  expect(overseer.getNextTask()?.id).toBe(id);
  overseer.markFailed(id, { message: `${id} broke`, retryable: false });
}

function complete(overseer: Overseer, id: string) {
  expect(overseer.getNextTask()?.id).toBe(id);
  overseer.markComplete(id);
}

const stateOf = (overseer: Overseer, id: string) => overseer.getTaskStatus(id)!.state;

describe("default policy 'block'", () => {
  it('blocks dependents of a task that failed for good, naming the upstream', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', dependencies: ['a'] }]);
    failForGood(overseer, 'a');
    const b = overseer.getTaskStatus('b')!;
    expect(b.state).toBe('blocked');
    expect(b.blockedReason).toEqual({ reason: 'upstream_failed', upstream: 'a', at: 1_000 });
    expect(overseer.getBlockedTasks().map((t) => t.id)).toEqual(['b']);
  });

  it('blocks dependents of a cancelled task the same way', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    overseer.cancelTask('a');
    expect(overseer.getTaskStatus('b')!.blockedReason).toMatchObject({ reason: 'upstream_failed', upstream: 'a' });
  });

  it('lets blocked dependents run once the upstream is retried by hand and completes', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'a', maxRetries: 0 },
      { id: 'b1', dependencies: ['a'] },
      { id: 'b2', dependencies: ['a'] },
    ]);
    failForGood(overseer, 'a');
    overseer.retryTask('a');
    expect(stateOf(overseer, 'b1')).toBe('blocked'); // retrying is not completing
    complete(overseer, 'a');
    for (const id of ['b1', 'b2']) {
      expect(overseer.getTaskStatus(id)).toMatchObject({ state: 'ready', blockedReason: null });
    }
  });
});

describe("policy 'cancel'", () => {
  it('cancels the dependent and cascades to its own dependents by their policies', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'a', maxRetries: 0 },
      { id: 'b', dependencies: ['a'], onDependencyFailure: 'cancel' },
      { id: 'c-block', dependencies: ['b'] },
      { id: 'c-cancel', dependencies: ['b'], onDependencyFailure: 'cancel' },
      { id: 'd-cancel', dependencies: ['c-cancel'], onDependencyFailure: 'cancel' },
      { id: 'c-ignore', dependencies: ['b'], onDependencyFailure: 'ignore' },
    ]);
    failForGood(overseer, 'a');
    const b = overseer.getTaskStatus('b')!;
    expect(b.state).toBe('cancelled');
    expect(b.history.at(-1)).toMatchObject({ from: 'pending', to: 'cancelled', reason: 'upstream_failed: a' });
    expect(overseer.getTaskStatus('c-block')!.blockedReason).toMatchObject({ reason: 'upstream_failed', upstream: 'b' });
    expect(stateOf(overseer, 'c-cancel')).toBe('cancelled');
    expect(stateOf(overseer, 'd-cancel')).toBe('cancelled');
    expect(stateOf(overseer, 'c-ignore')).toBe('ready');
  });
});

describe("policy 'ignore'", () => {
  it('treats the failed dependency as done and waits only for the others', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'a', maxRetries: 0, priority: 9 },
      { id: 'other' },
      { id: 't', dependencies: ['a', 'other'], onDependencyFailure: 'ignore' },
    ]);
    failForGood(overseer, 'a');
    expect(stateOf(overseer, 't')).toBe('pending');
    complete(overseer, 'other');
    expect(stateOf(overseer, 't')).toBe('ready');
  });

  it('does not count the dependency twice when it is retried and then completes', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'a', maxRetries: 0, priority: 9 },
      { id: 'other', priority: 1 },
      { id: 't', dependencies: ['a', 'other'], onDependencyFailure: 'ignore' },
    ]);
    failForGood(overseer, 'a');
    overseer.retryTask('a');
    complete(overseer, 'a');
    expect(stateOf(overseer, 't')).toBe('pending'); // still waits for 'other'
    complete(overseer, 'other');
    expect(stateOf(overseer, 't')).toBe('ready');
  });

  // Regression: a dependency that failed, was retried by hand and failed for good again
  // was counted twice, releasing the dependent while another dependency was not complete.
  it('a dependency that fails for good twice does not release the dependent early', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'a', maxRetries: 0, priority: 9 },
      { id: 'other', priority: 1 },
      { id: 't', dependencies: ['a', 'other'], onDependencyFailure: 'ignore' },
    ]);
    failForGood(overseer, 'a');
    overseer.retryTask('a');
    failForGood(overseer, 'a');
    expect(stateOf(overseer, 'other')).toBe('ready'); // not complete
    expect(stateOf(overseer, 't')).toBe('pending'); // actually: 'ready'
    complete(overseer, 'other');
    expect(stateOf(overseer, 't')).toBe('ready');
  });
});

describe('scheduling after a dependency is already dead', () => {
  it('applies the new task’s policy at once', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'gone' }, { id: 'broken', maxRetries: 0 }]);
    overseer.cancelTask('gone');
    failForGood(overseer, 'broken');
    overseer.scheduleTasks([
      { id: 'blocks', dependencies: ['gone'] },
      { id: 'cancels', dependencies: ['gone'], onDependencyFailure: 'cancel' },
      { id: 'ignores', dependencies: ['gone'], onDependencyFailure: 'ignore' },
      { id: 'blocks-on-failed', dependencies: ['broken'] },
    ]);
    expect(overseer.getTaskStatus('blocks')!.blockedReason).toMatchObject({ reason: 'upstream_failed', upstream: 'gone' });
    expect(stateOf(overseer, 'cancels')).toBe('cancelled');
    expect(stateOf(overseer, 'ignores')).toBe('ready');
    expect(overseer.getTaskStatus('blocks-on-failed')!.blockedReason).toMatchObject({ upstream: 'broken' });
  });
});

describe('blockTask / unblockTask', () => {
  it('pauses a running task and lets it go back to ready', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    overseer.getNextTask();
    clock.increment(100);
    const blocked = overseer.blockTask('t');
    expect(blocked.state).toBe('blocked');
    expect(blocked.blockedReason).toEqual({ reason: 'paused', at: 1_100 });
    expect(overseer.getNextTask()).toBeNull();
    expect(overseer.unblockTask('t')).toMatchObject({ state: 'ready', blockedReason: null });
    expect(overseer.getNextTask()).toMatchObject({ id: 't', attempts: 2 });
  });

  it('keeps a task whose dependencies are incomplete waiting, then releases it when they complete', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    overseer.blockTask('b', 'needs review');
    const waiting = overseer.unblockTask('b');
    expect(waiting.state).toBe('blocked');
    expect(waiting.blockedReason!.reason).toBe('waiting_for_dependencies');
    complete(overseer, 'a');
    expect(stateOf(overseer, 'b')).toBe('ready');
  });

  it('keeps a person’s block even after the dependencies complete', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    overseer.blockTask('b', 'needs review');
    complete(overseer, 'a');
    expect(overseer.getTaskStatus('b')!.blockedReason!.reason).toBe('needs review');
    expect(overseer.unblockTask('b').state).toBe('ready');
  });

  it('refuses to unblock a task whose dependency failed, naming the dependency', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', dependencies: ['a'] }]);
    failForGood(overseer, 'a');
    let error: unknown;
    try {
      overseer.unblockTask('b');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TaskStateError);
    expect((error as Error).message).toContain('dependency "a" is failed');
    expect(overseer.getTaskStatus('b')!.blockedReason).toMatchObject({ reason: 'upstream_failed', upstream: 'a' });
  });

  // Regression: a blocked task may be marked failed (blocked → failed is legal); its retry
  // used to make it ready — and handed out — although a dependency had failed for good.
  // Now it goes ready → blocked again, with the reason.
  it('a failed-then-retried task does not become ready while its dependencies are incomplete', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', dependencies: ['a'] }]);
    failForGood(overseer, 'a');
    expect(overseer.markFailed('b', 'giving up on it').state).toBe('retrying');
    clock.increment(60_000);
    expect(stateOf(overseer, 'b')).toBe('blocked');
    expect(overseer.getTaskStatus('b')!.blockedReason).toMatchObject({ reason: 'upstream_failed', upstream: 'a' });
    expect(overseer.getNextTask()).toBeNull();
  });

  it('refuses to unblock a task that is not blocked', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    expect(() => overseer.unblockTask('t')).toThrow(TaskStateError);
    expect(stateOf(overseer, 't')).toBe('ready');
  });
});
