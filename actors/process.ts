/**
 * Child-process plumbing shared by the shell and agent executors: spawn in a fresh process
 * group, keep bounded tails of the output, log lines, and on abort stop the WHOLE tree
 * (SIGTERM to the group, SIGKILL after a grace period), settling only once it is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
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

export interface ProcessRun extends Required<Omit<ProcessLimits, 'tailBytes'>> {
  file: string;
  args: readonly string[];
  cwd?: string | undefined;
  /** Merged over process.env. */
  env?: Record<string, string> | undefined;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | undefined;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Sees every output line (clipped to 1000 chars), whatever the log cap. */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Names the work in error messages, e.g. "shell command `make`". */
  label: string;
  stdoutBytes: number;
  stderrBytes: number;
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

/** The process group of every run whose group may still have processes (this process's work), with the run that owns it. */
const liveGroups = new Map<number, object>();

/** Told when a run's process group starts, and when it is gone (the CLI keeps a list beside its store: runtime/orphans.ts). */
export interface ProcessGroupObserver {
  started(pgid: number, label: string): void;
  ended(pgid: number): void;
}

let observer: ProcessGroupObserver | null = null;

/** Sets (or, with null, clears) the one observer of process groups. */
export function observeProcessGroups(next: ProcessGroupObserver | null): void {
  observer = next;
}

/**
 * SIGKILLs the process group of every run still going, at once: for a host that must exit
 * without waiting (the CLI's second Ctrl-C, or an exit it did not plan), so that no task's
 * processes outlive it and go on running unsupervised while a restart runs the task again.
 * Returns how many groups it signalled. The runs themselves settle as killed, if the host lives on.
 */
export function killRunningProcessGroups(): number {
  for (const pgid of liveGroups.keys()) signalGroup(pgid, 'SIGKILL');
  return liveGroups.size;
}

/**
 * Runs a process to its end. Resolves with the outcome whatever the exit code (callers
 * decide what failure means); rejects with an ExecutionError of kind 'spawn', 'timeout' or
 * 'cancelled'. Leaves no timers, listeners or streams behind.
 */
