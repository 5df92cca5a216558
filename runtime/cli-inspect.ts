/**
 * The CLI's inspector and trace commands:
 *
 *   overseer inspect [--store] [--port] [--host]        the inspector over a store (safe while a run holds it)
 *   overseer replay <trace> [--port] [--host] [--json]   a trace in the inspector with a time slider, or replayed to JSON
 *   overseer run|resume … --inspect [port] --trace <file>   (attachRunExtras) the same for a live run
 *
 * The URL printed for a run or a store carries the per-run token in its fragment; without it
 * the page is read-only. A replay takes no commands, so its URL has none.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { OverseerError } from './errors.js';
import { isLoopback, isWildcard } from './inspector/guard.js';
import { startInspector, type InspectorOptions, type InspectorServer } from './inspector/server.js';
import { liveSource, replaySource, storeSource, type InspectorSource } from './inspector/sources.js';
import { readStore } from './status.js';
import type { Overseer } from './overseer.js';
import { readTrace, replayTrace, traceTo, type TraceWriter } from './trace.js';
import type { Io } from './cli-session.js';


class InspectInputError extends OverseerError {
  override name = 'InspectInputError';
}

export function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0..65535 (0: any free port)');
  return n;
}

/** Tells where the inspector is: a line on stderr, or a JSON line on stdout with --json. */
function announce(server: InspectorServer, host: string, json: boolean | undefined, io: Io, withToken = true): void {
  const url = withToken ? server.urlWithToken : server.url;
  if (json) io.out.write(`${JSON.stringify({ type: 'inspector.listening', url })}\n`);
  else io.err.write(`inspector: ${url}\n`);
  if (isLoopback(host)) return;
  const where = isWildcard(server.address) ? `every interface of this machine (${server.address})` : server.address;
  io.err.write(
    `overseer: the inspector listens on ${where}, port ${server.port}: anyone who can reach it can watch the run, task output included; ` +
      `it answers to this machine's addresses and host name; commands need the token\n`,
  );
}

const EXIT_STATUS: Record<number, string> = { 0: 'completed', 1: 'failed', 2: 'bad input', 3: 'waiting for a person', 130: 'interrupted' };

