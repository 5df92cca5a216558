/**
 * The CLI's inspector and trace commands:
 *
 *   overseer inspect [--store] [--port] [--host]        the inspector over a store (safe while a run holds it)
 *   overseer replay <trace> [--port] [--host] [--json]   a trace in the inspector with a time slider, or replayed to JSON
 *   overseer run|resume … --inspect [port] --trace <file>   (attachRunExtras) the same for a live run
 *
 * The URL printed carries the per-run token in its fragment; without it the page is read-only.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { OverseerError } from './errors.js';
import { isLoopback } from './inspector/guard.js';
import { startInspector, type InspectorServer } from './inspector/server.js';
import { liveSource, replaySource, storeSource } from './inspector/sources.js';
import type { Overseer } from './overseer.js';
import { readTrace, replayTrace, traceTo, type TraceWriter } from './trace.js';

interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

class InspectInputError extends OverseerError {
  override name = 'InspectInputError';
}

export function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0..65535 (0: any free port)');
  return n;
}

/** Tells where the inspector is: a line on stderr, or a JSON line on stdout with --json. */
function announce(server: InspectorServer, host: string, json: boolean | undefined, io: Io): void {
  if (json) io.out.write(`${JSON.stringify({ type: 'inspector.listening', url: server.urlWithToken })}\n`);
  else io.err.write(`inspector: ${server.urlWithToken}\n`);
  if (!isLoopback(host)) io.err.write(`overseer: the inspector listens on ${host}: anyone who can reach it can watch; commands still need the token\n`);
}

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
    .option('--inspect [port]', 'serve the inspector (a web page on 127.0.0.1) while the run lasts; the URL with its token is printed')
    .option('--inspect-host <address>', 'address the inspector binds (default 127.0.0.1; anything else exposes it)')
    .option('--trace <file>', 'record every inspection record as NDJSON (overseer replay <file>)');
}

export interface RunExtras {
  inspect?: string | boolean;
  inspectHost?: string;
  trace?: string;
  json?: boolean;
}

/** `--inspect` and `--trace` on run and resume: started before any task is scheduled; the function returned stops them after the run. */
export async function attachRunExtras(overseer: Overseer, o: RunExtras, title: string, io: Io): Promise<() => Promise<void>> {
  let writer: TraceWriter | null = null;
  let server: InspectorServer | null = null;
  try {
    if (o.trace) writer = traceTo(overseer, resolve(o.trace));
    if (o.inspect !== undefined && o.inspect !== false) {
      const port = o.inspect === true ? 0 : portNumber(o.inspect);
      const host = o.inspectHost ?? '127.0.0.1';
      server = await startInspector(liveSource(overseer), { port, host, title });
      announce(server, host, o.json, io);
    }
  } catch (error) {
    // Nothing ran yet: give the store back before saying why.
    writer?.close();
    await overseer.close();
    throw new InspectInputError(`${o.trace && !writer ? `--trace ${o.trace}` : '--inspect'}: ${(error as Error).message}`);
  }
  return async () => {
    await server?.close();
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
    .option('--host <address>', 'address to bind (default 127.0.0.1; anything else exposes the page)', '127.0.0.1')
    .option('--json', 'print {type:"inspector.listening", url} on stdout')
    .action(async (o: { store: string; port: number; host: string; json?: boolean }) => {
      const path = resolve(o.store);
      if (!existsSync(path) && !existsSync(`${path}.journal`)) throw new InspectInputError(`no store at ${o.store}: start one with \`overseer run <plan> --store ${o.store}\``);
      const server = await startInspector(storeSource(path), { port: o.port, host: o.host, title: `Overseer: ${o.store}` });
      announce(server, o.host, o.json, io);
      await untilStopped();
      await server.close();
      done(0);
    });

  cli
    .command('replay <trace>')
    .description('a trace (run --trace) in the inspector with a time slider; with --json, replayed through the machines to final states')
    .option('--port <n>', 'port (0: any free one)', portNumber, 0)
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--json', 'replay through the pure transitions and print the final state of every actor')
    .action(async (file: string, o: { port: number; host: string; json?: boolean }) => {
      if (!existsSync(file)) throw new InspectInputError(`no trace at ${file}`);
      const trace = readTrace(file);
      for (const w of trace.warnings) io.err.write(`overseer: ${w}\n`);
      if (o.json) {
        const result = replayTrace(trace);
        io.out.write(`${JSON.stringify({ type: 'replay.finished', records: trace.records.length, events: result.events, mismatches: result.mismatches, actors: result.actors })}\n`);
        return done(result.mismatches.length ? 1 : 0);
      }
      const server = await startInspector(replaySource(trace.records), { port: o.port, host: o.host, title: `Overseer replay: ${file}` });
      announce(server, o.host, false, io);
      await untilStopped();
      await server.close();
      done(0);
    });
}
