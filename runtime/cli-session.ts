/**
 * What the commands share: input checks, opening a store (and refusing a locked, corrupt or
 * newer one with exit 2), reading plans, running a plan with a reporter and Ctrl-C handling,
 * and sending a command to the process that holds a store.
 */
import { existsSync, realpathSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { BullmqDispatch } from '../actors/bullmq-dispatch.js';
import { killRunningProcessGroups, observeProcessGroups } from '../actors/process.js';
import { ProcessRegistry, reapOrphans, type Reaped } from './orphans.js';
import { INTERRUPTIONS_FORGIVEN } from './backoff.js';
import { planDrift } from './plan-drift.js';
import { StoreCorruptError, StoreLockedError, StoreVersionError } from '../store/errors.js';
import { jsonFileStore } from '../store/json-file.js';
import type { Store } from '../store/types.js';
import { storeErrorMessage } from './cli-store.js';
import { jsonReporter, liveReporter, plainReporter, printable, storeFlag, type Reporter } from './cli-view.js';
import { applyCommand, sendCommand, serveInbox, type ControlCommand } from './control.js';
import { createOverseer, type Overseer } from './overseer.js';
import type { TaskView } from './view.js';
import { loadPlan, parseDuration, PlanError, type Plan } from './plan.js';
import { Runner, type RunnerOptions } from './runner.js';
import { readStore } from './status.js';
import { rerunOf, WAITING_FOR_CHANGE, WorkspaceMonitor } from './workspace.js';

export const EXIT = { ok: 0, failed: 1, badInput: 2, waiting: 3, interrupted: 130 } as const;
export const DEFAULT_STORE = '.overseer/state.json';

export interface Io {
  out: NodeJS.WriteStream | NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** Input problems end the command with exit 2 and the message. */
export class BadInput extends Error {}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
}

/** The store each CLI runtime was opened on. */
const storeOf = new WeakMap<Overseer, Store>();

/**
 * Output that follows the journal: lines are printed at the end of the synchronous stretch
 * that made them (a microtask), right after the store has handed that stretch's records to the
 * OS, so a line a person or a program has read about a transition survives a kill of this
 * process (the journal otherwise writes at the end of the event-loop turn). Never earlier: an
 * API call journals several records (a completion, then its dependents becoming ready), and a
 * write between them would let a kill keep the first without the rest.
 */
export function afterJournal(out: NodeJS.WritableStream, store: Store | undefined): NodeJS.WritableStream {
  if (!store?.writeOut) return out;
  let pending: string[] = [];
  const print = () => {
    const lines = pending;
    pending = [];
    store.writeOut!();
    for (const line of lines) out.write(line);
  };
  return Object.assign(Object.create(out) as NodeJS.WritableStream, {
    write: (chunk: string) => {
      if (pending.length === 0) queueMicrotask(print);
      pending.push(chunk);
      return true;
    },
  });
}

/** With a dispatcher (BullMQ), attempts that were running stay running: the runner re-attaches to them. */
export function openStore(path: string, io: Io, dispatch: BullmqDispatch | null = null): Overseer {
  try {
    const store = jsonFileStore(resolve(path));
    const overseer = createOverseer({ store, ...(dispatch ? { onRestoreRunning: 'keep' as const } : {}) });
    storeOf.set(overseer, store);
    for (const w of overseer.recovery?.warnings ?? []) io.err.write(`overseer: ${w.message}\n`);
    const interrupted = overseer.recovery?.interrupted ?? [];
    if (interrupted.length) io.err.write(`overseer: ${interrupted.length} attempt(s) were interrupted and are queued again (up to ${INTERRUPTIONS_FORGIVEN} interruptions of a task use none of its retries): ${interrupted.join(', ')}\n`);
    const kept = dispatch ? overseer.getTasks({ state: 'running' }).map((t) => t.id) : [];
    if (kept.length) io.err.write(`overseer: ${kept.length} attempt(s) were running when the supervisor stopped; reconciling them with the queue: ${kept.join(', ')}\n`);
    return overseer;
  } catch (error) {
    void dispatch?.close();
    if (error instanceof StoreLockedError || error instanceof StoreCorruptError || error instanceof StoreVersionError) {
      throw new BadInput(storeErrorMessage(error));
    }
    throw error;
  }
}

/** Reads a plan; with --json, an invalid plan is also reported as JSON on stdout before exiting 2. */
export function planFor(file: string, json: boolean | undefined, io: Io, finished: boolean): Plan {
  try {
    return loadPlan(file);
  } catch (error) {
    if (json && error instanceof PlanError) {
      const problems = { valid: false, file, problems: error.problems };
      io.out.write(`${JSON.stringify(finished ? { type: 'run.finished', status: 'invalid', exitCode: EXIT.badInput, ...problems } : problems)}\n`);
    }
    throw error;
  }
}

/** Commands about an existing store refuse a path that holds none, creating nothing. */
export function requireStore(path: string): void {
  const full = resolve(path);
  if (!existsSync(full) && !existsSync(`${full}.journal`)) {
    throw new BadInput(`no store at ${path}: start one with \`overseer run <plan> --store ${path}\``);
  }
}

/** Tasks whose stored definition differs from the plan's keep the stored one: say so. */
export function noteDrift(overseer: Overseer, plan: Plan, io: Io, json = false): void {
  const changed: { id: string; fields: string[] }[] = [];
  const samePath = (a: string, b: string) => a === b || realFolder(a) === realFolder(b);
  for (const t of plan.tasks) {
    const stored = overseer.getTaskStatus(t.id);
    const fields = stored ? planDrift(stored, t, { samePath }) : [];
    if (fields.length) changed.push({ id: t.id, fields });
  }
  // Tasks the plan no longer has are still the store's, and still count (their re-runs under --watch go with them).
  const planned = new Set(plan.tasks.map((t) => t.id));
  const gone = overseer.getTasks().filter((t) => !planned.has(t.id) && !planned.has(rerunOf(t.metadata) ?? ''));
  // For programs too: under --json, one line on stdout before the run's events.
  if (json && (changed.length || gone.length)) io.out.write(`${JSON.stringify({ type: 'plan.drift', changed, notInPlan: gone.map((t) => ({ id: t.id, state: t.state })) })}\n`);
  if (changed.length) {
    const one = changed.length === 1;
    const lines = changed.map((c) => `${c.id} (${c.fields.join(', ')})`);
    io.err.write(`overseer: the plan changed ${one ? 'task' : 'tasks'} ${lines.join(', ')} since the store took ${one ? 'it' : 'them'}; the store's ${one ? 'version is' : 'versions are'} kept (--fresh starts over)\n`);
  }
  if (gone.length) {
    const named = gone.slice(0, 10).map((t) => `${t.id} (${t.state})`).join(', ') + (gone.length > 10 ? `, and ${gone.length - 10} more` : '');
    io.err.write(`overseer: the store also holds ${gone.length === 1 ? 'a task' : `${gone.length} tasks`} the plan no longer has: ${printable(named)}; ${gone.length === 1 ? 'it is' : 'they are'} kept (--fresh starts over)\n`);
  }
}

/** The folder a path names, symbolic links resolved (itself when it does not exist). */
function realFolder(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** `run --watch`: the workspace monitor, and tasks that wait for a first change held until it comes. */
export async function startWatching(overseer: Overseer, plan: Plan, root: string, store: string, io: Io): Promise<WorkspaceMonitor> {
  const storeRel = relative(root, store).split('\\').join('/');
  const monitor = new WorkspaceMonitor(overseer, {
    root,
    ignore: [...plan.watch.ignore, ...(storeRel.startsWith('..') ? [] : [storeRel])],
    protectedPaths: plan.watch.protected,
    onError: (error) => io.err.write(`overseer: watching ${root}: ${error.message}\n`),
  });
  await monitor.ready();
  holdUntilChange(overseer, overseer.getTasks());
  io.err.write(`overseer: watching ${root} (Ctrl-C to stop)\n`);
  return monitor;
}

/** Under `--watch`: tasks that wait for a first change (`waitForChange: true`) and have not started are held until it comes. */
export function holdUntilChange(overseer: Overseer, tasks: readonly TaskView[]): void {
  for (const t of tasks) {
    const meta = t.metadata as Record<string, unknown> | null;
    if (meta?.waitForChange === true && (t.state === 'pending' || t.state === 'ready')) overseer.blockTask(t.id, WAITING_FOR_CHANGE);
  }
}

/** Says what `reapOrphans`/`reapDeadWorkers` stopped, and what they could not be sure of. `who`: what was killed. */
export function reportReaped({ stopped, unsure }: Reaped, io: Io, who = 'a killed run'): void {
  if (stopped.length) io.err.write(`overseer: stopped the processes ${who} left running (${stopped.length} task process group(s)): ${printable(stopped.map((g) => g.label).join('; '))}\n`);
  for (const g of unsure) {
    io.err.write(`overseer: process group ${g.pgid} (${printable(g.label)}) of ${who} may still have processes; not stopped, as it cannot be told from another's: check with \`pgrep -a -g ${g.pgid}\`\n`);
  }
}

export async function execute(
  overseer: Overseer,
  store: string,
  title: string,
  options: RunnerOptions & { json?: boolean; drain?: boolean; onStart?: () => void; onStop?: () => Promise<void> | undefined; storeArg?: string },
  io: Io,
): Promise<number> {
  const tty = !options.json && (io.out as NodeJS.WriteStream).isTTY === true;
  // The commands that answer a breakpoint, as the person must type them: with the store given.
  const flag = storeFlag(options.storeArg ?? DEFAULT_STORE, DEFAULT_STORE);
  const reporter: Reporter = options.json
    ? jsonReporter(overseer, afterJournal(io.out, storeOf.get(overseer)), io.err)
    : tty
      ? liveReporter(overseer, io.out as NodeJS.WriteStream, title, flag)
      : plainReporter(overseer, afterJournal(io.out, storeOf.get(overseer)), flag);
  // What a run killed with SIGKILL left running goes before this run starts the same tasks again.
  reportReaped(reapOrphans(`${store}.processes`), io);
  const registry = new ProcessRegistry(`${store}.processes`);
  observeProcessGroups(registry);
  // SIGKILLed on the way out: nothing is left for the next run to stop, so no list either.
  const killAll = () => {
    const killed = killRunningProcessGroups();
    registry.clear();
    return killed;
  };
  options.onStart?.();
  // A plan's tasks are shell commands and agents: the CLI runs them.
  const runner = new Runner(overseer, { ...options, commands: true, onLog: (id, line) => reporter.log(id, line) });
  const stopInbox = serveInbox(overseer, store);
  // Quit now, but leave no task process behind: one that ran on unsupervised would run
  // alongside its own retry after `overseer resume` (the store says it was interrupted).
  const quitNow = () => {
    const killed = killAll();
    storeOf.get(overseer)?.writeOut?.();
    io.err.write(`overseer: quit${killed ? `; killed the processes of ${killed} running task(s), which resume retries` : ''}\n`);
    process.exit(EXIT.interrupted);
  };
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) quitNow();
    reporter.note(options.drain ? 'stopping: letting running tasks finish (Ctrl-C again to quit now)…' : 'stopping: no new tasks, stopping running ones…');
    void runner.stop({ drain: options.drain ?? false });
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  // The terminal went away (closed, an ssh session dropped): nobody watches a graceful stop, and the
  // default would end the process without a word, its tasks running on.
  process.on('SIGHUP', quitNow);
  // Any exit before the runner has stopped its work (a crash in a listener, process.exit elsewhere) takes the work down too.
  process.on('exit', killAll);
  try {
    const outcome = await runner.run();
    reporter.finished(outcome);
    return outcome.exitCode;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    process.off('SIGHUP', quitNow);
    process.off('exit', killAll);
    observeProcessGroups(null);
    await options.onStop?.();
    await stopInbox();
    reporter.stop();
    await overseer.close();
  }
}

/** cancel / retry / approve / reject: through the running process when one holds the store, else directly. */
export async function control(command: ControlCommand['command'], target: string, store: string, extra: Pick<ControlCommand, 'note' | 'action' | 'by'>, io: Io): Promise<number> {
  requireStore(store);
  const path = resolve(store);
  const c = { command, target, ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)) } as Omit<ControlCommand, 'id'>;
  let overseer: Overseer;
  try {
    overseer = createOverseer({ store: jsonFileStore(path) });
  } catch (error) {
    if (!(error instanceof StoreLockedError)) throw new BadInput((error as Error).message);
    const answer = await sendCommand(path, c);
    (answer.ok ? io.out : io.err).write(`${answer.ok ? '' : 'overseer: '}${answer.message}\n`);
    return answer.ok ? EXIT.ok : answer.unknown ? EXIT.badInput : EXIT.failed;
  }
  try {
    const exists = command === 'approve' || command === 'reject' ? overseer.getBreakpoint(target) : overseer.getTaskStatus(target);
    if (!exists) throw new BadInput(`unknown ${command === 'approve' || command === 'reject' ? 'breakpoint' : 'task'} "${target}" in ${store}`);
    const answer = applyCommand(overseer, c);
    (answer.ok ? io.out : io.err).write(`${answer.ok ? '' : 'overseer: '}${answer.message}\n`);
    // No run holds the store: what was changed waits for one.
    const counts = overseer.getCounts();
    if (answer.ok && counts.total > counts.completed + counts.cancelled + counts.failed) {
      io.out.write(`(no run holds ${store}: \`overseer resume${storeFlag(store, DEFAULT_STORE)}\` goes on with it)\n`);
    }
    return answer.ok ? EXIT.ok : EXIT.failed;
  } finally {
    await overseer.close();
  }
}


/** Each task's state in a store, read without its lock. */
export function storeStatusTasks(path: string): [string, string][] {
  const { tasks } = readStore(path);
  return tasks.map((t) => [t.context.id, t.value]);
}

/**
 * In a terminal a person is there to decide, so the run waits for them; with --inspect too
 * (the page's Approve button is how they decide); elsewhere it exits 3 at once.
 */
export function defaultWait(io: Io, inspect = false): number {
  return inspect || (io.out as NodeJS.WriteStream).isTTY ? 24 * 3_600_000 : 0;
}

export function duration(value: string): number {
  // A bare number is milliseconds, as in a plan (`--wait 0`, `--wait 1500`).
  const ms = /^\d+$/.test(value.trim()) ? parseDuration(Number(value)) : parseDuration(value);
  if (ms === null) throw new InvalidArgumentError('must be a duration: milliseconds, or a number with ms, s, m or h (e.g. 500ms, 30s, 5m, 1h)');
  return ms;
}
