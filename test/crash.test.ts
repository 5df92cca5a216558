/**
 * Kill -9 at random moments: a 2,000-task run is SIGKILLed 20 times at seeded random
 * moments and restarted after each; then it runs to the end. Nothing may be lost, no
 * task may complete twice except through an attempt that a kill interrupted, and the
 * store must be readable after every kill.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prng } from '../bench/workload.js';
import { createOverseer, jsonFileStore, readStoreFile } from '../runtime/index.js';

const TASKS = 2000;
const KILLS = 20;
const root = new URL('..', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'overseer-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function startRun(store: string, log: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-run.ts', store, String(TASKS), log], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const started = new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('started')) resolve();
    });
  });
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, started, exited, output: () => out, errors: () => err };
}

describe('crash safety', () => {
  it(`survives ${KILLS} SIGKILLs during a ${TASKS}-task run and completes it`, async () => {
    const store = join(dir, 'state.json');
    const log = join(dir, 'attempts.log');
    const random = prng(2026);
    const killedPids = new Set<string>();

    for (let kill = 0; kill < KILLS; kill++) {
      const run = startRun(store, log);
      await Promise.race([run.started, run.exited]);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(random() * 250)));
      run.child.kill('SIGKILL');
      const { signal, code } = await run.exited;
      if (signal !== 'SIGKILL') {
        // It finished before the kill landed: the run is complete.
        expect(code, run.errors()).toBe(0);
        break;
      }
      killedPids.add(String(run.child.pid));
      // Readable after every kill: snapshot and journal parse, a torn tail at most.
      const contents = readStoreFile(store);
      expect(contents.warnings.every((w) => w.kind === 'torn_journal_tail')).toBe(true);
    }
    expect(killedPids.size).toBe(KILLS);

    const last = startRun(store, log);
    const end = await last.exited;
    expect(end.code, last.errors()).toBe(0);
    expect(last.output()).toContain('all done');

    const overseer = createOverseer({ store: jsonFileStore(store) });
    try {
      const tasks = overseer.getTasks();
      expect(tasks).toHaveLength(TASKS);
      expect(overseer.getCounts().completed).toBe(TASKS);
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string, string]);
      for (const task of tasks) {
        // Exactly one completion is on record...
        expect(task.history.filter((h) => h.to === 'completed')).toHaveLength(1);
        // ...and it never ran before its dependencies completed.
        const ranAt = task.history.filter((h) => h.to === 'running').at(-1)!.at;
        for (const dep of task.dependencies) {
          expect(overseer.getTaskStatus(dep)!.history.find((h) => h.to === 'completed')!.at).toBeLessThanOrEqual(ranAt);
        }
      }
      // A task's work finished more than once only when a kill interrupted all but one of those attempts.
      const doneBy = new Map<string, string[]>();
      for (const [what, id, pid] of lines) if (what === 'done') doneBy.set(id, [...(doneBy.get(id) ?? []), pid]);
      for (const task of tasks) {
        const pids = doneBy.get(task.id) ?? [];
        expect(pids.length, `${task.id} never ran`).toBeGreaterThanOrEqual(1);
        expect(pids.filter((pid) => !killedPids.has(pid)).length, `${task.id} completed twice`).toBeLessThanOrEqual(1);
      }
      const interrupted = tasks.filter((t) => t.history.some((h) => h.reason?.startsWith('interrupted')));
      expect(interrupted.length).toBeGreaterThan(0);
    } finally {
      await overseer.close();
    }
  }, 180_000);
});
