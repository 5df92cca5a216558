/**
 * Workspace changes become runtime events: real temporary directories, real file-system
 * events (no mocked chokidar), through the public API and the CLI.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createOverseer, type Overseer } from '../runtime/index.js';
import { WorkspaceMonitor } from '../runtime/workspace.js';
import { until as waitUntil } from './helpers/until.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-ws-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const until = (what: string, check: () => boolean, ms = 5000) => waitUntil(what, check, ms);

async function monitor(overseer: Overseer, root: string, protectedPaths: string[] = []): Promise<WorkspaceMonitor> {
  const m = new WorkspaceMonitor(overseer, { root, protectedPaths, debounceMs: 50 });
  cleanups.push(() => m.close());
  await m.ready();
  return m;
}

const shell = (cwd: string) => ({ executor: { type: 'shell', command: 'true', cwd } });

describe('attribution', () => {
  it('records changes under a running task’s working directory on that task, and only there', async () => {
    const root = workspace();
    mkdirSync(join(root, 'api'));
    mkdirSync(join(root, 'web'));
    const o = createOverseer();
    o.scheduleTasks([
      { id: 'api', projectId: 'p', metadata: shell(join(root, 'api')) },
      { id: 'web', projectId: 'p', metadata: shell(join(root, 'web')) },
    ]);
    o.getNextTask();
    o.getNextTask();
    await monitor(o, root);
    writeFileSync(join(root, 'api', 'server.js'), 'x');
    await until('the change on api', () => changed(o, 'api').length > 0);
    expect(changed(o, 'api')).toEqual([expect.objectContaining({ path: 'api/server.js', kind: 'created' })]);
    expect(changed(o, 'web')).toEqual([]);
  });
});

const changed = (o: Overseer, id: string) => o.getTaskStatus(id)!.changedFiles;

describe('the quality stages read the changes the monitor recorded', () => {
  it('for a task working below the watched folder too: a broken file it wrote is found, not skipped', async () => {
    const root = workspace();
    mkdirSync(join(root, 'web'));
    const o = createOverseer();
    o.scheduleTask({ id: 'page', metadata: { ...shell(join(root, 'web')), quality: { gate: { minScore: 0.8 } } } });
    const task = o.getNextTask()!;
    await monitor(o, root);
    writeFileSync(join(root, 'web', 'data.json'), '{ "broken": ');
    await until('the change on page', () => changed(o, 'page').length > 0);
    expect(changed(o, 'page')).toEqual([expect.objectContaining({ path: 'web/data.json' })]); // as the monitor records it
    await o.judgeAttempt(o.getTaskStatus(task.id)!, 'wrote data.json', new AbortController().signal);
    // Looked up under web/ itself, the path (web/web/data.json) named no file: the syntax stage was skipped and the gate passed.
    const record = o.quality.history().at(-1)!;
    expect(record.stages.syntax).not.toBeNull();
    expect(record.errors).toBeGreaterThan(0);
  });
});

describe('triggers', () => {
  it('runs a task again when matching files change, and releases one waiting for a change', async () => {
    const root = workspace();
    const o = createOverseer();
    o.scheduleTasks([
      { id: 'test', metadata: { ...shell(root), onChange: ['src/**'] } },
      { id: 'lint', metadata: { ...shell(root), onChange: ['src/**/*.js'], waitForChange: true } },
    ]);
    o.blockTask('lint', 'waiting_for_change');
    o.getNextTask();
    o.markComplete('test');
    await monitor(o, root);
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'README.md'), 'not a trigger');
    writeFileSync(join(root, 'src', 'a.js'), 'x');
    // The new directory and its file may arrive in separate batches: wait for both effects.
    await until('a re-run of test and lint released', () => o.getTaskStatus('test@2') !== null && o.getTaskStatus('lint')!.state === 'ready');
    expect(o.getTaskStatus('test@2')).toMatchObject({ state: 'ready', metadata: { rerunOf: 'test' } });
    expect(o.getTaskStatus('lint')!.state).toBe('ready');
    // The re-run is the latest: it runs again only after it finished.
    writeFileSync(join(root, 'src', 'b.js'), 'y');
    await new Promise((r) => setTimeout(r, 400));
    expect(o.getTaskStatus('test@3')).toBeNull();
  });
});

