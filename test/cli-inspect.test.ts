/**
 * `overseer run --trace --inspect`, `overseer replay`, `overseer inspect` as a user runs them
 * (child processes from source): the printed URL with its token, a trace that replays to the
 * run's final states, the inspector over a store.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelMessage } from '../runtime/inspector/model.js';
import { readTrace, replayTrace } from '../runtime/index.js';
import { cleanUpClis, ROOT, runCli, startCli, tempDir, until } from './helpers/cli.js';
import { openSse } from './helpers/sse.js';

afterEach(() => cleanUpClis());

/** Fails once (a marker file tells the second attempt apart), so the trace holds a retry. */
const PLAN = `name: traced
defaults: { retries: 2, retryDelay: 20ms }
tasks:
  - { id: fetch, command: 'node -e "0"' }
  - { id: flaky, command: 'test -f marker || { touch marker; exit 1; }', dependsOn: [fetch] }
  - { id: ship, command: 'node -e "0"', dependsOn: [flaky] }
`;

describe('overseer run --trace --inspect, replay, inspect', () => {
  it('prints the inspector URL with its token, writes a trace, and the trace replays to the final states', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p.plan.yaml'), PLAN);
    const trace = join(dir, 'run.ndjson');
    const run = await runCli('run', join(dir, 'p.plan.yaml'), '--store', join(dir, 's.json'), '--json', '--inspect', '0', '--trace', trace);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; url?: string });
    const listening = lines.find((l) => l.type === 'inspector.listening');
    expect(listening?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{20,}$/);
    expect(existsSync(trace)).toBe(true);

    const replay = await runCli('replay', trace, '--json');
    expect(replay.code).toBe(0);
    const result = JSON.parse(replay.stdout) as { mismatches: unknown[]; actors: Record<string, { value: string; context: { attempts: number } }> };
    expect(result.mismatches).toEqual([]);
    expect(Object.entries(result.actors).filter(([id]) => id.startsWith('task:')).map(([id, a]) => [id, a.value])).toEqual([
      ['task:fetch', 'completed'],
      ['task:flaky', 'completed'],
      ['task:ship', 'completed'],
    ]);
    expect(result.actors['task:flaky']!.context.attempts).toBe(2);
    expect(result.actors.supervisor!.value).toBe('closed');
  });

  it('serves the inspector over a store until Ctrl-C', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p.plan.yaml'), PLAN);
    const store = join(dir, 's.json');
    expect((await runCli('run', join(dir, 'p.plan.yaml'), '--store', store)).code).toBe(0);
    const cli = startCli(['inspect', '--store', store, '--json']);
    const url = await until('the inspector URL', () => /"url":"([^"]+)"/.exec(cli.stdout())?.[1]);
    const stream = openSse(new URL('/events', url).href);
    const model = (await stream.next((e) => e.event === 'model')).data as ModelMessage;
    stream.close();
    expect(model.counts).toMatchObject({ total: 3, completed: 3 });
    cli.child.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
  });

  it('refuses what is not there', async () => {
    const dir = tempDir();
    const replay = await runCli('replay', join(dir, 'none.ndjson'));
    expect(replay.code).toBe(2);
    expect(replay.stderr).toMatch(/no trace at/);
    writeFileSync(join(dir, 'bad.ndjson'), '{"type":"overseer.trace","version":1,"machines":{}}\nnot json\n');
    const bad = await runCli('replay', join(dir, 'bad.ndjson'), '--json');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.ndjson:2: not a JSON line/);
    const inspect = await runCli('inspect', '--store', join(dir, 'nothing.json'));
    expect(inspect.code).toBe(2);
    expect(inspect.stderr).toMatch(/no store at/);
  });
});

/** A port something else already listens on (loopback). */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

