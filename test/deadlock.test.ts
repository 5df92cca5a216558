/**
 * detectDeadlock: which open tasks of a project can never run because something
 * upstream failed for good or was cancelled, with the root cause named — and silence
 * (null) when every open task can still make progress.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createOverseer, type DeadlockDetectedEvent, type Overseer } from '../runtime/index.js';

function setup() {
  const clock = new SimulatedClock();
  clock.set(5_000);
  const overseer = createOverseer({ clock });
  const events: DeadlockDetectedEvent[] = [];
  overseer.on('deadlock.detected', (e) => events.push(e));
  return { clock, overseer, events };
}

/** Runs `id` (which must be the next task of its project) and fails it for good. */
function failForGood(overseer: Overseer, id: string, projectId = 'default') {
  expect(overseer.getNextTask(projectId)?.id).toBe(id);
  expect(overseer.markFailed(id, { message: `${id} broke`, retryable: false }).state).toBe('failed');
}

describe('detectDeadlock', () => {
  it('returns null, and emits nothing, while every task can still run', () => {
    const { clock, overseer, events } = setup();
    overseer.scheduleTasks([
      { id: 'a', priority: 9 },
      { id: 'b', priority: 8 },
      { id: 'c', dependencies: ['a', 'b'] },
      { id: 'd', dependencies: ['c'] },
    ]);
    expect(overseer.detectDeadlock()).toBeNull();
    overseer.getNextTask(); // a running
    overseer.getNextTask(); // b running
    overseer.markFailed('b', 'transient'); // retrying: it will come back
    expect(overseer.detectDeadlock()).toBeNull();
    clock.increment(60_000);
    overseer.blockTask('c', 'manual hold'); // held by a person, not stuck
    expect(overseer.detectDeadlock()).toBeNull();
    expect(events).toEqual([]);
  });

  it('names a dependent of a task that failed for good, with the failed dependency as cause', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', dependencies: ['a'] }, { id: 'free' }]);
    failForGood(overseer, 'a');
    const report = overseer.detectDeadlock()!;
    expect(report).toEqual({
      projectId: 'default',
      cycle: null,
      stuck: [{ id: 'b', state: 'blocked', cause: 'a', reason: 'dependency "a" failed' }],
    });
  });

  it('follows the chain: a task waiting on a stuck task is stuck with the same root cause', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'a', maxRetries: 0 },
      { id: 'b', dependencies: ['a'] },
      { id: 'c', dependencies: ['b'] },
    ]);
    failForGood(overseer, 'a');
    const stuck = overseer.detectDeadlock()!.stuck;
    expect(stuck.map((s) => [s.id, s.cause])).toEqual([
      ['b', 'a'],
      ['c', 'a'],
    ]);
    expect(stuck[1]!.state).toBe('pending');
    expect(stuck[1]!.reason).toContain('"b"');
    expect(stuck[1]!.reason).toContain('root cause: "a"');
  });

  it('reports dependents of a cancelled task too', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    overseer.cancelTask('a', 'scope cut');
    expect(overseer.detectDeadlock()!.stuck).toEqual([
      { id: 'b', state: 'blocked', cause: 'a', reason: 'dependency "a" was cancelled' },
    ]);
  });

  it("does not count tasks whose policy is 'ignore' as stuck", () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'a', maxRetries: 0, priority: 9 },
      { id: 'other' },
      { id: 'tolerant', dependencies: ['a', 'other'], onDependencyFailure: 'ignore' },
      { id: 'strict', dependencies: ['a'] },
    ]);
    failForGood(overseer, 'a');
    expect(overseer.detectDeadlock()!.stuck.map((s) => s.id)).toEqual(['strict']);
  });

  it('clears once the failed task is retried', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', dependencies: ['a'] }]);
    failForGood(overseer, 'a');
    expect(overseer.detectDeadlock()).not.toBeNull();
    overseer.retryTask('a');
    expect(overseer.detectDeadlock()).toBeNull();
  });

  it("emits 'deadlock.detected' with the report and the clock's time", () => {
    const { clock, overseer, events } = setup();
    overseer.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', dependencies: ['a'] }]);
    failForGood(overseer, 'a');
    clock.increment(250);
    const report = overseer.detectDeadlock()!;
    expect(events).toEqual([{ type: 'deadlock.detected', at: 5_250, ...report }]);
  });

  it('returns null for a project it has never seen', () => {
    const { overseer, events } = setup();
    overseer.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', dependencies: ['a'] }]);
    failForGood(overseer, 'a');
    expect(overseer.detectDeadlock('no-such-project')).toBeNull();
    expect(events).toEqual([]);
  });

  it('looks at one project at a time', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([
      { id: 'p1-a', projectId: 'p1', maxRetries: 0 },
      { id: 'p1-b', projectId: 'p1', dependencies: ['p1-a'] },
      { id: 'p2-a', projectId: 'p2' },
      { id: 'p2-b', projectId: 'p2', dependencies: ['p2-a'] },
    ]);
    failForGood(overseer, 'p1-a', 'p1');
    expect(overseer.detectDeadlock('p2')).toBeNull();
    expect(overseer.detectDeadlock()).toBeNull(); // the 'default' project is empty
    const report = overseer.detectDeadlock('p1')!;
    expect(report.projectId).toBe('p1');
    expect(report.stuck.map((s) => s.id)).toEqual(['p1-b']);
  });
});
