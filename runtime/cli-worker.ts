/**
 * The CLI's BullMQ parts: `--dispatch bullmq --redis URL [--queue name]` for `run` and
 * `resume`, and the `overseer worker` command that processes the queue's jobs anywhere.
 * BullMQ is loaded only when one of them is used.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Option, type Command } from 'commander';
import type { BullmqDispatch } from '../actors/bullmq-dispatch.js';
import { killRunningProcessGroups, observeProcessGroups } from '../actors/process.js';
import { DEFAULT_QUEUE, parseRedisUrl, queueNameProblem, runIdProblem } from '../actors/bullmq-shared.js';
import type { WorkerJobEvent } from '../actors/bullmq-worker.js';
import type { Executor } from '../actors/types.js';
import { ValidationError } from './errors.js';
import { duration, EXIT, positiveInt, reportReaped, type Io } from './cli-session.js';
import { ProcessRegistry, reapDeadWorkers, workerProcessList } from './orphans.js';

/** Where workers on this machine list their tasks' process groups by default: one folder per user. */
const DEFAULT_STATE_DIR = join(tmpdir(), `overseer-worker-${process.getuid?.() ?? 'user'}`);

export interface DispatchFlags {
  dispatch?: string;
  redis?: string;
  queue?: string;
  connectTimeout?: number;
  /** The store's run id (part of its job ids); null: a store from before run ids, whose jobs have none. Not a CLI option. */
  runId?: string | null;
}

/** Adds the dispatch options to `run` and `resume`. */
export function addDispatchOptions(command: Command): Command {
  return command
    .option('--dispatch <mode>', 'where tasks run: local (here) or bullmq (on `overseer worker` processes, through a BullMQ queue in Redis); default: what the store was last run with, else local')
    .option('--redis <url>', 'with --dispatch bullmq: the Redis server, e.g. redis://127.0.0.1:6379')
    .option('--queue <name>', `with --dispatch bullmq: the BullMQ queue, one per store (default: the store's last, else ${DEFAULT_QUEUE})`)
    .option('--connect-timeout <duration>', 'with --dispatch bullmq: how long to wait for Redis when starting, then exit 2 (default: 10s)', duration);
}

/**
 * Where a store's attempts were dispatched, kept beside it (`<store>.dispatch`): after a crash,
 * attempts may still run on workers, and a resume that forgot `--dispatch bullmq` would run them
 * here a second time. The Redis URL is not kept (it may hold a password): resume asks for it.
 * The run id is part of the store's job ids: another store on the queue, or this one started over
 * (`--fresh` forgets it), never meets these jobs; a resumed store finds its jobs by it.
 */
interface DispatchMemory {
  dispatch: 'bullmq';
  queue: string;
  /** null: remembered before run ids existed (its jobs have none). */
  runId: string | null;
}

export const dispatchMemoryPath = (store: string) => `${store}.dispatch`;

function rememberedDispatch(store: string): DispatchMemory | null {
  try {
    const m = JSON.parse(readFileSync(dispatchMemoryPath(store), 'utf8')) as Partial<DispatchMemory>;
    if (m.dispatch !== 'bullmq' || typeof m.queue !== 'string') return null;
    return { dispatch: 'bullmq', queue: m.queue, runId: typeof m.runId === 'string' && !runIdProblem(m.runId) ? m.runId : null };
  } catch {
    return null;
  }
}

/** Records (or, for a local run, forgets) how the store's attempts are dispatched. */
export function rememberDispatch(store: string, dispatch: BullmqDispatch | null): void {
  if (typeof store !== 'string' || store === '') throw new ValidationError('rememberDispatch', ['store: must be a path']);
  if (dispatch) writeFileSync(dispatchMemoryPath(store), `${JSON.stringify({ dispatch: 'bullmq', queue: dispatch.queueName, runId: dispatch.runId })}\n`);
  else rmSync(dispatchMemoryPath(store), { force: true });
}

/**
 * The dispatch flags for a store: without `--dispatch`, what it was last run with. A store last
 * dispatched through BullMQ is not resumed on another queue, or without `--redis`, by accident.
 */
