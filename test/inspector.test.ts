/**
 * The inspector over HTTP: the live stream (a whole model, then diffs), the drawings, the
 * commands and who may send them (token, Host, Origin), the loopback bind, a replay's slider.
 */
import { request } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOverseer, jsonFileStore, liveSource, readTrace, replaySource, startInspector, storeSource, traceTo, type InspectorServer, type Overseer } from '../runtime/index.js';
import { allowedHosts, urlHost } from '../runtime/inspector/guard.js';
import type { ModelMessage } from '../runtime/inspector/model.js';
import { openSse } from './helpers/sse.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function live(): Promise<{ overseer: Overseer; server: InspectorServer }> {
  const overseer = createOverseer();
  overseer.scheduleTasks([
    { id: 'fetch', title: 'Fetch the sources' },
    { id: 'build', dependencies: ['fetch'] },
  ]);
  const server = await startInspector(liveSource(overseer), { batchMs: 20 });
  cleanups.push(() => overseer.close(), () => server.close());
  return { overseer, server };
}

const post = (server: InspectorServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(new URL(path, server.url), { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
const auth = (server: InspectorServer) => ({ Authorization: `Bearer ${server.token}` });

/** A raw request, so the test can send a Host header a browser would send after DNS rebinding. */
function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the inspector server', () => {
  it('streams the whole model, then only what changed, in batches', async () => {
    const { overseer, server } = await live();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(server.urlWithToken).toBe(`${server.url}#token=${server.token}`);
    const stream = openSse(new URL('/events', server.url).href);
    cleanups.push(() => stream.close());
    const hello = await stream.next((e) => e.event === 'hello');
    expect(hello.data).toEqual({ mode: 'live', records: null, canCommand: true });
    const model = (await stream.next((e) => e.event === 'model')).data as ModelMessage;
    expect(model.tasks.map((t) => [t.id, t.state])).toEqual([['fetch', 'ready'], ['build', 'pending']]);
    expect(model.tasks[0]!.title).toBe('Fetch the sources');
    expect(model.counts).toMatchObject({ total: 2, ready: 1, pending: 1 });
    expect(model.supervisor).toEqual({ state: 'running', pausedProjects: [] });

    overseer.getNextTask();
    overseer.markComplete('fetch', { files: 3 });
    const diff = (await stream.next((e) => e.event === 'diff' && (e.data as ModelMessage).tasks.some((t) => t.id === 'fetch' && t.state === 'completed'))).data as ModelMessage;
    // Only the two tasks that changed, each once however many transitions it took.
    expect(diff.tasks.map((t) => t.id).sort()).toEqual(['build', 'fetch']);
    expect(diff.tasks.find((t) => t.id === 'fetch')!.output).toBe('{"files":3}');
    expect(diff.timeline.map((e) => `${e.actorId} ${e.from}→${e.to}`)).toEqual(['task:fetch ready→running', 'task:fetch running→completed', 'task:build pending→ready']);
    expect(diff.counts).toMatchObject({ completed: 1, ready: 1 });
  });

  it('draws the plan and the three statecharts as SVG, each node titled by its id or state', async () => {
    const { server } = await live();
    const graph = (await (await fetch(new URL('/graph', server.url))).json()) as { svg: string };
    expect(graph.svg).toContain('<title>fetch</title>');
    expect(graph.svg).toContain('<title>fetch&#45;&gt;build</title>');
    const machines = (await (await fetch(new URL('/machines', server.url))).json()) as Record<string, string>;
    expect(Object.keys(machines)).toEqual(['task', 'breakpoint', 'supervisor']);
    expect(machines.task).toContain('<title>retrying</title>');
    expect(machines.breakpoint).toContain('<title>autoResolving</title>');
    const page = await fetch(server.url);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('<script src="/app.js" defer></script>');
  });

  it('takes commands only with the token, from itself, as JSON', async () => {
    const { overseer, server } = await live();
    const bp = overseer.triggerBreakpoint('architecture_decision', { taskId: 'fetch' });
    const noToken = await post(server, '/api/approve', { target: bp.id });
    expect(noToken.status).toBe(401);
    expect(((await noToken.json()) as { message: string }).message).toMatch(/token/);
    expect((await post(server, '/api/approve', { target: bp.id }, { Authorization: 'Bearer nope' })).status).toBe(403);
    expect((await post(server, '/api/approve', { target: bp.id }, { ...auth(server), Origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(server, '/api/approve', { target: bp.id }, { ...auth(server), 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    const form = await fetch(new URL('/api/approve', server.url), { method: 'POST', headers: { ...auth(server), 'Content-Type': 'application/x-www-form-urlencoded' }, body: `target=${bp.id}` });
    expect(form.status).toBe(415);
    expect((await post(server, '/api/approve', { target: 7 }, auth(server))).status).toBe(400);
    expect((await post(server, '/api/explode', { target: bp.id }, auth(server))).status).toBe(404);
    expect(overseer.getBreakpoint(bp.id)!.state).toBe('awaiting');

    const ok = await post(server, '/api/approve', { target: bp.id, note: 'fine' }, { ...auth(server), Origin: server.url.slice(0, -1) });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, state: 'resolved' });
    expect(overseer.getBreakpoint(bp.id)!.resolution).toMatchObject({ by: 'inspector', note: 'fine', action: 'continue' });
    // Resolving twice is refused by the runtime, and said so.
    const again = await post(server, '/api/approve', { target: bp.id }, auth(server));
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toMatch(/only once/);
    const cancel = await post(server, '/api/cancel', { target: 'build', note: 'not needed' }, auth(server));
    expect(await cancel.json()).toMatchObject({ ok: true, state: 'cancelled' });
  });

  it('answers only to its own host names (DNS rebinding) and binds loopback by default', async () => {
    const { server } = await live();
    expect((await rawGet(server.port, '/events', 'evil.example:80')).status).toBe(403);
    expect((await rawGet(server.port, '/', `evil.example:${server.port}`)).status).toBe(403);
    expect((await rawGet(server.port, '/graph', `localhost:${server.port}`)).status).toBe(200);
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) {
      // Not listening there at all.
      await expect(fetch(`http://${external.address}:${server.port}/`)).rejects.toThrow();
    }
  });

  it('draws no graph past the limit and sends one batch for a burst of thousands of transitions', async () => {
    const overseer = createOverseer();
    cleanups.push(() => overseer.close());
    overseer.scheduleTasks(Array.from({ length: 2_000 }, (_, i) => ({ id: `t${i}` })));
    const server = await startInspector(liveSource(overseer), { batchMs: 50 });
    cleanups.push(() => server.close());
    const graph = (await (await fetch(new URL('/graph', server.url))).json()) as { svg: string | null; reason: string };
    expect(graph.svg).toBeNull();
    expect(graph.reason).toMatch(/2000 tasks: the graph is drawn up to 300/);
    const stream = openSse(new URL('/events', server.url).href);
    cleanups.push(() => stream.close());
    await stream.next((e) => e.event === 'model');
    for (let t = overseer.getNextTask(); t; t = overseer.getNextTask()) overseer.markComplete(t.id);
    const diff = (await stream.next((e) => e.event === 'diff')).data as ModelMessage;
    // 4,000 transitions, one message: each task once, the timeline capped.
    expect(diff.tasks).toHaveLength(2_000);
    expect(diff.counts.completed).toBe(2_000);
    expect(diff.timeline.length).toBeLessThanOrEqual(300);
    expect(stream.seen.filter((e) => e.event === 'diff')).toHaveLength(1);
  });

  it('checks its options', async () => {
    expect(() => liveSource({} as never)).toThrow(/overseer: must be an Overseer/);
    expect(() => storeSource('', 1)).toThrow(/path: must be the path of a store[\s\S]*intervalMs: must be at least 10 ms/);
    expect(() => replaySource([{ type: '@xstate.nope' }] as never)).toThrow(/records\[0\]: type: must be @xstate.actor/);
    await expect(startInspector(null as never)).rejects.toThrow(/source: must be an inspector source/);
    const overseer = createOverseer();
    cleanups.push(() => overseer.close());
    await expect(startInspector(liveSource(overseer), { port: 70000 })).rejects.toThrow(/options.port: must be a port number/);
    await expect(startInspector(liveSource(overseer), { token: 'short' })).rejects.toThrow(/options.token/);
  });

  it('serves a trace with a time slider and takes no commands', async () => {
    const overseer = createOverseer();
    const file = join(mkdtempSync(join(tmpdir(), 'overseer-insp-')), 't.ndjson');
    const writer = traceTo(overseer, file);
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    overseer.getNextTask();
    overseer.markComplete('a');
    await overseer.close();
    writer.close();
    const { records } = readTrace(file);
    const server = await startInspector(replaySource(records));
    cleanups.push(() => server.close());
    const atEnd = (await (await fetch(new URL(`/api/model?at=${records.length}`, server.url))).json()) as ModelMessage;
    expect(atEnd.tasks.map((t) => t.state)).toEqual(['completed', 'ready']);
    const firstStart = records.findIndex((r) => r.type === '@xstate.event' && r.event.type === 'START');
    const before = (await (await fetch(new URL(`/api/model?at=${firstStart}`, server.url))).json()) as ModelMessage;
    expect(before.tasks.map((t) => t.state)).toEqual(['ready', 'pending']);
    expect((await fetch(new URL('/api/model?at=-1', server.url))).status).toBe(400);
    expect((await post(server, '/api/approve', { target: 'bp-1' }, auth(server))).status).toBe(405);
  });

  it('watches a store another process holds, and sends commands through its inbox', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'overseer-insp-')), 'state.json');
    const holder = createOverseer({ store: jsonFileStore(path) });
    cleanups.push(() => holder.close());
    holder.scheduleTasks([{ id: 'one' }, { id: 'two', dependencies: ['one'] }]);
    await holder.flush();
    const server = await startInspector(storeSource(path, 50), { batchMs: 20 });
    cleanups.push(() => server.close());
    const stream = openSse(new URL('/events', server.url).href);
    cleanups.push(() => stream.close());
    const model = (await stream.next((e) => e.event === 'model')).data as ModelMessage;
    expect(model.tasks.map((t) => [t.id, t.state])).toEqual([['one', 'ready'], ['two', 'pending']]);
    holder.getNextTask();
    await holder.flush();
    await stream.next((e) => e.event === 'diff' && (e.data as ModelMessage).tasks.some((t) => t.id === 'one' && t.state === 'running'));
    // The holder answers the inbox as `overseer run` does.
    const { serveInbox } = await import('../runtime/control.js');
    const stop = serveInbox(holder, path, 25);
    cleanups.push(stop);
    const res = await post(server, '/api/cancel', { target: 'one' }, auth(server));
    expect(await res.json()).toMatchObject({ ok: true, state: 'cancelled' });
    expect(holder.getTaskStatus('one')!.state).toBe('cancelled');
  });
});

