/**
 * Every error Overseer throws on purpose. Each names what was wrong, so a caller can
 * show it to a person as it is, and carries the facts as fields for programs.
 */
import type { TaskState } from '../machines/task.js';

export class OverseerError extends Error {
  override name = 'OverseerError';
}

/** Bad input: `problems` lists every one found, not just the first. Nothing was changed. */
export class ValidationError extends OverseerError {
  override name = 'ValidationError';
  readonly problems: readonly string[];
  /** Errors of this kind never succeed on retry. */
  readonly retryable = false;
  constructor(what: string, problems: readonly string[]) {
    super(`${what}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** A transition the task's lifecycle does not allow from its current state. Nothing was changed. */
export class TaskStateError extends OverseerError {
  override name = 'TaskStateError';
  constructor(
    readonly taskId: string,
    readonly state: TaskState,
    readonly requested: TaskState,
    readonly legal: readonly TaskState[],
    detail?: string,
  ) {
    super(
      `task "${taskId}" is ${state} and cannot become ${requested}` +
        (detail ? ` (${detail})` : '') +
        `; from ${state} it can become: ${legal.length ? legal.join(', ') : 'nothing (final state)'}`,
    );
  }
}

export class UnknownTaskError extends OverseerError {
  override name = 'UnknownTaskError';
  constructor(readonly taskId: string) {
    super(`unknown task "${taskId}"`);
  }
}

/**
 * Dependencies that form a cycle. `cycle` is the path, first id repeated at the end
 * (`a -> b -> a`: a depends on b, which depends on a). It is a ValidationError, so
 * `problems` also names anything else wrong with the same input.
 */
export class DependencyCycleError extends ValidationError {
  override name = 'DependencyCycleError';
  constructor(
    readonly cycle: readonly string[],
    problems: readonly string[] = [`dependency cycle: ${cycle.join(' -> ')}`],
    what = 'dependency cycle',
  ) {
    super(what, problems);
  }
}

/** The runtime was closed; it accepts no more calls that change state. */
export class ClosedError extends OverseerError {
  override name = 'ClosedError';
  constructor(what: string) {
    super(`${what}: this overseer is closed`);
  }
}