export function dispatchFlagsFor(store: string, flags: DispatchFlags, io: Io): DispatchFlags {
  const memory = rememberedDispatch(store);
  if (!memory) return flags;
  if (flags.dispatch === 'local') {
    io.err.write(`overseer: ${store} was last run with --dispatch bullmq (queue ${memory.queue}); running here now: attempts still running on workers may run twice\n`);
    return flags;
  }
  const problems: string[] = [];
  if (flags.redis === undefined) problems.push(`${store} was last run with --dispatch bullmq --queue ${memory.queue}: give --redis <url> to go on with its workers, or --dispatch local to run the rest here`);
  if (flags.queue !== undefined && flags.queue !== memory.queue) problems.push(`--queue ${flags.queue}: ${store} was last run on queue ${memory.queue}, where its attempts may still be running; use --queue ${memory.queue}`);
  if (problems.length) throw new ValidationError('--dispatch', problems);
  return { ...flags, dispatch: 'bullmq', queue: memory.queue, runId: memory.runId };
}

/** The dispatcher the flags ask for (connected), or null for local runs. Bad flags or an unreachable Redis: exit 2. */
export async function openDispatch(flags: DispatchFlags, io: Io): Promise<BullmqDispatch | null> {
  const mode = flags.dispatch ?? 'local';
  if (mode !== 'local' && mode !== 'bullmq') throw new ValidationError('--dispatch', [`must be local or bullmq, got ${JSON.stringify(mode)}`]);
  if (mode === 'local') {
    if (flags.redis !== undefined) throw new ValidationError('--redis', ['only means something with --dispatch bullmq']);
    return null;
  }
  if (flags.redis === undefined) throw new ValidationError('--dispatch bullmq', ['needs --redis <url>, e.g. redis://127.0.0.1:6379']);
  parseRedisUrl(flags.redis, '--redis');
  const queueProblem = queueNameProblem(flags.queue ?? DEFAULT_QUEUE);
  if (queueProblem) throw new ValidationError('--queue', [queueProblem]);
  const { BullmqDispatch } = await import('../actors/bullmq-dispatch.js');
  // A store run with BullMQ for the first time (or started over) gets a new run id.
  const runId = flags.runId === undefined ? randomBytes(5).toString('hex') : flags.runId;
  const dispatch = await BullmqDispatch.connect({
    redis: flags.redis,
    queue: flags.queue ?? DEFAULT_QUEUE,
    ...(runId !== null ? { runId } : {}),
    report: (line) => void io.err.write(`${line}\n`),
    ...(flags.connectTimeout !== undefined ? { connectTimeoutMs: Math.max(flags.connectTimeout, 1) } : {}),
  });
  io.err.write(`overseer: dispatching tasks to BullMQ at ${dispatch.label}; start workers with \`overseer worker --redis <url> --queue ${dispatch.queueName}\`\n`);
  return dispatch;
}

/** Function executors from a module: its named function exports, or a default export object of them. */
export async function loadExecutors(path: string): Promise<Record<string, Executor>> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ValidationError('--executors', [`cannot load ${path}: ${(error as Error).message}`]);
  }
  const source = module.default && typeof module.default === 'object' ? (module.default as Record<string, unknown>) : module;
  const executors = Object.fromEntries(Object.entries(source).filter(([name, fn]) => name !== 'default' && typeof fn === 'function')) as Record<string, Executor>;
  if (Object.keys(executors).length === 0) throw new ValidationError('--executors', [`${path} exports no functions (export async functions by the names tasks use)`]);
  return executors;
}

