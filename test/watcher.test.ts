/**
 * The workspace watcher against real directories and real file-system events (no mocked chokidar).
 * Nothing sleeps for a fixed time and then asserts: tests wait (bounded) for the callback they
 * expect, and prove that something did NOT arrive by writing a sentinel file afterwards and waiting
 * for that instead; changes are delivered in order, so once the sentinel is in, the rest is too.
 */
import { createHook } from 'node:async_hooks';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchWorkspace, WorkspaceWatchError, type WatchWorkspaceOptions } from '../actors/watcher.js';
import { ChangeDetector, detectEvents, type RawChange, type WorkspaceEvent } from '../runtime/change-detector.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Polls `probe` every 10 ms until it returns something truthy; fails after `timeoutMs`. */
async function waitFor<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A fresh temporary workspace with a started, ready watcher that records every batch and error. */
async function workspace(options: Partial<WatchWorkspaceOptions> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'overseer-watch-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const batches: RawChange[][] = [], errors: Error[] = [];
  const watcher = watchWorkspace(root, { onChanges: (b) => batches.push(b), onError: (e) => errors.push(e), ...options });
  cleanups.push(() => watcher.close());
  await watcher.ready();
  const all = (): RawChange[] => batches.flat();
  const file = (rel: string, content = 'x'): void => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), content);
  };
  /** Waits until `path` has been delivered (with `kind`, if given), returning that change. */
  const seen = (path: string, kind?: RawChange['kind']) =>
    waitFor(() => all().find((c) => c.path === path && (kind === undefined || c.kind === kind)), `${kind ?? 'a change'} of ${path}`);
  /** Writes a new file and waits for it: everything caused before it has been delivered by then. */
  let sentinels = 0;
  const settle = async (): Promise<void> => {
    const name = `sentinel-${++sentinels}.txt`;
    file(name);
    await seen(name);
  };
  return { root, watcher, batches, errors, all, file, seen, settle };
}