export async function runProcess(run: ProcessRun): Promise<ProcessOutcome> {
  if (run.signal.aborted) throw abortError(run.label, run.signal.reason, 'not started', { stdout: '', stderr: '' });
  const started = performance.now();
  const child = await spawnGrouped(run);
  const pgid = child.pid!;
  const owner = {};
  liveGroups.set(pgid, owner);
  observer?.started(pgid, run.label);
  // Only while the group may live: once it is gone its id can be reused, by a stranger or another run.
  const forgetGroup = () => {
    if (liveGroups.get(pgid) !== owner) return;
    liveGroups.delete(pgid);
    observer?.ended(pgid);
  };
  const stdout = new TailBuffer(run.stdoutBytes);
  const stderr = new TailBuffer(run.stderrBytes);
  const logLine = boundedLog(run);
  const streamsClosed = Promise.all([
    pump(child.stdout!, stdout, (line) => logLine('stdout', line)),
    pump(child.stderr!, stderr, (line) => logLine('stderr', line)),
  ]);
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode]);
    else child.once('exit', (code, sig) => resolve([code, sig]));
  });

  // The first SIGTERM arms the SIGKILL escalation.
  let killTimer: NodeJS.Timeout | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  let escalated = false;
  let aborted = false;
  const terminate = () => {
    if (killTimer !== undefined) return;
    signalGroup(pgid, 'SIGTERM');
    killTimer = setTimeout(() => ((escalated = true), signalGroup(pgid, 'SIGKILL')), run.killGraceMs);
  };
  const onAbort = () => ((aborted = true), terminate());
  run.signal.addEventListener('abort', onAbort, { once: true });
  if (run.signal.aborted) onAbort(); // aborted while we were waiting for the spawn

  try {
    const [exitCode, exitSignal] = await exited;
    const abortedBeforeExit = aborted; // an abort after the exit does not undo the work
    // The leader is gone, but background jobs or grandchildren may live on in its group. The
    // task owns its group: they are stopped too, or they would leak and hold our pipes open.
    if (groupHasLive(pgid)) {
      if (!abortedBeforeExit) run.log(`[overseer] stopping processes left running in group ${pgid}`);
      terminate();
      const deadline = performance.now() + run.killGraceMs + AFTER_KILL_MS;
      while (groupHasLive(pgid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (!groupHasLive(pgid)) forgetGroup();
    // The pipes are normally at EOF by now; one inherited by a process that left the group
    // (setsid) could stay open, so bound the wait and cut them afterwards.
    await Promise.race([streamsClosed, new Promise((r) => (drainTimer = setTimeout(r, run.killGraceMs)))]);
    const outcome: ProcessOutcome = {
      exitCode, exitSignal, stdout: stdout.text(), stderr: stderr.text(), stdoutTruncated: stdout.truncated,
      durationMs: Math.round(performance.now() - started),
    };
    if (!abortedBeforeExit) return outcome;
    const how = escalated ? `killed with SIGKILL after ignoring SIGTERM for ${run.killGraceMs} ms` : 'stopped with SIGTERM';
    throw abortError(run.label, run.signal.reason, how, outcome);
  } finally {
    forgetGroup();
    clearTimeout(killTimer);
    clearTimeout(drainTimer);
    run.signal.removeEventListener('abort', onAbort);
    for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
  }
}

/** The error for a non-zero exit: names the code and quotes the end of the output. */
export function exitError(label: string, outcome: ProcessOutcome): ExecutionError {
  const how = outcome.exitCode !== null ? `exited with code ${outcome.exitCode}` : `was killed by ${outcome.exitSignal}`;
  return new ExecutionError(withTails(`${label} ${how}`, outcome), { kind: 'exit', retryable: true, output: combinedOutput(outcome), exitCode: outcome.exitCode });
}

/** The message is what people see first: it quotes a short tail of each stream; `output` keeps the whole one. */
function withTails(message: string, outcome: Pick<ProcessOutcome, 'stdout' | 'stderr'>): string {
  if (outcome.stderr.trim()) message += `\n--- stderr (tail) ---\n${clipStart(outcome.stderr.trimEnd(), 2000)}`;
  if (outcome.stdout.trim()) message += `\n--- stdout (tail) ---\n${clipStart(outcome.stdout.trimEnd(), 2000)}`;
  return message;
}

/** A timeout is an abort whose reason is named 'TimeoutError' (as AbortSignal.timeout() makes). */
export function isTimeoutReason(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

function abortError(label: string, reason: unknown, how: string, outcome: Pick<ProcessOutcome, 'stdout' | 'stderr'>): ExecutionError {
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : '';
  const timeout = isTimeoutReason(reason);
  // What a hung step printed before it was stopped is often why it hung: quoted as for an exit.
  return new ExecutionError(withTails(`${label} ${timeout ? 'timed out' : 'was cancelled'}${why ? ` (${why})` : ''}: ${how}`, outcome), {
    kind: timeout ? 'timeout' : 'cancelled', retryable: timeout, output: combinedOutput(outcome) || undefined, cause: reason,
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
        detached: true, // its own process group, so the whole tree can be signalled with kill(-pgid)
        stdio: [run.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      return fail(err as NodeJS.ErrnoException); // bad arguments (a NUL byte, say) throw synchronously
    }
    child.once('error', fail);
    child.once('spawn', () => {
      child.off('error', fail);
      child.on('error', () => {}); // later errors must not crash the host
      child.stdin?.on('error', () => {}); // EPIPE when the process exits without reading it all
      child.stdin?.end(run.input);
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
 * Whether any process in the group still runs. Zombies do not count: they are dead, only
 * waiting to be reaped (orphans by PID 1, which some containers do lazily, every second or two).
 */
export function groupHasLive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
  return entries.some((pid) => {
    try {
      // Fields after "(comm)" are: state ppid pgrp ...; comm itself may contain spaces and ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pgid && state !== 'Z' && state !== 'X';
    } catch {
      return false; // exited while we looked
    }
  });
}

/** Reads a stream to its end, keeping its tail and handing out its lines, each clipped so an endless line cannot exhaust memory. */
function pump(stream: Readable, tail: TailBuffer, emit: (line: string) => void): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let clipped = false;
  const flush = () => {
    emit(pending.replace(/\r$/, '') + (clipped ? ' …[line clipped]' : ''));
    pending = '';
    clipped = false;
  };
  const append = (text: string) => {
    clipped ||= pending.length + text.length > MAX_LINE_CHARS;
    pending += text.slice(0, Math.max(MAX_LINE_CHARS - pending.length, 0));
  };
  const feed = (text: string) => {
    const parts = text.split('\n');
    for (const part of parts.slice(0, -1)) append(part), flush();
    append(parts[parts.length - 1]!);
  };
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => (tail.push(chunk), feed(decoder.write(chunk))));
    stream.on('error', () => {});
    stream.once('close', () => {
      feed(decoder.end());
      if (pending || clipped) flush();
      resolve();
    });
  });
}

/** Every line goes to onLine; the first maxLogLines go to the log, then one notice. */
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
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.cap) this.size -= this.chunks.shift()!.length;
    this.truncated ||= this.size > this.cap;
  }
  text(): string {
    const buf = Buffer.concat(this.chunks);
    let start = Math.max(buf.length - this.cap, 0);
    // Cutting may have split a UTF-8 character: skip its continuation bytes.
    while (start > 0 && start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  }
}

function combinedOutput(o: Pick<ProcessOutcome, 'stdout' | 'stderr'>): string {
  return o.stderr ? `${o.stdout}${o.stdout && !o.stdout.endsWith('\n') ? '\n' : ''}--- stderr ---\n${o.stderr}` : o.stdout;
}

function clipStart(text: string, max: number): string {
  return text.length > max ? `…${text.slice(text.length - max)}` : text;
}
