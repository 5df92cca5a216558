/**
 * Time is injected everywhere. XState's `SimulatedClock` satisfies `Clock`, so tests
 * drive retries and deadlines with `clock.increment(ms)` and never sleep.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The longest delay a Node.js timer holds (~24.8 days). A longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A clock's timer for any delay: a delay longer than MAX_TIMER_MS is waited out in steps of
 * at most that, so a deadline a month away, or a task timeout of 600 h, fires when it is due
 * (Node would fire it at once, with a TimeoutOverflowWarning).
 */
export function longTimers(base: Clock): Clock {
  /** A timer of any length; `unref()` (Node.js) holds for every step of it. */
  class Handle {
    current: unknown = undefined;
    private held = true;
    unref(): this {
      this.held = false;
      (this.current as { unref?: () => void } | undefined)?.unref?.();
      return this;
    }
    ref(): this {
      this.held = true;
      (this.current as { ref?: () => void } | undefined)?.ref?.();
      return this;
    }
    hasRef(): boolean {
      return this.held;
    }
  }
  return {
    now: () => base.now(),
    setTimeout(fn, ms) {
      const due = base.now() + ms;
      const handle = new Handle();
      const arm = (left: number) => {
        handle.current = left > MAX_TIMER_MS ? base.setTimeout(() => arm(due - base.now()), MAX_TIMER_MS) : base.setTimeout(fn, Math.max(0, left));
        if (!handle.hasRef()) handle.unref();
      };
      arm(ms);
      return handle;
    },
    clearTimeout: (handle) => base.clearTimeout((handle as Handle | undefined)?.current),
  };
}

export const systemClock: Clock = longTimers({
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});