/** Starts the inspector; a port in use or an address not on this machine is bad input (exit 2), said in one line. */
async function serve(source: InspectorSource, options: InspectorOptions, flag: string): Promise<InspectorServer> {
  try {
    return await startInspector(source, options);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new InspectInputError(`${flag} ${options.port}: the port is in use (0 picks a free one)`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EACCES') throw new InspectInputError(`cannot listen on ${options.host}:${options.port}: ${e.message}`);
    throw error;
  }
}

/** The store's own files: a trace written over one of them would destroy the run. */
const STORE_FILES = ['', '.journal', '.bak', '.lock', '.inbox', '.inbox.done', '.dispatch', '.compacting'];

/** Resolves on Ctrl-C or SIGTERM (the inspector and replay commands serve until then). */
function untilStopped(): Promise<void> {
  return new Promise((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The options `--inspect [port]`, `--inspect-host` and `--trace <file>` on run and resume. */
export function addRunExtrasOptions(command: Command): void {
  command
    .option('--inspect [port]', 'serve the inspector (a web page on 127.0.0.1) while the run lasts; a bare --inspect picks a free port; the URL with its token is printed. At a breakpoint the run waits for a person (as --wait 24h) unless --wait is given')
    .option('--inspect-host <address>', 'address the inspector binds (default 127.0.0.1; anything else exposes it)')
    .option('--trace <file>', 'record every inspection record as NDJSON (overseer replay <file>); an existing trace is continued');
}

export interface RunExtras {
  inspect?: string | boolean;
  inspectHost?: string;
  trace?: string;
  json?: boolean;
  store?: string;
}

/** True when `--inspect` was given: a person is expected at the page, so the run waits for them. */
export const inspecting = (o: RunExtras): boolean => o.inspect !== undefined && o.inspect !== false;

/** Refuses, before the store is even opened, a `--trace` that would write over one of the store's files. */
export function checkRunExtras(o: RunExtras): void {
  if (!o.trace || o.store === undefined) return;
  const trace = resolve(o.trace);
  const store = resolve(o.store);
  if (STORE_FILES.some((suffix) => trace === `${store}${suffix}`)) throw new InspectInputError(`--trace ${o.trace}: it is one of the store's files; write the trace elsewhere`);
}

/**
 * `--inspect` and `--trace` on run and resume: started before any task is scheduled; the
 * function returned stops them after the run, telling the page the exit code.
 */
export async function attachRunExtras(overseer: Overseer, o: RunExtras, title: string, io: Io): Promise<(exitCode?: number) => Promise<void>> {
  let writer: TraceWriter | null = null;
  let server: InspectorServer | null = null;
  try {
    checkRunExtras(o);
    // Appended, so `resume --trace` with the same file keeps the first run's records.
    if (o.trace) writer = traceTo(overseer, resolve(o.trace), { append: true });
    if (inspecting(o)) {
      const port = o.inspect === true ? 0 : portNumber(o.inspect as string);
      const host = o.inspectHost ?? '127.0.0.1';
      server = await serve(liveSource(overseer), { port, host, title }, '--inspect');
      announce(server, host, o.json, io);
    }
  } catch (error) {
    // Nothing ran yet: give the store back before saying why.
    writer?.close();
    await overseer.close();
    if (error instanceof InspectInputError) throw error;
    throw new InspectInputError(`${o.trace && !writer ? `--trace ${o.trace}` : '--inspect'}: ${(error as Error).message}`);
  }
  return async (exitCode?: number) => {
    await server?.close(exitCode === undefined ? {} : { exitCode, status: EXIT_STATUS[exitCode] ?? 'finished' });
    writer?.close();
    if (writer && o.trace && !o.json) io.err.write(`overseer: trace of ${writer.records} records in ${o.trace} (overseer replay ${o.trace})\n`);
  };
}

export function registerInspectCommands(cli: Command, io: Io, done: (code: number) => void, defaultStore: string): void {
  cli
    .command('inspect')
    .description('the inspector (a web page on 127.0.0.1) over a store: plan graph, states, timeline, breakpoints to approve; safe while a run holds the store')
    .option('--store <path>', 'the JSON store', defaultStore)
    .option('--port <n>', 'port (0: any free one)', portNumber, 0)
    .option('--host <address>', 'address to bind (anything but loopback exposes the page)', '127.0.0.1')
    .option('--allow-host <name...>', 'with --host beyond loopback: more names the page may be reached by (a DNS name of this machine)')
    .option('--json', 'print {type:"inspector.listening", url} on stdout')
    .action(async (o: { store: string; port: number; host: string; allowHost?: string[]; json?: boolean }) => {
      const path = resolve(o.store);
      if (!existsSync(path) && !existsSync(`${path}.journal`)) throw new InspectInputError(`no store at ${o.store}: start one with \`overseer run <plan> --store ${o.store}\``);
      // A store that cannot be read now is bad input, as for `overseer status`; later failures are reported as they come.
      try {
        readStore(path);
      } catch (error) {
        throw new InspectInputError((error as Error).message);
      }
      const onError = (message: string) => io.err.write(`overseer: cannot read the store: ${message}\n`);
      const server = await serve(storeSource(path, 500, onError), { port: o.port, host: o.host, title: `Overseer: ${o.store}`, ...(o.allowHost ? { allowHosts: o.allowHost } : {}) }, '--port');
      // Listening for Ctrl-C before the URL is out: whoever reads it may stop us at once.
      const stopped = untilStopped();
      announce(server, o.host, o.json, io);
      await stopped;
      await server.close();
      done(0);
    });

  cli
    .command('replay <trace>')
    .description('a trace (run --trace) in the inspector with a time slider; with --json, replayed through the machines to final states')
    .option('--port <n>', 'port (0: any free one)', portNumber, 0)
    .option('--host <address>', 'address to bind (anything but loopback exposes the page)', '127.0.0.1')
    .option('--allow-host <name...>', 'with --host beyond loopback: more names the page may be reached by')
    .option('--json', 'replay through the pure transitions and print the final state of every actor (mismatches give index and line)')
    .action(async (file: string, o: { port: number; host: string; allowHost?: string[]; json?: boolean }) => {
      if (!existsSync(file)) throw new InspectInputError(`no trace at ${file}`);
      if (!statSync(file).isFile()) throw new InspectInputError(`${file} is not a trace file (a directory?)`);
      const trace = readTrace(file);
      for (const w of trace.warnings) io.err.write(`overseer: ${w}\n`);
      if (o.json) {
        const result = replayTrace(trace);
        io.out.write(`${JSON.stringify({ type: 'replay.finished', records: trace.records.length, events: result.events, mismatches: result.mismatches, actors: result.actors })}\n`);
        return done(result.mismatches.length ? 1 : 0);
      }
      const server = await serve(replaySource(trace.records), { port: o.port, host: o.host, title: `Overseer replay: ${file}`, ...(o.allowHost ? { allowHosts: o.allowHost } : {}) }, '--port');
      const stopped = untilStopped(); // before the URL is out, as above
      announce(server, o.host, false, io, false);
      await stopped;
      await server.close();
      done(0);
    });
}

/** Waits for the run, then stops the extras, telling the page how it ended (the exit code). */
export async function withRunExtras(stop: (exitCode?: number) => Promise<void>, run: Promise<number>): Promise<number> {
  let code: number;
  try {
    code = await run;
  } catch (error) {
    await stop();
    throw error;
  }
  await stop(code);
  return code;
}
