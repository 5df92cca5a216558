/**
 * `overseer run --trace --inspect`, `overseer replay`, `overseer inspect` as a user runs them
 * (child processes from source): the printed URL with its token, a trace that replays to the
 * run's final states, the inspector over a store.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelMessage } from '../runtime/inspector/model.js';
import { cleanUpClis, runCli, startCli, tempDir, until } from './helpers/cli.js';
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
