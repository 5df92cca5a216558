/**
 * Timers longer than a Node.js timer holds (2^31 − 1 ms, ~24.8 days): a deadline a month
 * away or a task timeout of 600 h must fire when due, not at once (Node fires an overflowing
 * delay after 1 ms), and must not spin.
 */
import { describe, expect, it } from 'vitest';
import { longTimers, MAX_TIMER_MS, type Clock } from '../runtime/clock.js';

/** A base clock like Node's: it refuses (here: throws on) a delay it cannot hold, and runs timers as time is advanced. */
function nodeLike() {
  let now = 0;
  let next = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const asked: number[] = [];
  const base: Clock = {
    now: () => now,
    setTimeout(fn, ms) {
      if (ms > MAX_TIMER_MS) throw new Error(`a delay of ${ms} ms overflows a Node.js timer`);
      asked.push(ms);
      timers.set(next, { at: now + ms, fn });
      return next++;
    },
    clearTimeout: (handle) => void timers.delete(handle as number),
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = until;
  };
  return { base, advance, asked, pending: () => timers.size };
}

const DAY = 86_400_000;

describe('longTimers', () => {
  it('fires a 600-hour timer after 600 hours, in steps a Node.js timer holds', () => {
    const { base, advance, asked } = nodeLike();
    const clock = longTimers(base);
    let fired: number | null = null;
    clock.setTimeout(() => (fired = clock.now()), 600 * 3_600_000);
    advance(24 * DAY);
    expect(fired).toBeNull();
    advance(600 * 3_600_000 - 24 * DAY - 1);
    expect(fired).toBeNull();
    advance(1);
    expect(fired).toBe(600 * 3_600_000);
    expect(Math.max(...asked)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(asked).toHaveLength(2); // one step of the longest delay, then the rest
  });

  it('passes a short delay through as it is', () => {
    const { base, advance, asked } = nodeLike();
    const clock = longTimers(base);
    let fired = false;
    clock.setTimeout(() => (fired = true), 1_500);
    expect(asked).toEqual([1_500]);
    advance(1_500);
    expect(fired).toBe(true);
  });

  it('keeps a timer unref()ed (Node.js: it does not hold the process) at every step', () => {
    let now = 0;
    const timers: { held: boolean; fn: () => void; unref(): void }[] = [];
    const base: Clock = {
      now: () => now,
      setTimeout: (fn) => {
        const timer = { held: true, fn, unref: () => void (timer.held = false) };
        timers.push(timer);
        return timer;
      },
      clearTimeout: () => {},
    };
    const handle = longTimers(base).setTimeout(() => {}, 60 * DAY) as { unref(): unknown; hasRef(): boolean };
    handle.unref();
    expect(handle.hasRef()).toBe(false);
    now = MAX_TIMER_MS;
    timers.at(-1)!.fn(); // the first step ends: the next is armed
    expect(timers.map((t) => t.held)).toEqual([false, false]);
  });

  it('clears a long timer at any step', () => {
    const { base, advance, pending } = nodeLike();
    const clock = longTimers(base);
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 60 * DAY);
    advance(30 * DAY); // past the first step: the second is armed
    clock.clearTimeout(handle);
    expect(pending()).toBe(0);
    advance(60 * DAY);
    expect(fired).toBe(false);
  });
});
