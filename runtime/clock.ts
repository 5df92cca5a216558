/**
 * Time is injected everywhere. XState's `SimulatedClock` satisfies `Clock`, so tests
 * drive retries and deadlines with `clock.increment(ms)` and never sleep.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
