/**
 * Retries: exponential backoff driven by the injected clock, per-runtime and per-task
 * overrides, failures that must never be retried, manual retries, and cancelling a
 * task that waits for a retry. Plus the pure `backoffDelay` / `classifyFailure`.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  backoffDelay,
  classifyFailure,
  createOverseer,
  INTERRUPTIONS_FORGIVEN,
  RATE_LIMITS_FORGIVEN,
  shouldRetry,
  TaskStateError,
  ValidationError,
  type FailureInput,
  type Overseer,
  type OverseerOptions,
  type TaskTransitionEvent,
} from '../runtime/index.js';

const T0 = 1_000_000;

function setup(options: Omit<OverseerOptions, 'clock'> = {}) {
  const clock = new SimulatedClock();
  clock.set(T0);
  return { clock, overseer: createOverseer({ clock, ...options }) };
}

/** Starts `id` (it must be the next task) and fails it. */
function runAndFail(overseer: Overseer, id: string, error: FailureInput = 'flaky network') {
  expect(overseer.getNextTask()?.id).toBe(id);
  return overseer.markFailed(id, error);
}

/** Fails `id`, then checks it stays retrying until exactly `delay` ms later. */
function expectBackoff(clock: SimulatedClock, overseer: Overseer, id: string, delay: number) {
  const failedAt = clock.now();
  const view = runAndFail(overseer, id);
  expect(view.state).toBe('retrying');
  expect(view.retryAt).toBe(failedAt + delay);
  clock.increment(delay - 1);
  expect(overseer.getTaskStatus(id)!.state).toBe('retrying');
  clock.increment(1);
  expect(overseer.getTaskStatus(id)!.state).toBe('ready');
  expect(overseer.getTaskStatus(id)!.retryAt).toBeNull();
}

describe('automatic retries with the default policy (base 60 s, 3 retries)', () => {
  it('waits 60 s, 120 s, 240 s, then fails for good on the fourth failure', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    expectBackoff(clock, overseer, 't', 60_000);
    expectBackoff(clock, overseer, 't', 120_000);
    expectBackoff(clock, overseer, 't', 240_000);

    const final = runAndFail(overseer, 't', 'still broken');
    expect(final).toMatchObject({ state: 'failed', retries: 3, attempts: 4, retryAt: null });
    expect(final.lastError).toMatchObject({ message: 'still broken', retryable: true, at: clock.now() });
    // Failed for good means no timer is left to bring it back.
    clock.increment(10 * 3_600_000);
    expect(overseer.getTaskStatus('t')!.state).toBe('failed');
    expect(overseer.getReadyTasks()).toEqual([]);
  });

  it('records the automatic retries in the history with their reason', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    runAndFail(overseer, 't', 'timeout');
    clock.increment(60_000);
    expect(overseer.getTaskStatus('t')!.history.slice(-3)).toEqual([
      { from: 'running', to: 'failed', at: T0, reason: 'timeout' },
      { from: 'failed', to: 'retrying', at: T0, reason: 'retry policy' },
      { from: 'retrying', to: 'ready', at: T0 + 60_000 },
    ]);
  });
});

describe('overriding the policy', () => {
  it('uses the runtime retry option for every task', () => {
    const { clock, overseer } = setup({ retry: { baseDelayMs: 1_000, maxRetries: 1 } });
    overseer.scheduleTask({ id: 't' });
    expectBackoff(clock, overseer, 't', 1_000);
    expect(runAndFail(overseer, 't')).toMatchObject({ state: 'failed', retries: 1, attempts: 2 });
  });

  it('caps the delay at the runtime maxDelayMs', () => {
    const { clock, overseer } = setup({ retry: { baseDelayMs: 1_000, maxDelayMs: 1_500, maxRetries: 3 } });
    overseer.scheduleTask({ id: 't' });
    expectBackoff(clock, overseer, 't', 1_000);
    expectBackoff(clock, overseer, 't', 1_500);
    expectBackoff(clock, overseer, 't', 1_500);
  });

  it('lets a task override maxRetries and retryBaseMs', () => {
    const { clock, overseer } = setup({ retry: { baseDelayMs: 1_000, maxRetries: 5 } });
    overseer.scheduleTasks([
      { id: 'once', retryBaseMs: 500, maxRetries: 1 },
      { id: 'never', maxRetries: 0 },
    ]);
    expectBackoff(clock, overseer, 'once', 500);
    // 'once' was retried, so its effective priority dropped below 'never': 'never' runs next.
    expect(runAndFail(overseer, 'never')).toMatchObject({ state: 'failed', retries: 0, maxRetries: 0 });
    expect(runAndFail(overseer, 'once')).toMatchObject({ state: 'failed', retries: 1, maxRetries: 1 });
  });
});

