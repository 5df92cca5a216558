/** What the process-level tests share: an awaitable execution context, and "is that process gone?". */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { ExecutionError, type ExecutionContext } from '../../actors/types.js';

/** A context whose log can be awaited for a line, so tests act when the process is ready instead of sleeping. */
export function recordingContext(fields: Partial<ExecutionContext> = {}) {
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const ctx: ExecutionContext = {
    signal: new AbortController().signal,
    attempt: 1,
    dependencyResults: {},
    feedback: [],
    log: (line) => {
      lines.push(line);
      for (const w of waiters) if (w.pattern.test(line)) w.resolve(line);
    },
    ...fields,
  };
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) resolve(seen);
      else waiters.push({ pattern, resolve });
    });
  return { ctx, lines, waitFor };
}

/**
 * Whether a process still runs. A zombie does not: orphaned grandchildren are reparented to
 * PID 1, which in some containers (this one included) reaps them late or never, yet
 * kill(pid, 0) still succeeds on them.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc (not Linux): trust kill(pid, 0)
  }
}

export const isGone = (pid: number) => !alive(pid);

/** The ExecutionError a promise rejects with (fails the test if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<ExecutionError> {
  const err = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ExecutionError);
  return err as ExecutionError;
}