describe('the inspector at the end of a run, beyond loopback, over a store in trouble', () => {
  it('on close, sends the batch still pending and then `finished` with the exit code', async () => {
    const overseer = createOverseer();
    cleanups.push(() => overseer.close());
    overseer.scheduleTasks([{ id: 'only' }]);
    // A batch interval no test waits out: only close() can send the last change.
    const server = await startInspector(liveSource(overseer), { batchMs: 600_000 });
    const stream = openSse(new URL('/events', server.url).href);
    cleanups.push(() => stream.close());
    await stream.next((e) => e.event === 'model');
    overseer.getNextTask();
    overseer.markComplete('only');
    await server.close({ status: 'completed', exitCode: 0 });
    const diff = (await stream.next((e) => e.event === 'diff')).data as ModelMessage;
    expect(diff.tasks.map((t) => [t.id, t.state])).toEqual([['only', 'completed']]);
    expect((await stream.next((e) => e.event === 'finished')).data).toEqual({ status: 'completed', exitCode: 0 });
    expect(stream.seen.map((e) => e.event)).toEqual(['hello', 'model', 'diff', 'finished']);
  });

  it('prints the address it bound (IPv6 in brackets) and, for every interface, a loopback one to open', async () => {
    expect(urlHost('127.0.0.1')).toBe('127.0.0.1');
    expect(urlHost('::1')).toBe('[::1]');
    expect(urlHost('0.0.0.0')).toBe('127.0.0.1');
    expect(urlHost('::')).toBe('[::1]');
    const overseer = createOverseer();
    cleanups.push(() => overseer.close());
    let server: InspectorServer;
    try {
      server = await startInspector(liveSource(overseer), { host: '::1' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') return; // no IPv6 loopback here
      throw error;
    }
    cleanups.push(() => server.close());
    expect(server.url).toBe(`http://[::1]:${server.port}/`);
    expect((await fetch(server.url)).status).toBe(200);
  });

  it('bound beyond loopback, answers to the machine’s own addresses and host name, and to names it is given', () => {
    const local = allowedHosts('127.0.0.1', 8080);
    expect(local.has(`${hostname().toLowerCase()}:8080`)).toBe(false);
    const all = allowedHosts('0.0.0.0', 8080, ['overseer.example.org']);
    for (const i of Object.values(networkInterfaces()).flat()) {
      if (i) expect(all.has(i.family === 'IPv6' ? `[${i.address}]:8080` : `${i.address}:8080`)).toBe(true);
    }
    expect(all.has(`${hostname().toLowerCase()}:8080`)).toBe(true);
    expect(all.has('overseer.example.org:8080')).toBe(true);
    expect(all.has('evil.example:8080')).toBe(false);
  });

  it('over a store: shows a store nobody runs as closed; reports a store that turns unreadable once, and its recovery', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'overseer-insp-')), 'state.json');
    const writer = createOverseer({ store: jsonFileStore(path) });
    writer.scheduleTasks([{ id: 'one' }]);
    await writer.close();
    const errors: string[] = [];
    const server = await startInspector(storeSource(path, 20, (m) => errors.push(m)), { batchMs: 20 });
    cleanups.push(() => server.close());
    const stream = openSse(new URL('/events', server.url).href);
    cleanups.push(() => stream.close());
    const model = (await stream.next((e) => e.event === 'model')).data as ModelMessage;
    expect(model.supervisor?.state).toBe('closed');

    const good = readFileSync(path, 'utf8');
    writeFileSync(path, '{ not json');
    const problem = await stream.next((e) => e.event === 'problem');
    expect((problem.data as { message: string }).message).toContain(path);
    expect(errors).toHaveLength(1);
    writeFileSync(path, good);
    await stream.next((e) => e.event === 'problem' && (e.data as { message: string | null }).message === null);
    expect(errors).toHaveLength(1);
  });

  it('shows a paused project on the supervisor’s timeline entry (its state stays running)', async () => {
    const { overseer, server } = await live();
    const stream = openSse(new URL('/events', server.url).href);
    cleanups.push(() => stream.close());
    await stream.next((e) => e.event === 'model');
    overseer.pause('default');
    const diff = (await stream.next((e) => e.event === 'diff' && (e.data as ModelMessage).timeline.some((t) => t.actorId === 'supervisor'))).data as ModelMessage;
    expect(diff.timeline.find((t) => t.actorId === 'supervisor')).toMatchObject({ event: 'PAUSE', from: 'running', to: 'running', paused: ['default'] });
    expect(diff.supervisor).toEqual({ state: 'running', pausedProjects: ['default'] });
  });
});