describe('re-runs keep the order of dependencies', () => {
  it('a change that runs build and test again makes test@2 wait for build@2', async () => {
    const root = workspace();
    const o = createOverseer();
    o.scheduleTasks([
      { id: 'build', metadata: { ...shell(root), onChange: ['src/**'] } },
      { id: 'test', dependencies: ['build'], metadata: { ...shell(root), onChange: ['src/**'] } },
      { id: 'docs', dependencies: ['build'], metadata: { ...shell(root) } },
    ]);
    for (const id of ['build', 'test', 'docs']) (expect(o.getNextTask()?.id).toBe(id), o.markComplete(id));
    await monitor(o, root);
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'a.js'), 'x');
    await until('both re-runs', () => o.getTaskStatus('build@2') !== null && o.getTaskStatus('test@2') !== null);
    expect(o.getTaskStatus('test@2')).toMatchObject({ state: 'pending', dependencies: ['build@2'] });
    expect(o.getTaskStatus('build@2')!.state).toBe('ready');
    o.getNextTask();
    o.markComplete('build@2');
    expect(o.getTaskStatus('test@2')!.state).toBe('ready');
  });
});

describe('a change that comes while a task runs', () => {
  it('runs the task again once that attempt ends: its result may predate the change', async () => {
    const root = workspace();
    mkdirSync(join(root, 'src'));
    const o = createOverseer();
    o.scheduleTask({ id: 'test', metadata: { ...shell(root), onChange: ['src/**'] } });
    o.getNextTask();
    await monitor(o, root);
    writeFileSync(join(root, 'src', 'a.js'), 'x');
    await until('the change seen', () => changed(o, 'test').length > 0);
    expect(o.getTaskStatus('test@2')).toBeNull(); // not while it runs: two runs of one task at once
    o.markComplete('test');
    await until('the re-run', () => o.getTaskStatus('test@2') !== null);
    expect(o.getTaskStatus('test@2')).toMatchObject({ state: 'ready', metadata: { rerunOf: 'test' } });
  });

  it('does not when the task starts another attempt, which sees the change', async () => {
    const root = workspace();
    mkdirSync(join(root, 'src'));
    const o = createOverseer({ retry: { baseDelayMs: 0 } }); // the retry is due at once
    o.scheduleTask({ id: 'test', metadata: { ...shell(root), onChange: ['src/**'] } });
    o.getNextTask();
    await monitor(o, root);
    writeFileSync(join(root, 'src', 'a.js'), 'x');
    await until('the change seen', () => changed(o, 'test').length > 0);
    await new Promise((r) => setTimeout(r, 300)); // the watcher's later batches of that write, if any, while it still runs
    o.markFailed('test', { message: 'flaky' });
    await until('the retry due', () => o.getTaskStatus('test')!.state === 'ready');
    expect(o.getNextTask()?.id).toBe('test');
    o.markComplete('test');
    await new Promise((r) => setTimeout(r, 200));
    expect(o.getTaskStatus('test@2')).toBeNull();
  });

  it('a task waiting on one that runs again runs again after it: the last test comes after the last build', async () => {
    const root = workspace();
    mkdirSync(join(root, 'src'));
    const o = createOverseer();
    o.scheduleTasks([
      { id: 'build', metadata: { ...shell(root), onChange: ['src/**'] } },
      { id: 'test', dependencies: ['build'], metadata: { ...shell(root), onChange: ['src/**'] } },
      { id: 'deploy', dependencies: ['test'], metadata: { ...shell(root), onChange: ['src/**'] } },
    ]);
    expect(o.getNextTask()?.id).toBe('build');
    await monitor(o, root);
    writeFileSync(join(root, 'src', 'a.js'), 'x'); // while build runs: test and deploy have not started
    await until('the change seen', () => changed(o, 'build').length > 0);
    o.markComplete('build');
    await until('build runs again', () => o.getTaskStatus('build@2') !== null);
    // test starts now, on the old build: once it ends it runs again, after build@2; deploy the same, after test@2.
    expect(o.getNextTask()?.id).toBe('test');
    o.markComplete('test');
    await until('test runs again', () => o.getTaskStatus('test@2') !== null);
    expect(o.getTaskStatus('test@2')).toMatchObject({ state: 'pending', dependencies: ['build@2'] });
    // The rest, in whatever order the queue hands them out (each re-run is made once its run ends).
    const order: string[] = [];
    for (let next = o.getNextTask(); next; next = o.getNextTask()) {
      order.push(next.id);
      o.markComplete(next.id);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(o.getTaskStatus('deploy@2')).toMatchObject({ state: 'completed', dependencies: ['test@2'] });
    expect(order.indexOf('test@2')).toBeGreaterThan(order.indexOf('build@2'));
    expect(order.indexOf('deploy@2')).toBeGreaterThan(order.indexOf('test@2'));
    expect(o.getTasks().map((t) => t.id)).toEqual(['build', 'test', 'deploy', 'build@2', 'test@2', 'deploy@2']);
  });

  it('the re-run waits for the latest run of what it depends on', async () => {
    const root = workspace();
    mkdirSync(join(root, 'src'));
    const o = createOverseer();
    o.scheduleTasks([
      { id: 'build', metadata: { ...shell(root), onChange: ['src/**'] } },
      { id: 'test', dependencies: ['build'], metadata: { ...shell(root), onChange: ['src/**'] } },
    ]);
    o.getNextTask();
    o.markComplete('build');
    expect(o.getNextTask()?.id).toBe('test');
    await monitor(o, root);
    writeFileSync(join(root, 'src', 'a.js'), 'x');
    await until('build runs again', () => o.getTaskStatus('build@2') !== null);
    o.markComplete('test');
    await until('test runs again', () => o.getTaskStatus('test@2') !== null);
    expect(o.getTaskStatus('test@2')).toMatchObject({ state: 'pending', dependencies: ['build@2'] });
  });
});

describe('re-runs for changes during a run, driven by hand', () => {
  const change = (path: string) => [{ kind: 'change' as const, path, at: Date.now() }];
  const tick = () => new Promise((r) => setTimeout(r, 10));
  async function watched(tasks: Parameters<Overseer['scheduleTasks']>[0]) {
    const root = workspace();
    const errors: string[] = [];
    const o = createOverseer();
    o.scheduleTasks(tasks.map((t) => ({ ...t, metadata: { ...shell(root), ...(t.metadata as object) } })));
    const m = new WorkspaceMonitor(o, { root, debounceMs: 10, onError: (e) => errors.push(e.message) });
    cleanups.push(() => m.close());
    await m.ready();
    return { o, m, errors };
  }

  it('a held result accepted, or a skip, settles a run the change came during: it runs again', async () => {
    const { o, m } = await watched([{ id: 'gen', metadata: { onChange: ['src/**'] } }, { id: 'other', metadata: { onChange: ['src/**'] } }]);
    o.getNextTask();
    m.onChanges(change('src/a.ts'));
    expect(o.holdIfUnsure('gen', { response: 'x', confidence: 0.2 })).toBe(true);
    m.onChanges(change('src/b.ts')); // and one while it is held
    o.resolveBreakpoint(o.getPendingBreakpoints()[0]!.id, { action: 'continue' });
    await tick();
    expect(o.getTaskStatus('gen')).toMatchObject({ state: 'completed', attempts: 1 });
    expect(o.getTaskStatus('gen@2')?.state).toBe('ready');
  });

  it('a file saved again during each run: every run is followed by another', async () => {
    const { o, m, errors } = await watched([{ id: 'build', metadata: { onChange: ['src/**'] } }]);
    for (const run of ['build', 'build@2', 'build@3']) {
      expect(o.getNextTask()?.id).toBe(run);
      m.onChanges(change('src/a.ts')); // the same file, saved while each run runs
      o.markComplete(run);
      await tick();
    }
    expect(o.getTaskStatus('build@4')?.state).toBe('ready');
    expect(errors).toEqual([]);
  });

  it('a run that has not started, on a dependency run that runs again, follows it: also when that run fails for good, or a copy is made on it', async () => {
    const { o, m } = await watched([
      { id: 'build', maxRetries: 0, metadata: { onChange: ['src/**'] } },
      { id: 'test', dependencies: ['build'], metadata: { onChange: ['src/**', 'test/**'] } },
    ]);
    o.getNextTask();
    m.onChanges(change('src/a.ts')); // build runs: test (pending) will follow build@2
    o.markFailed('build', { message: 'broken' }); // for good: test is parked behind it
    await tick();
    expect(o.getTaskStatus('test')!.state).toBe('cancelled'); // superseded…
    expect(o.getTaskStatus('test@2')).toMatchObject({ state: 'pending', dependencies: ['build@2'] }); // …by a run on build@2
    expect(o.getNextTask()?.id).toBe('build@2');
    m.onChanges(change('src/b.ts')); // while build@2 runs, and matching test@2 (not started): it follows build@3
    o.markComplete('build@2');
    await tick();
    expect(o.getTaskStatus('build@3')?.state).toBe('ready');
    expect(o.getNextTask()?.id).toBe('test@2');
    o.markComplete('test@2');
    await tick();
    expect(o.getTaskStatus('test@3')).toMatchObject({ dependencies: ['build@3'] });
  });

  it('a copy made on a dependency run that runs again, or a run a change releases, follows that re-run', async () => {
    const { o, m } = await watched([
      { id: 'build', priority: 9, metadata: { onChange: ['src/**'] } },
      { id: 'test', dependencies: ['build'], metadata: { onChange: ['test/**'] } },
      { id: 'lint', priority: 1, dependencies: ['build'], metadata: { onChange: ['src/**'], waitForChange: true } },
    ]);
    o.blockTask('lint', 'waiting_for_change');
    for (const id of ['build', 'test']) (expect(o.getNextTask()?.id).toBe(id), o.markComplete(id));
    m.onChanges(change('src/a.ts')); // build@2, and lint released on the old build
    expect(o.getNextTask()?.id).toBe('build@2');
    m.onChanges([...change('src/a.ts'), ...change('test/t.ts')]); // while build@2 runs: test@2 is made on it
    expect(o.getTaskStatus('test@2')).toMatchObject({ dependencies: ['build@2'] });
    o.markComplete('build@2');
    await tick();
    const order: string[] = [];
    for (let next = o.getNextTask(); next; next = o.getNextTask()) (order.push(next.id), o.markComplete(next.id), await tick());
    expect(o.getTaskStatus('test@3')).toMatchObject({ state: 'completed', dependencies: ['build@3'] });
    expect(order.indexOf('test@3')).toBeGreaterThan(order.indexOf('build@3'));
    expect(o.getTaskStatus('lint@2')).toMatchObject({ state: 'completed', dependencies: ['build@3'] });
  });

  it('a task that cannot be released (its dependency failed) is reported, and the rest of the change goes on', async () => {
    const { o, m, errors } = await watched([
      { id: 'build', maxRetries: 0, metadata: { onChange: ['src/**'] } },
      { id: 'lint', dependencies: ['build'], metadata: { onChange: ['src/**'], waitForChange: true } },
      { id: 'other', metadata: { onChange: ['src/**'] } },
    ]);
    o.blockTask('lint', 'waiting_for_change');
    o.getNextTask();
    o.getNextTask();
    o.markFailed('build', { message: 'broken' });
    o.markComplete('other');
    m.onChanges(change('src/a.ts'));
    expect(errors).toEqual([expect.stringContaining('could not release lint')]);
    expect(o.getTaskStatus('build@2')?.state).toBe('ready');
    expect(o.getTaskStatus('other@2')?.state).toBe('ready');
  });

  it('parked runs that cancel each other as they give way (onDependencyFailure: cancel) are all run again', async () => {
    const { o, m } = await watched([
      { id: 'build', maxRetries: 0, metadata: { onChange: ['src/**'] } },
      { id: 'test', dependencies: ['build'], onDependencyFailure: 'cancel', metadata: { onChange: ['src/**'] } },
      { id: 'deploy', dependencies: ['build', 'test'], onDependencyFailure: 'cancel', metadata: { onChange: ['src/**'] } },
    ]);
    o.getNextTask();
    o.markFailed('build', { message: 'gate', kind: 'quality_gate' }); // a failed gate parks every dependent, whatever its policy
    expect(['test', 'deploy'].map((id) => o.getTaskStatus(id)!.state)).toEqual(['blocked', 'blocked']);
    m.onChanges(change('src/a.ts'));
    expect(o.getTaskStatus('test@2')).toMatchObject({ dependencies: ['build@2'] });
    expect(o.getTaskStatus('deploy@2')).toMatchObject({ dependencies: ['build@2', 'test@2'] });
  });

  it('a copy made on a run that the same change marks later follows it too', async () => {
    const { o, m } = await watched([
      { id: 'build', priority: 9, metadata: { onChange: ['src/**'] } },
      { id: 'mid', priority: 8, dependencies: ['build'], metadata: { onChange: ['src/**'] } },
      { id: 'test', dependencies: ['mid'], metadata: { onChange: ['test/**'] } },
    ]);
    for (const id of ['build', 'mid', 'test']) (expect(o.getNextTask()?.id).toBe(id), o.markComplete(id));
    m.onChanges(change('src/a.ts')); // build@2, mid@2
    expect(o.getNextTask()?.id).toBe('build@2');
    m.onChanges([...change('src/a.ts'), ...change('test/t.ts')]); // build@2 runs: mid@2 follows build@3, and test@2 (on mid@2) follows mid@3
    o.markComplete('build@2');
    await tick();
    const order: string[] = [];
    for (let next = o.getNextTask(); next; next = o.getNextTask()) (order.push(next.id), o.markComplete(next.id), await tick());
    expect(o.getTaskStatus('test@3')).toMatchObject({ state: 'completed', dependencies: ['mid@3'] });
    expect(order.indexOf('test@3')).toBeGreaterThan(order.indexOf('mid@3'));
  });

  it('a re-run it cannot make is reported, and the session goes on', async () => {
    const id = 'x'.repeat(199);
    const { o, m, errors } = await watched([{ id, metadata: { onChange: ['src/**'] } }]);
    o.getNextTask();
    m.onChanges(change('src/a.ts'));
    o.markComplete(id);
    await tick();
    expect(errors).toEqual([expect.stringMatching(/could not run x+ again: .*longer than 200 characters/s)]);
    expect(o.closed).toBe(false);
  });

  it('a re-run parked behind a failed run of its dependency gives way to a new one on the latest runs', async () => {
    const { o, m } = await watched([
      { id: 'build', maxRetries: 0, metadata: { onChange: ['src/**'] } },
      { id: 'test', dependencies: ['build'], metadata: { onChange: ['test/**'] } },
    ]);
    for (const id of ['build', 'test']) (expect(o.getNextTask()?.id).toBe(id), o.markComplete(id));
    m.onChanges(change('src/a.ts'));
    expect(o.getNextTask()?.id).toBe('build@2');
    o.markFailed('build@2', { message: 'broken' });
    m.onChanges(change('test/a.test.ts'));
    expect(o.getTaskStatus('test@2')).toMatchObject({ state: 'blocked', dependencies: ['build@2'], blockedReason: { reason: 'upstream_failed' } });
    m.onChanges(change('src/a.ts')); // the fix
    expect(o.getNextTask()?.id).toBe('build@3');
    o.markComplete('build@3');
    m.onChanges(change('test/a.test.ts'));
    expect(o.getTaskStatus('test@2')!.state).toBe('cancelled');
    expect(o.getTaskStatus('test@3')).toMatchObject({ state: 'ready', dependencies: ['build@3'] });
  });
});

describe('breakpoint rules see the changes', () => {
  it('a protected path touched raises architecture_decision', async () => {
    const root = workspace();
    const o = createOverseer();
    o.scheduleTask({ id: 'a', metadata: shell(root) });
    await monitor(o, root, ['infra/**']);
    mkdirSync(join(root, 'infra'));
    writeFileSync(join(root, 'infra', 'db.tf'), 'x');
    await until('the breakpoint', () => o.getPendingBreakpoints().length > 0);
    const [bp] = o.getPendingBreakpoints();
    expect(bp).toMatchObject({ type: 'architecture_decision' });
    // The directory may be seen before its file: either way the protected path is named.
    expect((bp!.data as { changes: { protected: string[] } }).changes.protected[0]).toMatch(/^infra/);
    expect(o.getNextTask()).toBeNull();
  });
});

describe('shutdown', () => {
  it('closing the monitor leaves no watcher or timer behind', async () => {
    const root = workspace();
    const before = process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap' || r === 'Timeout').length;
    const o = createOverseer();
    const m = new WorkspaceMonitor(o, { root });
    await m.ready();
    writeFileSync(join(root, 'x.txt'), 'x');
    await m.close();
    const after = process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap' || r === 'Timeout').length;
    expect(after).toBeLessThanOrEqual(before);
  });

  it('`overseer run --watch` re-runs on a change, holds a waitForChange task until one, and exits by itself after Ctrl-C', async () => {
    const root = workspace();
    mkdirSync(join(root, 'src'));
    writeFileSync(
      join(root, 'plan.yaml'),
      [
        'tasks:',
        '  - id: build',
        '    command: "true"',
        '    onChange: ["src/**"]',
        '  - id: lint', // a new store: scheduled after the watcher started, and held all the same
        '    command: "true"',
        '    onChange: ["src/**"]',
        '    waitForChange: true',
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'runtime/cli.ts', 'run', join(root, 'plan.yaml'), '--store', join(root, '.overseer/s.json'), '--watch'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until('the first build', () => out.includes('build running → completed'), 15_000);
    expect(out).not.toContain('lint ready → running'); // it waits for a first change
    writeFileSync(join(root, 'src', 'main.js'), 'x');
    await until('the re-run', () => out.includes('build@2 running → completed'), 15_000);
    await until('lint, on the first change', () => out.includes('lint running → completed'), 15_000);
    child.kill('SIGINT');
    // Exiting at all means nothing (watcher, timer) kept the process alive.
    expect(await exited).toBe(0);
  }, 30_000);
});
