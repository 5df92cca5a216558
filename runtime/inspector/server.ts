/**
 * The inspector's web server (node:http, no framework): the page, a live stream of the
 * model over server-sent events, the drawings, and the commands.
 *
 *   GET  /                 the page (its script and style at /app.js and /app.css)
 *   GET  /events           SSE: `model` (everything) once, then `diff` batches every batchMs;
 *                          `problem` when the source cannot be read; `finished` when the server closes
 *   GET  /graph            the plan's dependency graph as SVG (JSON: { svg, reason?, version })
 *   GET  /machines         the task, breakpoint and supervisor statecharts (JSON of SVGs)
 *   GET  /api/model?at=N   (replay) the model after the first N records, for the time slider
 *   POST /api/approve|reject|cancel|retry   { target, note?, action? }, with the token
 *
 * SSE rather than WebSocket: the stream only flows one way, EventSource reconnects by
 * itself, and node:http needs nothing more. Loopback by default; see guard.ts for the rest.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValidationError } from '../errors.js';
import type { InspectionRecord } from '../inspection.js';
import { describe, isPlainObject } from '../validate.js';
import { allowedHosts, checkHost, checkMutation, newToken, urlHost } from './guard.js';
import { InspectorModel } from './model.js';
import { PAGE_HTML, PAGE_STYLE } from './page.js';
import { PAGE_SCRIPT } from './page-script.js';
import { drawMachines, drawPlan } from './render.js';
import type { Command, InspectorSource } from './sources.js';

export interface InspectorOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Address to bind; default 127.0.0.1. Anything but loopback exposes the run to the network. */
  host?: string;
  /** How often changes are sent to pages (ms). Default 150. */
  batchMs?: number;
  /** The token mutations need; default: a new random one. */
  token?: string;
  /** Shown in the page's title. */
  title?: string;
  /** More Host names to answer to (a DNS name of this machine), besides its addresses, when bound beyond loopback. */
  allowHosts?: string[];
}

/** How the watched run ended, for the page's last word. */
export interface InspectorEnd {
  status?: string;
  exitCode?: number;
}

export interface InspectorServer {
  /** The page's address, without the token (for a bind on every interface, its loopback address). */
  readonly url: string;
  /** The address bound, as the system reports it (0.0.0.0 or :: for every interface). */
  readonly address: string;
  /** The address to open: carries the token in the fragment, which browsers never send to a server. */
  readonly urlWithToken: string;
  readonly token: string;
  readonly port: number;
  /**
   * Sends what is still batched, tells each page the run finished (with `end`, when known) so
   * it stops reconnecting, and stops serving.
   */
  close(end?: InspectorEnd): Promise<void>;
}

const SECURITY_HEADERS = {
  // No inline script or style, nothing from elsewhere: even markup that slipped into the page could not run.
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

const COMMANDS = new Set(['approve', 'reject', 'cancel', 'retry']);
const ACTIONS = new Set(['continue', 'retry', 'skip', 'cancel']);

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, ...SECURITY_HEADERS });
  res.end(body);
}
const sendJson = (res: ServerResponse, status: number, value: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));

function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > limit) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** Why a command body is unacceptable, or the command. */
function parseCommand(name: string, body: string): Command | string {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return 'the body must be JSON';
  }
  if (!isPlainObject(raw)) return `the body must be an object, got ${describe(raw)}`;
  if (typeof raw.target !== 'string' || raw.target.trim() === '') return `target: must be a task or breakpoint id, got ${describe(raw.target)}`;
  if (raw.note !== undefined && typeof raw.note !== 'string') return `note: must be a string, got ${describe(raw.note)}`;
  if (raw.action !== undefined && !ACTIONS.has(raw.action as string)) return `action: must be continue, retry, skip or cancel, got ${describe(raw.action)}`;
  const c: Command = { command: name as Command['command'], target: raw.target, by: 'inspector' };
  if (typeof raw.note === 'string' && raw.note.trim() !== '') c.note = raw.note;
  if (raw.action !== undefined) c.action = raw.action as Command['action'];
  return c;
}

