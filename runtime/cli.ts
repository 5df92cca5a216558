#!/usr/bin/env node
/**
 * The `overseer` command line. Exit codes: 0 all completed (or the command succeeded),
 * 1 some task failed (or the command was refused), 2 bad input, 3 paused waiting for a
 * person, 130 interrupted.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { AnyStateMachine } from 'xstate';
import { breakpointMachine } from '../machines/breakpoint.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { LEGAL_TRANSITIONS, TASK_STATES, taskMachine } from '../machines/task.js';
import { machineGraph, planGraph, type GraphFormat } from './graph-export.js';
import type { ResolutionAction } from '../machines/breakpoint.js';
import { OverseerError } from './errors.js';
import { loadPlan, PlanError } from './plan.js';
import { formatVerifyReport, verifyPlan } from './verify.js';
import { storeStatus, taskDetail, taskDetailLines } from './status.js';
import { printable, storeFlag } from './cli-view.js';
import { breakpointReason } from './breakpoint-view.js';
import { lockHolder } from '../store/lock.js';
import { discardStore, restoreBackupOf, storeErrorMessage } from './cli-store.js';
import { addRunExtrasOptions, attachRunExtras, checkRunExtras, inspecting, registerInspectCommands, withRunExtras } from './cli-inspect.js';
import { addDispatchOptions, addWorkerCommand, dispatchFlagsFor, openDispatch, rememberDispatch, type DispatchFlags } from './cli-worker.js';
import { BadInput, control, defaultWait, duration, execute, EXIT, holdUntilChange, noteDrift, openStore, planFor, positiveInt, requireStore, startWatching, storeStatusTasks, DEFAULT_STORE, type Io } from './cli-session.js';

export { EXIT };

/** The package's version, from the nearest package.json above this module (in dist/ or, run from source, not). */
function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(resolve(dir, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      if (dirname(dir) === dir) return 'unknown';
    }
  }
}

const MACHINES: Record<string, AnyStateMachine> = { task: taskMachine, breakpoint: breakpointMachine, supervisor: supervisorMachine };