/** `overseer worker`: processes the queue's jobs until Ctrl-C (the first lets running jobs finish, a second stops them). */
export function addWorkerCommand(cli: Command, io: Io, done: (code: number) => void): void {
  cli
    .command('worker')
    .description('process tasks dispatched by `overseer run --dispatch bullmq` (on this or any machine that reaches the Redis server)')
    .requiredOption('--redis <url>', '(required) the Redis server, e.g. redis://10.0.0.5:6379')
    .option('--queue <name>', 'the BullMQ queue, as given to `overseer run`', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'jobs at once in this worker', positiveInt, 1)
    .option('--executors <module>', 'a JavaScript module whose exported functions are the function executors tasks name')
    .addOption(new Option('--kill-grace <duration>', 'after SIGTERM, how long a stopped task’s processes get before SIGKILL').argParser(duration).default(2000, '2s'))
    .addOption(new Option('--lock-duration <duration>', 'a worker silent this long counts as dead and its jobs are retried (BullMQ lock)').argParser(duration).default(30_000, '30s'))
    .addOption(new Option('--connect-timeout <duration>', 'how long to wait for Redis when starting (then exit 2)').argParser(duration).default(10_000, '10s'))
    .option('--state-dir <dir>', 'where this worker lists the process groups of the tasks it runs, so that the next worker started on this machine stops them if this one is killed with SIGKILL', DEFAULT_STATE_DIR)
    .option('--json', 'one JSON line per job event')
    .addHelpText('after', '\nShell and agent tasks run with the command and working directory in the task (the same paths must exist here).\nCtrl-C: stop taking jobs and let running ones finish; a second Ctrl-C stops them (they are retried). Exit 130.')
    .action(async (o: { redis: string; queue: string; concurrency: number; executors?: string; killGrace: number; lockDuration: number; connectTimeout: number; stateDir: string; json?: boolean }) => {
      parseRedisUrl(o.redis, '--redis');
      const queueProblem = queueNameProblem(o.queue);
      if (queueProblem) throw new ValidationError('--queue', [queueProblem]);
      if (o.lockDuration < 500) throw new ValidationError('--lock-duration', ['must be at least 500ms']);
      const executors = o.executors ? await loadExecutors(o.executors) : {};
      const { startBullmqWorker } = await import('../actors/bullmq-worker.js');
      const onJob = (e: WorkerJobEvent) => {
        if (o.json) return void io.out.write(`${JSON.stringify({ type: `job.${e.phase}`, worker: process.pid, ...e })}\n`);
        const how = !e.outcome ? 'started' : e.outcome.ok ? 'completed' : `failed (${e.outcome.error.kind}): ${e.outcome.error.message.split('\n')[0]}`;
        io.out.write(`worker ${process.pid}: ${e.taskId} attempt ${e.attempt} (job ${e.jobId}) ${how}\n`);
        // What the work printed last, as --json has it in full: why it failed is often there.
        const output = e.outcome && !e.outcome.ok ? e.outcome.error.output?.trimEnd() : undefined;
        if (output) io.out.write(`${output.split('\n').slice(-5).map((l) => `    | ${l}`).join('\n')}\n`);
      };
      // What a worker killed with SIGKILL on this machine left running goes before this one takes jobs (they are retried).
      const stateDir = resolve(o.stateDir);
      let list: string;
      try {
        list = workerProcessList(stateDir);
      } catch (error) {
        throw new ValidationError('--state-dir', [`cannot use ${stateDir}: ${(error as Error).message}`]);
      }
      reportReaped(reapDeadWorkers(stateDir), io, 'a killed worker');
      const registry = new ProcessRegistry(list);
      observeProcessGroups(registry);
      const worker = await startBullmqWorker({
        redis: o.redis,
        queue: o.queue,
        concurrency: o.concurrency,
        executors,
        killGraceMs: o.killGrace,
        lockDurationMs: o.lockDuration,
        connectTimeoutMs: Math.max(o.connectTimeout, 1),
        report: (line) => void io.err.write(`${line}\n`),
        onJob,
      });
      io.err.write(`overseer worker ${process.pid}: processing ${worker.label}, ${o.concurrency} at once (Ctrl-C to stop)\n`);
      await new Promise<void>((resolveStop) => {
        let signals = 0;
        const onSignal = () => {
          signals++;
          if (signals === 1) {
            io.err.write(`overseer worker ${process.pid}: stopping: no new jobs, letting ${worker.running} running one(s) finish (Ctrl-C again to stop them)…\n`);
            void worker.close().then(finish);
          } else if (signals === 2) {
            io.err.write(`overseer worker ${process.pid}: stopping running jobs (they will be retried)…\n`);
            void worker.close({ force: true }).then(finish);
          } else quitNow();
        };
        // None of its jobs' processes may run on unsupervised (the supervisor retries them elsewhere).
        const quitNow = () => {
          killRunningProcessGroups();
          registry.clear(); // SIGKILLed: nothing left for the next worker to stop
          process.exit(EXIT.interrupted);
        };
        const onExit = () => {
          killRunningProcessGroups();
          registry.clear();
        };
        const finish = () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.off('SIGHUP', quitNow);
          process.off('exit', onExit);
          observeProcessGroups(null);
          resolveStop();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        process.on('SIGHUP', quitNow); // its terminal went away
        process.on('exit', onExit);
      });
      done(EXIT.interrupted);
    });
}
