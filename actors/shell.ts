/** The shell executor: runs a plan's `command` with /bin/sh and supervises its whole process tree. */
import type { ExecutionContext, Executor, ShellSpec } from './types.js';
import { DEFAULT_KILL_GRACE_MS, DEFAULT_MAX_LOG_LINES, DEFAULT_TAIL_BYTES, exitError, runProcess, type ProcessLimits } from './process.js';

export type ShellOptions = ProcessLimits;

/** What a successful shell task resolves with (its task result). */
export type ShellResult = {
  exitCode: 0;
  /** The last `tailBytes` of stdout. */
  stdout: string;
  /** The last `tailBytes` of stderr. */
  stderr: string;
  durationMs: number;
};

/**
 * Runs the command once. Non-zero exit → ExecutionError 'exit' (retryable); cannot start →
 * 'spawn'; `ctx.signal` aborted → the process group gets SIGTERM, then SIGKILL after
 * `killGraceMs`, and the promise rejects with 'timeout' (reason named 'TimeoutError') or
 * 'cancelled' once the tree is gone. Background jobs left behind by the command are
 * stopped when it exits: the task owns its process group.
 */
export async function runShell(spec: ShellSpec, ctx: Pick<ExecutionContext, 'signal' | 'log'>, options: ShellOptions = {}): Promise<ShellResult> {
  const tailBytes = options.tailBytes ?? DEFAULT_TAIL_BYTES;
  const label = `shell command \`${clip(spec.command, 200)}\``;
  const outcome = await runProcess({
    file: '/bin/sh',
    args: ['-c', spec.command],
    cwd: spec.cwd,
    env: spec.env,
    signal: ctx.signal,
    log: ctx.log,
    label,
    killGraceMs: options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    stdoutBytes: tailBytes,
    stderrBytes: tailBytes,
    maxLogLines: options.maxLogLines ?? DEFAULT_MAX_LOG_LINES,
  });
  if (outcome.exitCode !== 0) throw exitError(label, outcome);
  return { exitCode: 0, stdout: outcome.stdout, stderr: outcome.stderr, durationMs: outcome.durationMs };
}

/** An Executor for one shell spec (the task itself only matters for logs kept elsewhere). */
export function shellExecutor(spec: ShellSpec, options: ShellOptions = {}): Executor {
  return (_task, ctx) => runShell(spec, ctx, options);
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
