/** The testing kit, used the way a user would: property tests of an orchestration. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { taskMachine, TASK_STATES, type TaskEvent } from '../machines/task.js';
import { createOverseer } from '../runtime/index.js';
import { drive, machinePaths, SimulatedClock, taskSpecs } from '../runtime/testing.js';
import { TaskHost } from '../runtime/task-host.js';

describe('overseer/testing', () => {
  it('taskSpecs + drive: every generated plan completes, each task after its dependencies', () => {
    fc.assert(
      fc.property(taskSpecs({ maxTasks: 25, projects: ['a', 'b'] }), fc.integer({ min: 1, max: 5 }), (specs, concurrency) => {
        const clock = new SimulatedClock();
        const o = createOverseer({ clock });
        o.scheduleTasks(specs);
        const { started } = drive(o, { clock, concurrency });
        expect(o.getCounts().completed).toBe(specs.length);
        for (const spec of specs) {
          for (const dep of spec.dependencies ?? []) expect(started.indexOf(dep)).toBeLessThan(started.indexOf(spec.id));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('drive moves the clock to retries: failures come back after their backoff', () => {
    const clock = new SimulatedClock();
    const o = createOverseer({ clock, retry: { baseDelayMs: 5_000 } });
    o.scheduleTask({ id: 'flaky' });
    let attempts = 0;
    drive(o, { clock, succeed: () => ++attempts > 2 });
    expect(o.getTaskStatus('flaky')).toMatchObject({ state: 'completed', attempts: 3, retries: 2 });
    expect(clock.now()).toBeGreaterThanOrEqual(5_000 + 10_000);
  });

  it('machinePaths reaches every state of the task machine with replayable events', () => {
    const events: TaskEvent[] = [
      { type: 'DEPENDENCIES_MET', at: 1 },
      { type: 'START', at: 2 },
      { type: 'COMPLETE', at: 3, result: null },
      { type: 'FAIL', at: 4, error: { message: 'x', retryable: true, at: 4 } },
      { type: 'BLOCK', at: 5, reason: 'paused' },
      { type: 'UNBLOCK', at: 6 },
      { type: 'RETRY', at: 7, retryAt: 9, manual: false },
      { type: 'RETRY_DUE', at: 8 },
      { type: 'CANCEL', at: 9, reason: 'no' },
    ];
    const input = { id: 't', projectId: 'p', title: 't', priority: 5, dependencies: [], deadline: null, onDependencyFailure: 'block' as const, maxRetries: 3, retryBaseMs: 1, metadata: null, at: 0 };
    const paths = machinePaths(taskMachine, { events, input });
    expect(paths.map((p) => JSON.parse(p.state)).sort()).toEqual([...TASK_STATES].sort());
    const host = new TaskHost();
    for (const p of paths) {
      let task = host.create(input);
      for (const e of p.events) task = host.send(task, e)!;
      expect(JSON.stringify(task.value)).toBe(p.state);
    }
  });
});
