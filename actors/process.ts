/**
 * Child-process plumbing shared by the shell and agent executors: spawn in a fresh process
 * group, keep bounded tails of the output, log lines, and on abort stop the WHOLE tree
 * (SIGTERM to the group, SIGKILL after a grace period), settling only once it is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { ExecutionError } from './types.js';

export interface ProcessLimits {
  /** How long the group gets between SIGTERM and SIGKILL. Default 2000. */
  killGraceMs?: number;
  /** How much of stdout and of stderr is kept (the last bytes). Default 8192. */
  tailBytes?: number;
  /** At most this many output lines go to `ctx.log` per attempt. Default 1000. */
  maxLogLines?: number;
}

export interface ProcessRun {
  file: string;
  args: readonly string[];
  cwd?: string | undefined;
  env?: Record<string, string> | undefined;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | undefined;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Every output line (clipped to MAX_LINE_CHARS), whatever the log cap. */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Names the work in error messages, e.g. "shell command `make`". */
  label: string;
  killGraceMs: number;
  stdoutBytes: number;
  stderrBytes: number;
  maxLogLines: number;
}

export interface ProcessOutcome {
  /** null when the process ended by a signal. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  durationMs: number;
}

export const DEFAULT_KILL_GRACE_MS = 2000;
export const DEFAULT_TAIL_BYTES = 8192;
export const DEFAULT_MAX_LOG_LINES = 1000;
const MAX_LINE_CHARS = 1000;
const POLL_MS = 25;
/** After SIGKILL, how long we still wait for the kernel (a process stuck in D state cannot die). */
const AFTER_KILL_MS = 2000;

/**
 * Runs a process to its end. Resolves with the outcome whatever the exit code (callers
 * decide what failure means); rejects with an ExecutionError of kind 'spawn', 'timeout' or
 * 'cancelled'. Leaves no timers, listeners or streams behind.
 */
export async function runProcess(run: ProcessRun): Promise<ProcessOutcome> {
  if (run.signal.aborted) throw abortError(run.label, run.signal.reason, 'not started', '');
  const started = performance.now();
  const child = await spawnGrouped(run);
  const pgid = child.pid!;
  const stdout = new TailBuffer(run.stdoutBytes);
  const stderr = new TailBuffer(run.stderrBytes);
  const logLine = boundedLog(run);
  const streamsClosed = Promise.all([
    pump(child, 'stdout', stdout, logLine),
    pump(child, 'stderr', stderr, logLine),
  ]);
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode]);
    else child.once('exit', (code, sig) => resolve([code, sig]));
  });

  // Termination state: the first SIGTERM arms the SIGKILL escalation.
  let killTimer: NodeJS.Timeout | undefined;
  let escalated = false;
  let abortedBeforeExit = false;
  const terminate = () => {
    if (killTimer !== undefined || escalated) return;
    signalGroup(pgid, 'SIGTERM');
    killTimer = setTimeout(() => {
      escalated = true;
      signalGroup(pgid, 'SIGKILL');
    }, run.killGraceMs);
  };
  const onAbort = () => {
    abortedBeforeExit = true;
    terminate();
  };
  run.signal.addEventListener('abort', onAbort, { once: true });
  if (run.signal.aborted) onAbort(); // aborted while we were waiting for the spawn

  try {
    const [exitCode, exitSignal] = await exited;
    const aborted = abortedBeforeExit;
    // The leader is gone, but it may have left background jobs or grandchildren in its group.
    // The task owns its group, so they are stopped too: otherwise they would leak and hold
    // our pipes open forever.
    if (groupHasLive(pgid)) {
      terminate();
      const deadline = performance.now() + run.killGraceMs + AFTER_KILL_MS;
      while (groupHasLive(pgid) && performance.now() < deadline) await delay(POLL_MS);
      if (groupHasLive(pgid)) run.log(`[overseer] process group ${pgid} still has live processes after SIGKILL`);
    }
    // Normally the pipes are already at EOF; a process that escaped the group (setsid)
    // could hold them open, so bound the wait and then cut them.
    let drainTimer: NodeJS.Timeout | undefined;
    await Promise.race([streamsClosed, new Promise((resolve) => (drainTimer = setTimeout(resolve, run.killGraceMs)))]);
    clearTimeout(drainTimer);
    const outcome: ProcessOutcome = {
      exitCode,
      exitSignal,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdoutTruncated: stdout.truncated,
      durationMs: Math.round(performance.now() - started),
    };
    if (aborted) {
      const how = escalated ? `killed with SIGKILL after ignoring SIGTERM for ${run.killGraceMs} ms` : 'stopped with SIGTERM';
      throw abortError(run.label, run.signal.reason, how, combinedOutput(outcome));
    }
    return outcome;
  } finally {
    clearTimeout(killTimer);
    run.signal.removeEventListener('abort', onAbort);
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
}

/** The error for a non-zero exit: names the code and quotes the end of the output. */
export function exitError(label: string, outcome: ProcessOutcome): ExecutionError {
  const how = outcome.exitCode !== null ? `exited with code ${outcome.exitCode}` : `was killed by ${outcome.exitSignal}`;
  let message = `${label} ${how}`;
  // The message is what people see first: quote a short tail; `output` keeps the full one.
  if (outcome.stderr.trim()) message += `\n--- stderr (tail) ---\n${clipStart(outcome.stderr.trimEnd(), 2000)}`;
  if (outcome.stdout.trim()) message += `\n--- stdout (tail) ---\n${clipStart(outcome.stdout.trimEnd(), 2000)}`;
  return new ExecutionError(message, { kind: 'exit', retryable: true, output: combinedOutput(outcome), exitCode: outcome.exitCode });
}