describe('failures a retry cannot fix', () => {
  const namedValidation = Object.assign(new Error('schema mismatch'), { name: 'ValidationError' });
  const cases: [string, FailureInput, string | undefined][] = [
    ['retryable: false', { message: 'quota exhausted', retryable: false }, undefined],
    ["kind 'validation'", { message: 'bad input', kind: 'validation' }, 'validation'],
    ["kind 'auth'", { message: 'token revoked', kind: 'auth' }, 'auth'],
    ['an Error named ValidationError', namedValidation, 'validation'],
    ["Overseer's own ValidationError", new ValidationError('step', ['x: bad']), 'validation'],
  ];

  it.each(cases)('fails at once for %s', (_, error, kind) => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    const view = runAndFail(overseer, 't', error);
    expect(view).toMatchObject({ state: 'failed', retries: 0, retryAt: null });
    expect(view.lastError!.retryable).toBe(false);
    expect(view.lastError!.kind).toBe(kind);
    clock.increment(3_600_000);
    expect(overseer.getTaskStatus('t')!.state).toBe('failed');
  });

  it('still retries a plain message, an ordinary Error and other kinds', () => {
    const { overseer } = setup();
    const errors: FailureInput[] = ['boom', new Error('ECONNRESET'), { message: 'slow', kind: 'timeout' }];
    errors.forEach((error, i) => {
      overseer.scheduleTask({ id: `t${i}` });
      expect(runAndFail(overseer, `t${i}`, error).state).toBe('retrying');
    });
  });

  it('refuses a malformed failure without changing the task', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    overseer.getNextTask();
    for (const error of ['', { message: 'x', retryable: 'no' }, 42]) {
      expect(() => overseer.markFailed('t', error as never)).toThrow(ValidationError);
    }
    expect(overseer.getTaskStatus('t')!.state).toBe('running');
  });
});

describe('manual retryTask', () => {
  function failedForGood() {
    const setupResult = setup();
    setupResult.overseer.scheduleTask({ id: 't', maxRetries: 0 });
    runAndFail(setupResult.overseer, 't');
    return setupResult;
  }

  it('brings a failed task back to ready at once by default', () => {
    const { overseer } = failedForGood();
    const view = overseer.retryTask('t');
    expect(view.state).toBe('ready');
    expect(view.retries).toBe(1);
    expect(view.history.slice(-2).map((h) => [h.from, h.to, h.reason])).toEqual([
      ['failed', 'retrying', 'manual retry'],
      ['retrying', 'ready', undefined],
    ]);
    expect(overseer.getNextTask()).toMatchObject({ id: 't', attempts: 2 });
  });

  it('waits options.delayMs before the task is ready again', () => {
    const { clock, overseer } = failedForGood();
    expect(overseer.retryTask('t', { delayMs: 5_000 })).toMatchObject({ state: 'retrying', retryAt: T0 + 5_000 });
    clock.increment(4_999);
    expect(overseer.getNextTask()).toBeNull();
    clock.increment(1);
    expect(overseer.getNextTask()!.id).toBe('t');
  });

  it('refuses tasks that have not failed, and bad delays', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 'r' });
    expect(() => overseer.retryTask('r')).toThrow(TaskStateError);
    expect(overseer.getTaskStatus('r')!.state).toBe('ready');
    const { overseer: o2 } = failedForGood();
    expect(() => o2.retryTask('t', { delayMs: -1 })).toThrow(ValidationError);
    expect(o2.getTaskStatus('t')!.state).toBe('failed');
  });
});

describe('cancelling a task that waits for its retry', () => {
  it('stops the retry timer: the task stays cancelled however far the clock moves', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't' });
    runAndFail(overseer, 't');
    const cancelled = overseer.cancelTask('t', 'no longer needed');
    expect(cancelled).toMatchObject({ state: 'cancelled', retryAt: null });

    const later: TaskTransitionEvent[] = [];
    overseer.on('task.transition', (e) => later.push(e));
    clock.increment(60_000);
    clock.increment(24 * 3_600_000);
    expect(later).toEqual([]);
    expect(overseer.getTaskStatus('t')!.state).toBe('cancelled');
    expect(overseer.getNextTask()).toBeNull();
  });
});

describe('backoffDelay (pure)', () => {
  it('doubles from the base for each retry so far', () => {
    expect([0, 1, 2].map((n) => backoffDelay(n, 60_000))).toEqual([60_000, 120_000, 240_000]);
    expect(backoffDelay(3, 500)).toBe(4_000);
  });

  it('never exceeds maxDelayMs (default 1 hour)', () => {
    expect(backoffDelay(3, 1_000, 5_000)).toBe(5_000);
    expect(backoffDelay(2, 1_000, 5_000)).toBe(4_000);
    expect(backoffDelay(10, 60_000)).toBe(3_600_000);
    expect(backoffDelay(2_000, 60_000)).toBe(3_600_000); // 2^2000 is Infinity: still capped
  });
});