export async function startInspector(source: InspectorSource, options: InspectorOptions = {}): Promise<InspectorServer> {
  const problems: string[] = [];
  if (!source || typeof source.start !== 'function') problems.push(`source: must be an inspector source, got ${describe(source)}`);
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`options.port: must be a port number 0..65535, got ${describe(port)}`);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.trim() === '') problems.push(`options.host: must be an address, got ${describe(host)}`);
  const batchMs = options.batchMs ?? 150;
  if (!Number.isFinite(batchMs) || batchMs < 10) problems.push(`options.batchMs: must be at least 10 ms, got ${describe(batchMs)}`);
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.length < 16)) problems.push('options.token: must be a string of at least 16 characters');
  if (options.allowHosts !== undefined && !(Array.isArray(options.allowHosts) && options.allowHosts.every((h) => typeof h === 'string' && h.trim() !== ''))) problems.push(`options.allowHosts: must be a list of host names, got ${describe(options.allowHosts)}`);
  if (problems.length) throw new ValidationError('startInspector', problems);

  const token = options.token ?? newToken();
  const model = new InspectorModel();
  const clients = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | null = null;
  // The source's current trouble (a store that cannot be read), sent to pages as they connect.
  let problem: string | null = null;
  const flush = () => {
    timer = null;
    if (!model.dirty) return;
    const diff = model.diff();
    const frame = `event: diff\ndata: ${JSON.stringify(diff)}\n\n`;
    for (const res of clients) res.write(frame);
  };
  const stopFeed = source.start(
    (record) => {
      if (model.apply(record) && timer === null) timer = setTimeout(flush, batchMs);
    },
    (message) => {
      problem = message;
      const frame = `event: problem\ndata: ${JSON.stringify({ message })}\n\n`;
      for (const res of clients) res.write(frame);
    },
  );
  // Everything so far is in the model a page gets when it connects.
  model.diff();

  let hosts = new Set<string>();
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: Error) => {
      if (!res.headersSent) sendJson(res, 500, { ok: false, message: error.message });
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = checkHost(req, hosts);
    if (refusal) return sendJson(res, refusal.status, { ok: false, message: refusal.message });
    const url = new URL(req.url ?? '/', 'http://inspector');
    const path = url.pathname;
    if (req.method === 'POST' && path.startsWith('/api/')) {
      const name = path.slice(5);
      if (!COMMANDS.has(name)) return sendJson(res, 404, { ok: false, message: `no command "${name}"` });
      const denied = checkMutation(req, token);
      if (denied) return sendJson(res, denied.status, { ok: false, message: denied.message });
      if (!source.command) return sendJson(res, 405, { ok: false, message: `a ${source.mode} takes no commands` });
      const c = parseCommand(name, await readBody(req));
      if (typeof c === 'string') return sendJson(res, 400, { ok: false, message: c });
      const answer = await source.command(c);
      return sendJson(res, answer.ok ? 200 : 409, answer);
    }
    if (req.method !== 'GET') return sendJson(res, 405, { ok: false, message: `${req.method} is not served here` });
    switch (path) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML(options.title ?? 'Overseer inspector'));
      case '/app.js':
        return send(res, 200, 'text/javascript; charset=utf-8', PAGE_SCRIPT);
      case '/app.css':
        return send(res, 200, 'text/css; charset=utf-8', PAGE_STYLE);
      case '/favicon.ico':
        res.writeHead(204, SECURITY_HEADERS);
        return void res.end();
      case '/events': {
        res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', ...SECURITY_HEADERS });
        const hello = { mode: source.mode, records: source.records?.length ?? null, canCommand: source.command !== null };
        res.write(`event: hello\ndata: ${JSON.stringify(hello)}\n\nevent: model\ndata: ${JSON.stringify(model.full())}\n\n`);
        if (problem !== null) res.write(`event: problem\ndata: ${JSON.stringify({ message: problem })}\n\n`);
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      case '/graph': {
        const drawing = await drawPlan(model.taskList());
        return sendJson(res, 200, drawing);
      }
      case '/machines':
        return sendJson(res, 200, await drawMachines());
      case '/api/model': {
        if (!source.records) return sendJson(res, 404, { ok: false, message: 'only a replay has a time slider' });
        const at = Number(url.searchParams.get('at') ?? source.records.length);
        if (!Number.isInteger(at) || at < 0 || at > source.records.length) return sendJson(res, 400, { ok: false, message: `at: must be a record number 0..${source.records.length}` });
        return sendJson(res, 200, modelAt(source.records, at));
      }
      default:
        return sendJson(res, 404, { ok: false, message: `nothing at ${path}` });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound, address } = server.address() as AddressInfo;
  hosts = allowedHosts(host, bound, options.allowHosts);
  // The address actually bound (`localhost` may be ::1); a bind on every interface is opened through loopback.
  const url = `http://${urlHost(address)}:${bound}/`;
  // Keep-alive pings: proxies and browsers drop silent streams; a comment line costs nothing.
  const ping = setInterval(() => {
    for (const res of clients) res.write(': ping\n\n');
  }, 15_000);
  ping.unref();
  // Closing twice (the run's end, then a cleanup) closes once.
  let closing: Promise<void> | null = null;
  return {
    url,
    urlWithToken: `${url}#token=${token}`,
    token,
    port: bound,
    address,
    close(end = {}) {
      closing ??= shutDown(end);
      return closing;
    },
  };

  async function shutDown(end: InspectorEnd): Promise<void> {
    stopFeed();
    clearInterval(ping);
    // The last batch goes out rather than being dropped: it holds the run's final states.
    if (timer) clearTimeout(timer);
    flush();
    // Pages stop reconnecting on `finished` instead of showing a dead run as "retrying".
    const finished = `event: finished\ndata: ${JSON.stringify({ status: end.status ?? null, exitCode: end.exitCode ?? null })}\n\n`;
    for (const res of clients) res.end(finished);
    clients.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}

/** The model after the first `at` records of a trace. */
function modelAt(records: readonly InspectionRecord[], at: number) {
  const m = new InspectorModel();
  for (let i = 0; i < at; i++) m.apply(records[i]!);
  const full = m.full();
  return { ...full, at: at > 0 ? records[at - 1]!.at : null };
}
