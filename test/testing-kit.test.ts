/** The testing kit, used the way a user would: property tests of an orchestration. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { taskMachine, TASK_STATES, type TaskEvent } from '../machines/task.js';
import { createOverseer } from '../runtime/index.js';
import { drive, machinePaths, SimulatedClock, taskSpecs, verifyPlan } from '../runtime/testing.js';
import { loadPlan } from '../runtime/plan.js';
import { fileURLToPath } from 'node:url';
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

describe('the testing helpers check what they are given', () => {
  it('drive: a missing or foreign clock, a concurrency of 0, unknown options are refused, naming each', () => {
    const o = createOverseer();
    expect(() => drive(o, {} as never)).toThrow(/options\.clock: must be the SimulatedClock the runtime was created with/);
    expect(() => drive(o, { clock: new SimulatedClock(), concurrency: 0, speed: 2 } as never)).toThrow(/options\.speed: unknown field.*\n.*options\.concurrency: must be a whole number ≥ 1, got 0/s);
  });

  it('drive: work left at the step limit throws instead of returning a half-run (a clock that is not the runtime’s)', () => {
    const runtimeClock = new SimulatedClock();
    const o = createOverseer({ clock: runtimeClock });
    o.scheduleTask({ id: 'flaky', maxRetries: 5 });
    const other = new SimulatedClock(); // not the runtime's: its retries never come due
    expect(() => drive(o, { clock: other, succeed: () => false, maxSteps: 50 })).toThrow(/stopped after 50 steps with work left.*is options\.clock the clock the runtime was created with/);
  });

  it('taskSpecs and verifyPlan refuse options they cannot use', () => {
    expect(() => taskSpecs({ projects: [] })).toThrow(/options\.projects: must be a non-empty list of project ids/);
    expect(() => taskSpecs({ maxTasks: 0 })).toThrow(/options\.maxTasks: must be a whole number ≥ 1, got 0/);
    const plan = loadPlan(fileURLToPath(new URL('../examples/build.plan.yaml', import.meta.url)));
    expect(() => verifyPlan(plan, { runs: -1, failRate: 7, bogus: 1 } as never)).toThrow(/options\.bogus: unknown field.*\n.*options\.failRate: must be a number from 0 to 1, got 7.*\n.*options\.runs: must be a whole number ≥ 1, got -1/s);
  });
});