describe('classifyFailure and shouldRetry (pure)', () => {
  it('reads failures the way users write them', () => {
    expect(classifyFailure('boom')).toEqual({ message: 'boom', retryable: true });
    expect(classifyFailure(new Error('net'))).toEqual({ message: 'net', retryable: true });
    expect(classifyFailure({ message: 'm', retryable: false })).toEqual({ message: 'm', retryable: false });
    expect(classifyFailure({ message: 'm', kind: 'validation' })).toEqual({ message: 'm', retryable: false, kind: 'validation' });
    expect(classifyFailure({ message: 'm', kind: 'auth' })).toEqual({ message: 'm', retryable: false, kind: 'auth' });
    expect(classifyFailure({ message: 'm', kind: 'timeout' })).toEqual({ message: 'm', retryable: true, kind: 'timeout' });
    // retryable: false wins over a retryable kind; a non-retryable kind wins over retryable: true.
    expect(classifyFailure({ message: 'm', kind: 'timeout', retryable: false }).retryable).toBe(false);
    expect(classifyFailure({ message: 'm', kind: 'auth', retryable: true }).retryable).toBe(false);
    const authError = Object.assign(new Error('401'), { name: 'AuthenticationError' });
    expect(classifyFailure(authError)).toEqual({ message: '401', retryable: false, kind: 'auth' });
  });

  it('retries only retryable failures with retries left', () => {
    const retryable = { message: 'm', retryable: true };
    expect(shouldRetry(retryable, 2, 3)).toBe(true);
    expect(shouldRetry(retryable, 3, 3)).toBe(false);
    expect(shouldRetry({ message: 'm', retryable: false }, 0, 3)).toBe(false);
  });
});

describe('retry-after', () => {
  it('waits at least what a rate limit asked for, even when the backoff is shorter', () => {
    const clock = new SimulatedClock();
    clock.set(1_000);
    const overseer = createOverseer({ clock, retry: { baseDelayMs: 1_000 } });
    overseer.scheduleTask({ id: 'api' });
    overseer.getNextTask();
    const view = overseer.markFailed('api', { message: 'rate limited', kind: 'rate_limit', retryAfterMs: 30_000 });
    expect(view).toMatchObject({ state: 'retrying', retryAt: 31_000 });
    expect(view.lastError).not.toHaveProperty('retryAfterMs');
    clock.increment(29_999);
    expect(overseer.getTaskStatus('api')!.state).toBe('retrying');
    clock.increment(1);
    expect(overseer.getTaskStatus('api')!.state).toBe('ready');
  });
});

describe('interruptions (the process or its worker stopped under the attempt)', () => {
  const interrupted = { message: 'the process stopped', kind: 'interrupted' };

  it('use none of the retries and add no backoff, up to INTERRUPTIONS_FORGIVEN', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't', maxRetries: 1, retryBaseMs: 1_000 });
    for (let i = 0; i < INTERRUPTIONS_FORGIVEN; i++) {
      expect(runAndFail(overseer, 't', i % 2 ? interrupted : { ...interrupted, kind: 'worker_lost' }).state).toBe('ready'); // retried at once
    }
    // Its one retry is still there, with the first backoff, not the sixth.
    expectBackoff(clock, overseer, 't', 1_000);
    expect(runAndFail(overseer, 't').state).toBe('failed');
  });

  it('cost the task no priority: the penalty of a retried task is for retries the work caused', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't', priority: 5, retryBaseMs: 1_000 });
    expect(runAndFail(overseer, 't', interrupted)).toMatchObject({ state: 'ready', effectivePriority: 5 });
    clock.increment(1);
    runAndFail(overseer, 't'); // a failure of its own: retried, one lower
    clock.increment(1_000);
    expect(overseer.getTaskStatus('t')).toMatchObject({ state: 'ready', effectivePriority: 4 });
  });

  it('beyond that, count as failures: a task that keeps bringing its process down does not loop for ever', () => {
    const { overseer } = setup();
    overseer.scheduleTask({ id: 't', maxRetries: 0 });
    for (let i = 0; i < INTERRUPTIONS_FORGIVEN; i++) expect(runAndFail(overseer, 't', interrupted).state).toBe('ready');
    expect(runAndFail(overseer, 't', interrupted)).toMatchObject({ state: 'failed', lastError: { kind: 'interrupted' } });
  });
});

describe('rate limits (the agent was throttled, actors/agent.ts)', () => {
  const throttled = { message: 'rate limited: retry after 2000 ms', kind: 'rate_limit', retryAfterMs: 2_000 };

  it('wait out their retry-after and use none of the retries, up to RATE_LIMITS_FORGIVEN', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't', maxRetries: 1, retryBaseMs: 1_000 });
    for (let i = 0; i < RATE_LIMITS_FORGIVEN; i++) {
      const failedAt = clock.now();
      expect(runAndFail(overseer, 't', throttled)).toMatchObject({ state: 'retrying', retryAt: failedAt + 2_000 });
      clock.increment(2_000);
    }
    // Its one retry is still there, with the first backoff, not the eleventh.
    expectBackoff(clock, overseer, 't', 1_000);
    expect(runAndFail(overseer, 't').state).toBe('failed');
  });

  it('beyond that, count as failures: an agent that is always throttled does not wait for ever', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't', maxRetries: 0 });
    for (let i = 0; i < RATE_LIMITS_FORGIVEN; i++) {
      expect(runAndFail(overseer, 't', throttled).state).toBe('retrying');
      clock.increment(2_000);
    }
    expect(runAndFail(overseer, 't', throttled)).toMatchObject({ state: 'failed', lastError: { kind: 'rate_limit' } });
  });
});
