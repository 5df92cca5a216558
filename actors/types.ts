/**
 * The executor contract: how a task's work is run. An executor is an async function
 * that does the work and resolves with the result (JSON), or throws an
 * `ExecutionError` saying what went wrong and whether a retry can help.
 */
import type { JsonValue } from '../runtime/json.js';
import type { TaskView } from '../runtime/view.js';

export interface ExecutionContext {
  /**
   * Aborted when the task is cancelled or its attempt times out: stop the work. A reason
   * named 'TimeoutError' (as from AbortSignal.timeout()) means a timeout; any other, a cancel.
   */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  /** A line of progress, shown to people and kept with the run. */
  log: (line: string) => void;
  /** The results of the task's dependencies, by task id. */
  dependencyResults: Readonly<Record<string, JsonValue | null>>;
  /** What went wrong in earlier attempts, oldest first (error messages, feedback). */
  feedback: readonly string[];
}

export type Executor = (task: TaskView, context: ExecutionContext) => Promise<JsonValue | void>;

/**
 * Why an attempt failed. The executors here use: 'exit' (non-zero exit), 'spawn' (could not
 * start), 'timeout' / 'cancelled' (the signal aborted), 'rate_limit' (come back later);
 * 'failed' is the default. Other executors may add their own.
 */
export type ExecutionErrorKind = 'failed' | 'exit' | 'spawn' | 'timeout' | 'cancelled' | 'rate_limit' | (string & {});

export interface ExecutionErrorOptions {
  kind?: ExecutionErrorKind;
  retryable?: boolean;
  output?: string;
  /** For 'rate_limit': how long the work asked us to wait before trying again. */
  retryAfterMs?: number;
  /** For process-based work: the exit code, or null when it ended by a signal. */
  exitCode?: number | null;
  cause?: unknown;
}

/** A failed attempt. `kind` separates infrastructure failures (timeout, crash, rate limit) from the work's own. */
export class ExecutionError extends Error {
  override name = 'ExecutionError';
  readonly kind: ExecutionErrorKind;
  readonly retryable: boolean;
  /** The tail of what the work printed, if any. */
  readonly output: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly exitCode: number | null | undefined;
  constructor(message: string, options: ExecutionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = options.kind ?? 'failed';
    this.retryable = options.retryable ?? true;
    this.output = options.output;
    this.retryAfterMs = options.retryAfterMs;
    this.exitCode = options.exitCode;
  }
}

/** How a plan describes a shell task's work. */
export interface ShellSpec {
  /** Run with `/bin/sh -c`, in its own process group. */
  command: string;
  cwd?: string;
  /** Merged over the supervisor's own environment. */
  env?: Record<string, string>;
}

/** How a plan describes an agent task's work. */
export interface AgentSpec {
  /**
   * The prompt template: `{{title}}`, `{{id}}`, `{{dependencies}}`, `{{feedback}}`, `{{attempt}}`,
   * `{{metadata.x}}` (or `{{metadata.x.y}}`). Other braces are left as written; nothing is evaluated.
   */
  prompt: string;
  /** The agent command line tool and its arguments. */
  command: string;
  args?: string[];
  /** How the prompt reaches the agent: on stdin (default) or as the last argument. */
  promptVia?: 'stdin' | 'argument';
  cwd?: string;
  /** Merged over the supervisor's own environment. */
  env?: Record<string, string>;
}
