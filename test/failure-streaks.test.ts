/**
 * Failures in a row (`project.consecutiveFailures`, which pauses a project at 3) survive a
 * restart: the runtime stores them with its state and a restore follows the journal's
 * events from there, so a restart neither forgets failures nor counts the attempts it
 * interrupted.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { TaskContext } from '../machines/task.js';
import { SnapshotMaker } from '../runtime/compactor.js';
import { FailureStreaks } from '../runtime/failure-streaks.js';
import { createOverseer, jsonFileStore, StoreCorruptError, type Overseer, type SnapshotSource } from '../runtime/index.js';
import { backends, HOW, restart, start, T0, type Backend } from './helpers/restore-backends.js';
import { tempStorePath } from './helpers/temp.js';

const open = (o: Overseer, projectId: string) => o.getPendingBreakpoints(projectId).filter((b) => b.type === 'consecutive_failures');

function fail(o: Overseer, id: string): void {
  expect(o.getNextTask('p')?.id).toBe(id);
  o.markFailed(id, 'broken');
}

describe.each(backends)('failures in a row, restored from %s', (_, makeBackend) => {
  let backend: Backend;
  beforeEach(() => {
    backend = makeBackend();
  });

  it.each(HOW)('still count after a restart: the third pauses the project (%s)', async (how) => {
    const first = start(backend.fresh());
    first.overseer.scheduleTasks(['a', 'b', 'c'].map((id) => ({ id, projectId: 'p', maxRetries: 0 })));
    fail(first.overseer, 'a');
    fail(first.overseer, 'b');
    expect(open(first.overseer, 'p')).toEqual([]);

    const { overseer: o } = await restart(backend, how, first);
    fail(o, 'c');
    expect(open(o, 'p')).toMatchObject([{ data: { project: { id: 'p', consecutiveFailures: 3 } } }]);
    expect(o.isPaused('p')).toBe(true);
    await o.close();
  });

  it.each(HOW)('end at a completion, and never count an attempt the restart interrupted (%s)', async (how) => {
    const first = start(backend.fresh());
    const o1 = first.overseer;
    o1.scheduleTasks(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => ({ id, projectId: 'p', maxRetries: 0 })));
    o1.scheduleTask({ id: 'elsewhere', projectId: 'q', maxRetries: 0 });
    fail(o1, 'a');
    expect(o1.getNextTask('p')?.id).toBe('b');
    o1.markComplete('b'); // the streak of "a" ends here
    fail(o1, 'c');
    expect(o1.getNextTask('q')?.id).toBe('elsewhere');
    o1.markFailed('elsewhere', 'broken'); // another project's streak
    expect(o1.getNextTask('p')?.id).toBe('d'); // running when the process stops

    const { overseer: o } = await restart(backend, how, first);
    expect(o.recovery?.interrupted).toEqual(['d']);
    expect(o.getTaskStatus('d')?.state).toBe('ready'); // an interruption uses none of its retries
    o.cancelTask('d'); // out of the way (a cancel neither fails nor completes)
    fail(o, 'e'); // c, e: 2
    expect(open(o, 'p')).toEqual([]);
    fail(o, 'f'); // c, e, f: 3
    expect(open(o, 'p')).toMatchObject([{ data: { project: { consecutiveFailures: 3 } } }]);
    expect(open(o, 'q')).toEqual([]);
    await o.close();
  });
});

describe('failures in a row, live', () => {
  it('end at any completion: a task skipped at a breakpoint counts as completed', () => {
    const o = createOverseer();
    o.scheduleTasks(['a', 'b', 's', 'c'].map((id) => ({ id, projectId: 'p', maxRetries: 0 })));
    fail(o, 'a');
    fail(o, 'b');
    o.resolveBreakpoint(o.triggerBreakpoint('confidence_too_low', { taskId: 's' }).id, { action: 'skip' });
    expect(o.getTaskStatus('s')?.state).toBe('completed');
    fail(o, 'c'); // the first since the completion of "s"
    expect(open(o, 'p')).toEqual([]);
  });

  it('count the failure as it stood at its transition, whatever a retry due at once sets off', () => {
    const clock = new SimulatedClock();
    clock.set(T0);
    const o = createOverseer({ clock });
    o.scheduleTasks([
      { id: 'a', projectId: 'p', maxRetries: 0 },
      { id: 'b', projectId: 'p', maxRetries: 0 },
      { id: 'y', projectId: 'p', maxRetries: 1, retryBaseMs: 0 },
      { id: 's', projectId: 'p', priority: 1 },
    ]);
    fail(o, 'a');
    fail(o, 'b');
    expect(o.getNextTask('p')?.id).toBe('y');
    // Due at once: it fires (and completes "s") inside the next failure's retry, after its transition.
    o.addCustomRule({ type: 'auto_skip', priority: 'low', condition: 'false', autoResolve: { action: 'skip', afterMs: 0 } });
    o.triggerBreakpoint('auto_skip', { taskId: 's' });
    o.markFailed('y', 'broken');
    expect(o.getTaskStatus('s')?.state).toBe('completed');
    expect(open(o, 'p')).toMatchObject([{ data: { project: { consecutiveFailures: 3 } } }]);
  });
});

describe('failures in a row, stored', () => {
  it('the compaction worker writes the same streaks as the live runtime', async () => {
    const path = tempStorePath('overseer-streaks-');
    const clock = new SimulatedClock();
    clock.set(T0);
    const store = jsonFileStore(path);
    const o = createOverseer({ clock, store, compactEvery: 1_000_000, backgroundCompaction: false });
    o.scheduleTasks(['a', 'b', 'c', 'x'].map((id) => ({ id, projectId: id === 'x' ? 'q' : 'p', maxRetries: 0 })));
    fail(o, 'a');
    o.markFailed(o.getNextTask('q')!.id, 'broken');
    fail(o, 'b');
    await o.flush();
    const source: SnapshotSource = { snapshot: path, snapshotSeq: 0, journal: `${path}.journal`, journalBytes: statSync(`${path}.journal`).size, seq: store.seq, target: `${path}.made` };
    new SnapshotMaker().make(source, { maxQualityHistory: 1_000 });
    await o.close(); // the live runtime's final snapshot, of the same records
    const live = JSON.parse(readFileSync(path, 'utf8')) as { failureStreaks: unknown; savedAt: number };
    const made = JSON.parse(readFileSync(`${path}.made`, 'utf8')) as { savedAt: number };
    expect(live.failureStreaks).toEqual([['p', ['a', 'b']], ['q', ['x']]]);
    expect({ ...made, savedAt: 0 }).toEqual({ ...live, savedAt: 0 });
  });

  it('a stored id that is not a task of that project is not counted; a project listed twice is refused', async () => {
    const path = tempStorePath('overseer-streaks-');
    const o1 = createOverseer({ store: jsonFileStore(path) });
    o1.scheduleTasks(['a', 'b', 'c'].map((id) => ({ id, projectId: 'p', maxRetries: 0 })));
    o1.scheduleTask({ id: 'z', projectId: 'q' });
    fail(o1, 'a');
    await o1.close();
    const image = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...image, failureStreaks: [['p', ['a', 'ghost', 'z']]] }));
    const o = createOverseer({ store: jsonFileStore(path) });
    fail(o, 'b'); // a, b: 2 (not 4)
    expect(open(o, 'p')).toEqual([]);
    await o.close();

    const twice = JSON.stringify({ ...image, failureStreaks: [['p', ['a']], ['p', ['a']]] });
    writeFileSync(path, twice);
    expect(() => createOverseer({ store: jsonFileStore(path) })).toThrow(/failureStreaks.*a project is listed twice/);
    expect(readFileSync(path, 'utf8')).toBe(twice);
  });
});

describe('FailureStreaks', () => {
  const context = (id: string, projectId: string, kind?: string) => ({ id, projectId, lastError: kind === undefined ? null : { message: 'x', kind } }) as unknown as TaskContext;

  it('counts distinct tasks that failed since the last completion of their project', () => {
    const s = new FailureStreaks();
    s.observe('running', 'failed', context('a', 'p', 'crash'));
    s.observe('ready', 'running', context('a', 'p'));
    s.observe('running', 'failed', context('a', 'p', 'crash')); // the same task again
    s.observe('running', 'failed', context('b', 'p', 'crash'));
    s.observe('running', 'failed', context('x', 'q', 'crash'));
    s.observe('running', 'failed', context('c', 'p', 'interrupted')); // the process, not the work
    s.observe('running', 'failed', context('w', 'p', 'worker_lost')); // its worker, not the work
    s.observe('failed', 'failed', context('c', 'p', 'crash')); // not a transition into failed
    expect([s.count('p'), s.count('q'), s.count('none')]).toEqual([2, 1, 0]);
    expect(s.stored()).toEqual([['p', ['a', 'b']], ['q', ['x']]]);
    s.observe('running', 'completed', context('d', 'p'));
    expect([s.count('p'), s.count('q')]).toEqual([0, 1]);

    const copy = new FailureStreaks();
    copy.load([['q', ['x', 'y']], ['empty', []]]);
    expect(copy.stored()).toEqual([['q', ['x', 'y']]]);
  });

  it('a stored list is a copy: later failures do not change an image already taken', () => {
    const s = new FailureStreaks();
    s.observe('running', 'failed', context('a', 'p', 'crash'));
    const taken = s.stored();
    s.observe('running', 'failed', context('b', 'p', 'crash'));
    expect(taken).toEqual([['p', ['a']]]);
  });
});

describe('a snapshot with malformed failure streaks', () => {
  it('is refused, naming the field, and left as it was', () => {
    const path = tempStorePath('overseer-streaks-');
    const text = JSON.stringify({ schemaVersion: 3, seq: 0, savedAt: 0, supervisor: { value: 'running', context: { pausedProjects: [], deadlocks: [] } }, tasks: [], failureStreaks: [['p', [7]]] });
    writeFileSync(path, text);
    expect(() => createOverseer({ store: jsonFileStore(path) })).toThrow(StoreCorruptError);
    expect(() => createOverseer({ store: jsonFileStore(path) })).toThrow(/failureStreaks.*not a list of \[project, task ids\]/);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });
});