/** A timeout is whatever the caller aborted with an error named 'TimeoutError' (AbortSignal.timeout() does so). */
export function isTimeoutReason(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

function abortError(label: string, reason: unknown, how: string, output: string): ExecutionError {
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : '';
  const timeout = isTimeoutReason(reason);
  const what = timeout ? 'timed out' : 'was cancelled';
  return new ExecutionError(`${label} ${what}${why ? ` (${why})` : ''}: ${how}`, {
    kind: timeout ? 'timeout' : 'cancelled',
    retryable: timeout,
    output: output || undefined,
    cause: reason,
  });
}

function spawnGrouped(run: ProcessRun): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(spawnError(run, err));
    let child: ChildProcess;
    try {
      child = spawn(run.file, run.args, {
        cwd: run.cwd,
        env: { ...process.env, ...run.env },
        // Its own process group, so the whole tree can be signalled with kill(-pgid).
        detached: true,
        stdio: [run.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      fail(err as NodeJS.ErrnoException); // bad arguments (e.g. a NUL byte) throw synchronously
      return;
    }
    child.once('error', fail);
    child.once('spawn', () => {
      child.off('error', fail);
      child.on('error', () => {}); // later errors (a failed kill) must not crash the host
      if (run.input !== undefined && child.stdin) {
        child.stdin.on('error', () => {}); // EPIPE when the process exits without reading it all
        child.stdin.end(run.input);
      }
      resolve(child);
    });
  });
}

function spawnError(run: ProcessRun, err: NodeJS.ErrnoException): ExecutionError {
  let detail = `${err.code ?? 'error'}: ${err.message}`;
  // Node reports a missing cwd as ENOENT for the program itself; say what is really missing.
  if (run.cwd !== undefined && !existsSync(run.cwd)) detail = `working directory ${run.cwd} does not exist`;
  else if (err.code === 'ENOENT') detail = `${run.file} was not found`;
  const transient = ['EAGAIN', 'EMFILE', 'ENFILE', 'ENOMEM'].includes(err.code ?? '');
  return new ExecutionError(`${run.label} could not be started: ${detail}`, { kind: 'spawn', retryable: transient, cause: err });
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Whether any process in the group is still running. Zombies do not count: they are dead,
 * only waiting for their parent (for orphans, PID 1, which some containers do lazily) to reap them.
 */
export function groupHasLive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // exited while we looked
      }
      // Fields after "(comm)": state ppid pgrp ...; comm itself may contain spaces and ')'.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
    }
    return false;
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

function pump(child: ChildProcess, name: 'stdout' | 'stderr', tail: TailBuffer, logLine: (s: 'stdout' | 'stderr', l: string) => void): Promise<void> {
  const stream = child[name]!;
  const lines = new LineSplitter((line) => logLine(name, line));
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      lines.push(chunk);
    });
    stream.once('close', () => {
      lines.end();
      resolve();
    });
    stream.on('error', () => {});
  });
}

function boundedLog(run: ProcessRun): (stream: 'stdout' | 'stderr', line: string) => void {
  let logged = 0;
  return (stream, line) => {
    run.onLine?.(stream, line);
    if (logged > run.maxLogLines) return;
    const text = logged++ === run.maxLogLines
      ? `[overseer] output beyond ${run.maxLogLines} lines is not logged; the tail is kept with the result`
      : stream === 'stderr' ? `[stderr] ${line}` : line;
    try {
      run.log(text);
    } catch {
      // A broken logger must not break the supervision of the process.
    }
  };
}

/** Keeps the last `cap` bytes of a stream. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.cap) {
      this.size -= this.chunks.shift()!.length;
      this.truncated = true;
    }
  }
  text(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.cap) {
      buf = buf.subarray(buf.length - this.cap);
      this.truncated = true;
    }
    // Cutting may have split a UTF-8 character: skip its continuation bytes.
    let start = 0;
    while (start < buf.length && start < 4 && (buf[start]! & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  }
}

/** Splits a byte stream into lines, each clipped so one endless line cannot exhaust memory. */
class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private clipped = false;
  constructor(private readonly emit: (line: string) => void) {}
  push(chunk: Buffer): void {
    this.feed(this.decoder.write(chunk));
  }
  end(): void {
    this.feed(this.decoder.end());
    if (this.pending || this.clipped) this.flush();
  }
  private feed(text: string): void {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.append(text.slice(start, nl));
      this.flush();
      start = nl + 1;
    }
    this.append(text.slice(start));
  }
  private append(text: string): void {
    const room = MAX_LINE_CHARS - this.pending.length;
    if (text.length > room) this.clipped = true;
    this.pending += text.slice(0, Math.max(room, 0));
  }
  private flush(): void {
    this.emit(this.pending.replace(/\r$/, '') + (this.clipped ? ' …[line clipped]' : ''));
    this.pending = '';
    this.clipped = false;
  }
}

function combinedOutput(o: Pick<ProcessOutcome, 'stdout' | 'stderr'>): string {
  return o.stderr ? `${o.stdout}${o.stdout && !o.stdout.endsWith('\n') ? '\n' : ''}--- stderr ---\n${o.stderr}` : o.stdout;
}

function clipStart(text: string, max: number): string {
  return text.length > max ? `…${text.slice(text.length - max)}` : text;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