describe('the inspector commands, as a fresh user meets them', { timeout: 60_000 }, () => {
  it('run --inspect without a terminal waits at a breakpoint for the page’s Approve, and the page hears the run finish', async () => {
    const dir = tempDir();
    const cli = startCli(['run', join(ROOT, 'test/fixtures/bp/milestone.plan.yaml'), '--store', join(dir, 's.json'), '--json', '--inspect']);
    const url = await until('the inspector URL', () => /"url":"([^"]+)"/.exec(cli.stdout())?.[1]);
    const token = new URL(url).hash.replace('#token=', '');
    const stream = openSse(new URL('/events', url).href);
    try {
      await stream.next((e) => e.event === 'diff' && (e.data as ModelMessage).breakpoints.some((b) => b.state === 'awaiting'), 15_000);
      expect(cli.child.exitCode).toBeNull(); // still waiting, not exit 3
      const res = await fetch(new URL('/api/approve', url), { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` }, body: JSON.stringify({ target: 'bp-1' }) });
      expect(await res.json()).toMatchObject({ ok: true });
      expect((await stream.next((e) => e.event === 'finished', 15_000)).data).toEqual({ status: 'completed', exitCode: 0 });
    } finally {
      stream.close();
    }
    expect((await cli.exited).code).toBe(0);
  });

  it('refuses a corrupt store, a busy port and a directory for a trace with one line and exit 2', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'corrupt.json'), '{ not json');
    const corrupt = await runCli('inspect', '--store', join(dir, 'corrupt.json'));
    expect(corrupt.code).toBe(2);
    expect(corrupt.stderr).toMatch(/corrupt\.json/);

    writeFileSync(join(dir, 'p.plan.yaml'), PLAN);
    const store = join(dir, 's.json');
    const trace = join(dir, 't.ndjson');
    expect((await runCli('run', join(dir, 'p.plan.yaml'), '--store', store, '--trace', trace)).code).toBe(0);
    const { port, server } = await busyPort();
    try {
      for (const args of [['inspect', '--store', store, '--port', String(port)], ['replay', trace, '--port', String(port)]]) {
        const r = await runCli(...args);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toBe(`overseer: --port ${port}: the port is in use (0 picks a free one)\n`);
      }
    } finally {
      server.close();
    }
    mkdirSync(join(dir, 'traces'));
    const isDir = await runCli('replay', join(dir, 'traces'));
    expect(isDir.code).toBe(2);
    expect(isDir.stderr).toMatch(/^overseer: .*traces is not a trace file/);
  });

  it('resume --trace continues the trace; --trace on the store’s own files is refused', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'p.plan.yaml'), PLAN);
    const store = join(dir, 's.json');
    const trace = join(dir, 't.ndjson');
    expect((await runCli('run', join(dir, 'p.plan.yaml'), '--store', store, '--trace', trace)).code).toBe(0);
    const first = readTrace(trace).records.length;
    const resume = await runCli('resume', '--store', store, '--trace', trace);
    expect(resume.code, resume.stderr).toBe(0);
    const both = readTrace(trace);
    expect(both.records.length).toBeGreaterThan(first);
    expect(both.records.filter((r) => r.type === '@xstate.actor' && r.actorId === 'supervisor').length).toBeGreaterThanOrEqual(2);
    expect(replayTrace(both).mismatches).toEqual([]);
    const before = readFileSync(store, 'utf8');
    for (const target of [store, `${store}.journal`]) {
      const r = await runCli('resume', '--store', store, '--trace', target);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/is one of the store's files/);
    }
    expect(readFileSync(store, 'utf8')).toBe(before);
  });

  it('helps plainly, gives a replay no token, and stops quietly when its reader does', async () => {
    const inspectHelp = await runCli('inspect', '--help');
    const hostHelp = inspectHelp.stdout.slice(inspectHelp.stdout.indexOf('--host'), inspectHelp.stdout.indexOf('--allow-host'));
    expect(hostHelp.match(/127\.0\.0\.1/g)).toHaveLength(1);
    // Help is wrapped to the terminal: read it as one line.
    const runHelp = (await runCli('run', '--help')).stdout.replace(/\s+/g, ' ');
    expect(runHelp).toMatch(/bare --inspect picks a free port/);
    expect(runHelp).toMatch(/unless --wait is given/);

    const dir = tempDir();
    writeFileSync(join(dir, 'p.plan.yaml'), PLAN);
    const trace = join(dir, 't.ndjson');
    expect((await runCli('run', join(dir, 'p.plan.yaml'), '--store', join(dir, 's.json'), '--trace', trace)).code).toBe(0);
    const replay = startCli(['replay', trace]);
    const line = await until('the replay URL', () => /inspector: (\S+)/.exec(replay.stderr())?.[1]);
    expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    replay.child.kill('SIGINT');
    expect(await replay.exited).toEqual({ code: 0, signal: null });

    // `| true` has closed the pipe before the replay writes: EPIPE, not a stack trace.
    const piped = spawnSync('bash', ['-c', `"${process.execPath}" --import tsx runtime/cli.ts replay "${trace}" --json | true; echo "exit=\${PIPESTATUS[0]}" >&2`], { cwd: ROOT, encoding: 'utf8' });
    expect(piped.stderr).not.toMatch(/EPIPE|at /);
    expect(piped.stderr).toMatch(/exit=0/);
  });
});