describe('watchWorkspace', () => {
  it('reports a created, modified and deleted file with the right kinds, relative paths and injected time', async () => {
    const ws = await workspace({ now: () => 42 });
    ws.file('src/a.ts', 'one');
    expect(await ws.seen('src/a.ts')).toEqual({ kind: 'add', path: 'src/a.ts', at: 42 });
    expect(detectEvents(ws.batches.at(-1)!).map((e) => e.type)).toContain('file.created');

    ws.batches.length = 0;
    writeFileSync(join(ws.root, 'src/a.ts'), 'two, longer');
    expect((await ws.seen('src/a.ts')).kind).toBe('change');
    expect(detectEvents(ws.all()).find((e) => e.paths.includes('src/a.ts'))?.type).toBe('file.modified');

    ws.batches.length = 0;
    unlinkSync(join(ws.root, 'src/a.ts'));
    expect((await ws.seen('src/a.ts')).kind).toBe('unlink');
    expect(detectEvents(ws.all()).find((e) => e.paths.includes('src/a.ts'))?.type).toBe('file.deleted');
    expect(ws.errors).toEqual([]);
  });

  it('collapses rapid writes to one path into a single change', async () => {
    // awaitWriteFinish off, so the collapsing is the debounce's own: chokidar alone reports about
    // one change per 50 ms here. A roomy debounce keeps a loaded machine from splitting the burst.
    const ws = await workspace({ awaitWriteFinishMs: 0, debounceMs: 250 });
    ws.file('busy.txt', 'start');
    await ws.seen('busy.txt', 'add');
    ws.batches.length = 0;
    for (let i = 0; i < 10; i++) {
      writeFileSync(join(ws.root, 'busy.txt'), `write ${i} `.repeat(i + 1));
      await new Promise((r) => setTimeout(r, 20)); // pacing the writes, not waiting for a result
    }
    await ws.seen('busy.txt', 'change');
    await ws.settle();
    expect(ws.all().filter((c) => c.path === 'busy.txt')).toHaveLength(1);
  });

  it('ignores .git/, node_modules/, the store files and custom patterns such as dist/**', async () => {
    const ws = await workspace({ ignore: ['dist/**', '**/*.log'] });
    ws.file('.git/HEAD', 'ref: refs/heads/main');
    ws.file('.git/objects/ab/cdef', 'blob');
    ws.file('node_modules/left-pad/index.js', 'module.exports = 1');
    ws.file('packages/app/node_modules/x/package.json', '{}');
    ws.file('dist/out.js', 'built');
    ws.file('logs/run.log', 'noise');
    ws.file('.overseer/state.json', '{}');
    ws.file('state.json.journal', '{"v":1}\n');
    ws.file('.state.json.tmp', '{}');
    await ws.settle();
    // Only the directories on the way to ignored files, and the sentinel.
    expect(ws.all().map((c) => c.path).sort()).toEqual(['logs', 'packages', 'packages/app', 'sentinel-1.txt']);
  });

  it('delivers a burst of 60 files as one batch and one burst event', async () => {
    const ws = await workspace();
    const detector = new ChangeDetector();
    const events: WorkspaceEvent[] = [];
    for (let i = 0; i < 60; i++) ws.file(`gen/file-${i}.ts`, `export const n = ${i};`);
    await waitFor(() => ws.all().filter((c) => c.path.startsWith('gen/file-')).length === 60, '60 adds');
    for (const batch of ws.batches) events.push(...detector.push(batch));
    const bursts = events.filter((e) => e.type === 'burst');
    expect(bursts).toHaveLength(1);
    expect(bursts[0]!.paths.filter((p) => p.startsWith('gen/file-'))).toHaveLength(60);
    // The debounce groups the 60 files into one delivery. (The 'gen' directory may come a batch
    // earlier under load: directory events skip awaitWriteFinish, so they can run ahead of the files.)
    expect(ws.batches.filter((b) => b.some((c) => c.path.startsWith('gen/file-')))).toHaveLength(1);
  });

  it('classifies a test file and package.json as test, config and dependency changes', async () => {
    const ws = await workspace();
    ws.file('src/math.test.ts', 'test()');
    ws.file('package.json', '{"name":"x"}');
    await waitFor(() => ws.all().some((c) => c.path === 'src/math.test.ts') && ws.all().some((c) => c.path === 'package.json'), 'both files');
    const events = new ChangeDetector().push(ws.all());
    const byType = (t: WorkspaceEvent['type']) => events.find((e) => e.type === t)?.paths;
    expect(byType('test.changed')).toEqual(['src/math.test.ts']);
    expect(byType('config.changed')).toEqual(['package.json']);
    expect(byType('dependencies.changed')).toEqual(['package.json']);
  });

  it('reports a change under a protected path', async () => {
    const ws = await workspace();
    ws.file('secrets/prod.key', 'k');
    await ws.seen('secrets/prod.key');
    const events = new ChangeDetector({ protectedPaths: ['secrets/**'] }).push(ws.all());
    expect(events.find((e) => e.type === 'protected.touched')?.paths).toEqual(['secrets', 'secrets/prod.key']);
  });

  it('reports the watched root vanishing without throwing, and still closes', async () => {
    const ws = await workspace();
    ws.file('inner/a.txt');
    await ws.seen('inner/a.txt');
    rmSync(ws.root, { recursive: true, force: true });
    const vanished = await waitFor(() => ws.errors.find((e) => e instanceof WorkspaceWatchError && e.code === 'ROOT_VANISHED'), 'ROOT_VANISHED');
    expect(vanished.message).toContain(ws.root);
    await ws.seen('.', 'unlinkDir');
    await expect(ws.watcher.close()).resolves.toBeUndefined();
  });

  it('reports a root that does not exist instead of throwing', async () => {
    const errors: Error[] = [];
    const missing = join(tmpdir(), `overseer-missing-${process.pid}-${Date.now()}`);
    const watcher = watchWorkspace(missing, { onChanges: () => {}, onError: (e) => errors.push(e) });
    await watcher.ready();
    await waitFor(() => errors.length > 0, 'ROOT_MISSING');
    expect(errors[0]).toMatchObject({ code: 'ROOT_MISSING' });
    await watcher.close();
  });

  it('turns a throwing onChanges into an onError report', async () => {
    const errors: Error[] = [];
    const root = mkdtempSync(join(tmpdir(), 'overseer-watch-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const watcher = watchWorkspace(root, { onChanges: () => { throw new Error('boom'); }, onError: (e) => errors.push(e) });
    cleanups.push(() => watcher.close());
    await watcher.ready();
    writeFileSync(join(root, 'a.txt'), 'x');
    const error = await waitFor(() => errors[0], 'CALLBACK_FAILED');
    expect(error).toMatchObject({ code: 'CALLBACK_FAILED' });
  });

  it('leaves no file watcher or timer behind after close()', async () => {
    const count = (type: string) => process.getActiveResourcesInfo().filter((r) => r === type).length;
    const before = { watchers: count('FSEventWrap'), timers: count('Timeout') };
    // Counting 'Timeout's alone is blurred by vitest's own short timers, so also track by identity
    // every timer created while the watcher runs (by anyone but vitest) until it fires or is cleared.
    const timers = new Set<number>();
    const hook = createHook({
      init: (id, type) => void (type === 'Timeout' && !/[/\\]@?vitest[/\\]/.test(new Error().stack ?? '') && timers.add(id)),
      destroy: (id) => void timers.delete(id),
    }).enable();
    cleanups.push(() => void hook.disable());
    const root = mkdtempSync(join(tmpdir(), 'overseer-watch-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    // A long awaitWriteFinish keeps chokidar polling the new file when close() comes.
    const batches: RawChange[][] = [];
    const watcher = watchWorkspace(root, { onChanges: (b) => batches.push(b), awaitWriteFinishMs: 3000 });
    await watcher.ready();
    expect(count('FSEventWrap')).toBeGreaterThan(before.watchers);
    mkdirSync(join(root, 'sub'));
    writeFileSync(join(root, 'sub/pending.txt'), 'x');
    // Directories skip awaitWriteFinish: once 'sub' is delivered, chokidar has long been awaiting the file.
    await waitFor(() => batches.flat().some((c) => c.path === 'sub'), 'sub');
    expect(batches.flat().map((c) => c.path)).toEqual(['sub']);
    expect(timers.size).toBeGreaterThan(0); // the awaitWriteFinish poll
    await watcher.close();
    expect(count('FSEventWrap')).toBe(before.watchers);
    expect(count('Timeout')).toBeLessThanOrEqual(before.timers);
    expect(timers.size).toBe(0);
  });
});