function program(io: Io, done: (code: number) => void): Command {
  const cli = new Command('overseer')
    .description('Supervise autonomous work (agents, shell jobs, pipelines) as XState actors.')
    .version(packageVersion(), '-v, --version')
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .exitOverride()
    .addHelpText('after', '\nExit codes: 0 all completed, 1 some task failed (or a command was refused), 2 bad input, 3 paused waiting for a person, 130 interrupted.');

  cli
    .command('run <plan>')
    .description('run a plan (YAML or JSON); tasks already in the store keep their state')
    .option('--store <path>', 'the JSON store', DEFAULT_STORE)
    .option('--concurrency <n>', 'attempts at once (default: the plan’s, else 4)', positiveInt)
    .option('--json', 'one JSON event per line')
    .option('--drain', 'on Ctrl-C, let running tasks finish')
    .option('--fresh', 'start over: discard what the store holds')
    .option('--wait <duration>', 'when only a person can move it on, wait this long before exiting 3 (default: 24h in a terminal or with --inspect, else 0)', duration)
    .option('--watch [dir]', 'keep running and react to file changes (default: the plan’s watch.root, else its directory)')
    .action(async (planFile: string, o: DispatchFlags & { store: string; concurrency?: number; json?: boolean; drain?: boolean; fresh?: boolean; wait?: number; watch?: string | boolean }) => {
      const plan = planFor(planFile, o.json, io, true);
      checkRunExtras(o);
      const store = resolve(o.store);
      // Connect first: a Redis that cannot be reached must not cost the store --fresh would discard.
      const dispatch = await openDispatch(o.fresh ? o : dispatchFlagsFor(store, o, io), io);
      const overseer = await (async () => {
        try {
          if (o.fresh) discardStore(store, io);
          return openStore(o.store, io, dispatch);
        } catch (error) {
          await dispatch?.close();
          throw error;
        }
      })();
      rememberDispatch(store, dispatch);
      noteDrift(overseer, plan, io, o.json);
      const missing = plan.tasks.filter((t) => overseer.getTaskStatus(t.id) === null);
      // The plan's breakpoint rules, unless the store already has them (a resumed plan).
      const known = overseer.listBreakpointRules();
      for (const rule of plan.breakpoints.rules) {
        if (!known.some((k) => k.type === rule.type && k.condition === rule.condition)) overseer.addCustomRule(rule);
      }
      for (const type of plan.breakpoints.disable) overseer.disableBreakpointType(type);
      // The plan's limits go into the store, so that `resume` (which has no plan) keeps them.
      const limits = { concurrency: o.concurrency ?? plan.concurrency.global, perProject: plan.concurrency.perProject, defaultPerProject: plan.concurrency.defaultPerProject };
      overseer.setRunLimits(limits);
      const monitor = o.watch ? await startWatching(overseer, plan, typeof o.watch === 'string' ? resolve(o.watch) : plan.watch.root, resolve(o.store), io) : null;
      const stopExtras = await attachRunExtras(overseer, o, plan.name, io);
      done(
        await withRunExtras(
          stopExtras,
          execute(
            overseer,
            resolve(o.store),
            plan.name,
            {
              keepAlive: monitor !== null,
              storeArg: o.store,
              onStop: async () => {
                await monitor?.close();
                await dispatch?.close();
              },
              ...(dispatch ? { dispatch } : {}),
              // Scheduled once the reporter listens, so every task's first transition is shown.
              onStart: () => {
                const added = missing.length ? overseer.scheduleTasks(missing) : [];
                if (monitor) holdUntilChange(overseer, added); // before the runner can start them
              },
              ...limits,
              waitForPersonMs: o.wait ?? defaultWait(io, inspecting(o)),
              ...(o.json ? { json: true } : {}),
              ...(o.drain ? { drain: true } : {}),
            },
            io,
          ),
        ),
      );
    });

  cli
    .command('resume')
    .description('continue the run kept in a store')
    .option('--store <path>', 'the JSON store', DEFAULT_STORE)
    .option('--concurrency <n>', 'attempts at once (default: what the plan said, kept in the store, else 4)', positiveInt)
    .option('--json', 'one JSON event per line')
    .option('--drain', 'on Ctrl-C, let running tasks finish')
    .option('--wait <duration>', 'when only a person can move it on, wait this long before exiting 3 (default: 24h in a terminal or with --inspect, else 0)', duration)
    .action(async (o: DispatchFlags & { store: string; concurrency?: number; json?: boolean; drain?: boolean; wait?: number }) => {
      requireStore(o.store);
      checkRunExtras(o);
      const dispatch = await openDispatch(dispatchFlagsFor(resolve(o.store), o, io), io);
      const overseer = openStore(o.store, io, dispatch);
      rememberDispatch(resolve(o.store), dispatch);
      if (overseer.getCounts().total === 0) {
        await overseer.close();
        await dispatch?.close();
        throw new BadInput(`${o.store} holds no tasks: start with \`overseer run <plan> --store ${o.store}\``);
      }
      // The limits the plan set (run stored them), unless this resume says otherwise.
      const stored = overseer.runLimits ?? {};
      const limits = { ...stored, concurrency: o.concurrency ?? stored.concurrency ?? 4 };
      if (o.concurrency !== undefined) overseer.setRunLimits(limits);
      const options = { ...limits, waitForPersonMs: o.wait ?? defaultWait(io, inspecting(o)), storeArg: o.store, ...(o.json ? { json: true } : {}), ...(o.drain ? { drain: true } : {}), ...(dispatch ? { dispatch, onStop: () => dispatch.close() } : {}) };
      const stopExtras = await attachRunExtras(overseer, o, o.store, io);
      done(await withRunExtras(stopExtras, execute(overseer, resolve(o.store), o.store, options, io)));
    });

  cli
    .command('status [task]')
    .description('tasks by state, blocked reasons and what runs next; with a task id, that task: its history, last error and output (safe while a run holds the store)')
    .option('--store <path>', 'the JSON store', DEFAULT_STORE)
    .option('--json', 'machine-readable output')
    .action((taskId: string | undefined, o: { store: string; json?: boolean }) => {
      requireStore(o.store);
      // Task output and messages are shown as text, never as terminal control sequences.
      const say = (line: string) => io.out.write(`${printable(line)}\n`);
      if (taskId !== undefined) {
        const d = taskDetail(resolve(o.store), taskId);
        if (!d) throw new BadInput(`${o.store} has no task "${taskId}"`);
        if (o.json) io.out.write(`${JSON.stringify(d)}\n`);
        else for (const line of taskDetailLines(d, storeFlag(o.store, DEFAULT_STORE))) say(line);
        return done(EXIT.ok);
      }
      const s = storeStatus(resolve(o.store));
      if (o.json) io.out.write(`${JSON.stringify(s)}\n`);
      else {
        say(`${o.store}: ${TASK_STATES.filter((st) => s.counts[st]).map((st) => `${st} ${s.counts[st]}`).join(', ') || 'no tasks'} (total ${s.counts.total})`);
        for (const r of s.running) say(`  running   ${r.id} (attempt ${r.attempt})`);
        // Attempts recorded as running with no process holding the store: whoever ran them stopped (kill -9, a crash).
        if (s.running.length && lockHolder(`${resolve(o.store)}.lock`) === null) {
          say(`  (no run holds the store: those attempts were cut short; \`overseer resume${storeFlag(o.store, DEFAULT_STORE)}\` runs them again)`);
        }
        for (const r of s.retrying) say(`  retrying  ${r.id} at ${r.retryAt === null ? '?' : new Date(r.retryAt).toISOString()}: ${r.lastError?.split('\n')[0] ?? ''}`);
        for (const b of s.blocked) say(`  blocked   ${b.id}: ${b.reason}${b.upstream ? ` (${b.upstream})` : ''}`);
        for (const f of s.failed) say(`  failed    ${f.id}: ${f.error.split('\n')[0]}`);
        if (s.nextReady.length) say(`  next: ${s.nextReady.slice(0, 10).map((r) => r.id).join(', ')}`);
        for (const b of s.breakpoints.filter((x) => ['triggered', 'awaiting', 'autoResolving'].includes(x.state))) {
          const why = breakpointReason(b);
          say(`  breakpoint ${b.id} (${b.type}, ${b.state}): ${b.taskId ?? `project ${b.projectId}`} — ${b.message}${why ? ` (${why})` : ''}`);
        }
        if (s.paused.all || s.paused.projects.length) say(`  paused: ${s.paused.all ? 'everything' : s.paused.projects.join(', ')}`);
        if (s.failed.length) say(`  (overseer status <task> shows a task's whole error and output)`);
      }
      done(EXIT.ok);
    });

  cli
    .command('restore-backup')
    .description('put the last good snapshot (<store>.bak) back in place of a damaged one, which is kept as <store>.corrupt-<time>')
    .option('--store <path>', 'the JSON store', DEFAULT_STORE)
    .option('--force', 'even when the current snapshot reads fine (the store goes back to the backup)')
    .option('--json', 'machine-readable output')
    .action((o: { store: string; json?: boolean; force?: boolean }) => {
      restoreBackupOf(resolve(o.store), io, { json: o.json === true, force: o.force === true });
      done(EXIT.ok);
    });

  cli
    .command('cancel <task>')
    .description('cancel a task (its running process is stopped)')
    .option('--store <path>', 'the JSON store', DEFAULT_STORE)
    .option('--reason <text>', 'why, for the record')
    .action(async (task: string, o: { store: string; reason?: string }) => done(await control('cancel', task, o.store, { note: o.reason }, io)));

  cli
    .command('retry <task>')
    .description('retry a failed task now')
    .option('--store <path>', 'the JSON store', DEFAULT_STORE)
    .action(async (task: string, o: { store: string }) => done(await control('retry', task, o.store, {}, io)));

  for (const decision of ['approve', 'reject'] as const) {
    cli
      .command(`${decision} <breakpoint>`)
      .description(decision === 'approve' ? 'resolve a breakpoint: the paused work goes on (or --action)' : 'reject a breakpoint: the paused work is cancelled (or --action)')
      .option('--store <path>', 'the JSON store', DEFAULT_STORE)
      .option('--note <text>', 'for the audit trail; with --action retry, feedback for the next attempt')
      .option('--action <action>', 'continue, retry, skip or cancel')
      .option('--by <name>', 'who decides', process.env.USER ?? 'a person')
      .action(async (id: string, o: { store: string; note?: string; action?: string; by: string }) => {
        if (o.action !== undefined && !['continue', 'retry', 'skip', 'cancel'].includes(o.action)) {
          throw new BadInput(`--action must be continue, retry, skip or cancel, got "${o.action}"`);
        }
        done(await control(decision, id, o.store, { note: o.note, action: o.action as ResolutionAction | undefined, by: o.by }, io));
      });
  }

  cli
    .command('breakpoints')
    .description('pending breakpoints (and, with --all, the history)')
    .option('--store <path>', 'the JSON store', DEFAULT_STORE)
    .option('--all', 'include resolved ones')
    .option('--json', 'machine-readable output')
    .action((o: { store: string; all?: boolean; json?: boolean }) => {
      requireStore(o.store);
      const s = storeStatus(resolve(o.store));
      const list = o.all ? s.breakpoints : s.breakpoints.filter((b) => ['triggered', 'awaiting', 'autoResolving'].includes(b.state));
      if (o.json) io.out.write(`${JSON.stringify(list)}\n`);
      else if (list.length === 0) io.out.write('no pending breakpoints\n');
      else {
        for (const b of list) {
          const r = b.resolution;
          const decided = r ? ` — ${r.action} by ${r.by}${r.note ? `: ${r.note}` : ''}` : '';
          io.out.write(`${printable(`${b.id}  ${b.state.padEnd(13)} ${b.priority.padEnd(6)} ${b.type}  ${b.taskId ?? `project ${b.projectId}`}: ${b.message}${decided}`)}\n`);
          const why = breakpointReason(b);
          if (why) io.out.write(`${printable(`    why: ${why}`)}\n`);
        }
      }
      done(EXIT.ok);
    });

  cli
    .command('validate <plan>')
    .description('check a plan without running it')
    .option('--json', 'machine-readable output')
    .action((planFile: string, o: { json?: boolean }) => {
      const plan = planFor(planFile, o.json, io, false);
      const projects = new Set(plan.tasks.map((t) => t.projectId)).size;
      const n = plan.tasks.length;
      io.out.write(o.json ? `${JSON.stringify({ valid: true, tasks: n, projects })}\n` : `${planFile}: valid, ${n} task${n === 1 ? '' : 's'} in ${projects} project${projects === 1 ? '' : 's'}\n`);
      done(EXIT.ok);
    });

  cli
    .command('verify <plan>')
    .description('static checks, then a dry run on a simulated clock with stub executors: order, retries, deadline misses, breakpoints, invariants')
    .option('--seed <n>', 'seed of the random failures (a whole number from 0 to 4294967295)', (v) => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 0xffff_ffff) throw new InvalidArgumentError('must be a whole number from 0 to 4294967295');
      return n;
    }, 1)
    .option('--fail-rate <rate>', 'chance that an attempt fails, 0..1', (v) => {
      const r = Number(v);
      if (!(r >= 0 && r <= 1)) throw new InvalidArgumentError('must be a number from 0 to 1');
      return r;
    }, 0)
    .option('--runs <n>', 'dry runs, with seeds seed, seed+1, …', positiveInt, 1)
    .option('--json', 'machine-readable output')
    .action((planFile: string, o: { seed: number; failRate: number; runs: number; json?: boolean }) => {
      const plan = planFor(planFile, o.json, io, false);
      const report = verifyPlan(plan, { seed: o.seed, failRate: o.failRate, runs: o.runs });
      io.out.write(o.json ? `${JSON.stringify(report)}\n` : `${formatVerifyReport(report)}\n`);
      done(report.ok ? EXIT.ok : EXIT.failed);
    });

  cli
    .command('graph [plan]')
    .description('a machine (--machine task|breakpoint|supervisor; the task machine by default) as Mermaid, DOT or JSON, or a plan as Mermaid or DOT; with --store, tasks are coloured by state')
    .option('--machine <name>', 'task, breakpoint or supervisor')
    .option('--format <format>', 'mermaid, dot or json', 'mermaid')
    .option('--store <path>', 'colour the plan’s tasks by their state in this store')
    .action((planFile: string | undefined, o: { machine?: string; format: string; store?: string }) => {
      if (!['mermaid', 'dot', 'json'].includes(o.format)) throw new BadInput(`--format must be mermaid, dot or json, got "${o.format}"`);
      const format = o.format as GraphFormat;
      if (o.machine !== undefined || planFile === undefined) {
        const machine = MACHINES[o.machine ?? 'task'];
        if (!machine) throw new BadInput(`--machine must be ${Object.keys(MACHINES).join(', ')}, got "${o.machine}"`);
        io.out.write(`${machineGraph(machine, format)}\n`);
        return done(EXIT.ok);
      }
      if (format === 'json') throw new BadInput('a plan graph is drawn as mermaid or dot');
      const plan = loadPlan(planFile);
      const states = o.store ? new Map(storeStatusTasks(resolve(o.store))) : new Map<string, string>();
      const nodes = plan.tasks.map((t) => ({
        id: t.id,
        title: t.title ?? t.id,
        projectId: t.projectId ?? 'default',
        dependencies: t.dependencies ?? [],
        ...(states.has(t.id) ? { state: states.get(t.id)! } : {}),
      }));
      io.out.write(`${planGraph(nodes, format)}\n`);
      done(EXIT.ok);
    });

  cli
    .command('states')
    .description('the task lifecycle: every state and the states it may move to')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => {
      if (o.json) io.out.write(`${JSON.stringify({ states: TASK_STATES, transitions: LEGAL_TRANSITIONS })}\n`);
      else for (const s of TASK_STATES) io.out.write(`${s.padEnd(10)} → ${LEGAL_TRANSITIONS[s].join(', ') || '(final)'}\n`);
      done(EXIT.ok);
    });
  for (const name of ['run', 'resume']) addDispatchOptions(cli.commands.find((c) => c.name() === name)!);
  addWorkerCommand(cli, io, done);
  for (const name of ['run', 'resume']) addRunExtrasOptions(cli.commands.find((c) => c.name() === name)!);
  registerInspectCommands(cli, io, done, DEFAULT_STORE);
  return cli;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[], io: Io = { out: process.stdout, err: process.stderr }): Promise<number> {
  let code: number = EXIT.ok;
  // With --json, a refusal is a JSON line on stdout too, unless the command already answered there (run's run.finished).
  let answered = false;
  const out = io.out;
  const counted: Io = {
    ...io,
    out: new Proxy(out, {
      get(target, key) {
        if (key === 'write') return (...args: Parameters<NodeJS.WritableStream['write']>) => ((answered = true), target.write(...args));
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }),
  };
  const refuse = (message: string) => {
    io.err.write(`overseer: ${message}\n`);
    if (argv.includes('--json') && !answered) out.write(`${JSON.stringify({ type: 'error', exitCode: EXIT.badInput, message })}\n`);
    return EXIT.badInput;
  };
  const cli = program(counted, (c) => (code = c));
  if (argv.length === 0) {
    cli.outputHelp({ error: true });
    return EXIT.badInput;
  }
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return EXIT.ok;
      // Commander has said it on stderr (an unknown option, a missing value): a JSON reader hears it too.
      if (argv.includes('--json') && !answered) out.write(`${JSON.stringify({ type: 'error', exitCode: EXIT.badInput, message: error.message.replace(/^error: /, '') })}\n`);
      return EXIT.badInput;
    }
    if (error instanceof PlanError || error instanceof BadInput || error instanceof OverseerError) return refuse(storeErrorMessage(error));
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return refuse((error as Error).message);
    throw error;
  }
}

const invokedDirectly = (() => {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  // `overseer … --json | head`: a reader that leaves early is not an error; the command goes on quietly to its exit code.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error) => {
      process.stderr.write(`overseer: ${(error as Error).stack ?? error}\n`);
      process.exitCode = 1;
    },
  );
}
