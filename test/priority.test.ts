/**
 * Effective priority: the queue orders by the user's priority plus boosts the runtime
 * derives (+2 deadline within 1 h, +1 has dependents, −1 once retried). Every change
 * is recorded on the task and announced as `task.priority`, and reorders the queue.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  createOverseer,
  DEADLINE_BOOST_WINDOW_MS,
  effectivePriority,
  type TaskPriorityEvent,
} from '../runtime/index.js';

const HOUR = 3_600_000;
const T0 = 10 * HOUR;

function setup() {
  const clock = new SimulatedClock();
  clock.set(T0);
  const overseer = createOverseer({ clock });
  const events: TaskPriorityEvent[] = [];
  overseer.on('task.priority', (e) => events.push(e));
  return { clock, overseer, events };
}

describe('effectivePriority (pure)', () => {
  const none = { priority: 5, deadline: null, dependents: 0, retries: 0 };

  it('is the given priority when nothing applies', () => {
    expect(effectivePriority(none, T0)).toEqual({ value: 5, reasons: [] });
  });

  it('adds 2 when the deadline is within one hour, inclusive, or already passed', () => {
    expect(DEADLINE_BOOST_WINDOW_MS).toBe(HOUR);
    const at = (deadline: number) => effectivePriority({ ...none, deadline }, T0);
    expect(at(T0 + HOUR + 1)).toEqual({ value: 5, reasons: [] });
    expect(at(T0 + HOUR)).toEqual({ value: 7, reasons: ['deadline_within_1h'] });
    expect(at(T0 - 1)).toEqual({ value: 7, reasons: ['deadline_within_1h'] });
  });

  it('adds 1 for dependents and subtracts 1 once retried, however many', () => {
    expect(effectivePriority({ ...none, dependents: 4 }, T0)).toEqual({ value: 6, reasons: ['has_dependents'] });
    expect(effectivePriority({ ...none, retries: 3 }, T0)).toEqual({ value: 4, reasons: ['retried'] });
  });

  it('combines every boost, listing each reason', () => {
    expect(effectivePriority({ priority: 10, deadline: T0, dependents: 1, retries: 1 }, T0)).toEqual({
      value: 12,
      reasons: ['deadline_within_1h', 'has_dependents', 'retried'],
    });
  });
});

describe('deadline boost in the running scheduler', () => {
  it('applies once the clock comes within an hour of the deadline, and reorders the queue', () => {
    const { clock, overseer, events } = setup();
    overseer.scheduleTasks([
      { id: 'due-soon', priority: 5, deadline: T0 + 2 * HOUR },
      { id: 'important', priority: 6 },
    ]);
    expect(overseer.getReadyTasks().map((t) => t.id)).toEqual(['important', 'due-soon']);

    clock.increment(HOUR - 1); // still more than an hour away
    expect(overseer.getReadyTasks().map((t) => [t.id, t.effectivePriority])).toEqual([
      ['important', 6],
      ['due-soon', 5],
    ]);
    expect(events).toEqual([]);

    clock.increment(1);
    const queue = overseer.getReadyTasks();
    expect(queue.map((t) => [t.id, t.effectivePriority])).toEqual([
      ['due-soon', 7],
      ['important', 6],
    ]);
    expect(queue[0]!.boosts).toEqual(['deadline_within_1h']);
    const change = { from: 5, to: 7, reasons: ['deadline_within_1h'], at: T0 + HOUR };
    expect(queue[0]!.priorityChanges).toEqual([change]);
    expect(events).toEqual([{ type: 'task.priority', taskId: 'due-soon', projectId: 'default', ...change }]);
    // The hand-out order follows: the boosted priority-5 task beats the priority-6 one.
    expect(overseer.getNextTask()!.id).toBe('due-soon');
  });

  it('boosts a task that is still waiting on dependencies, so it leads once ready', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTasks([
      { id: 'dep' },
      { id: 'other', priority: 6 },
      { id: 'late', priority: 5, dependencies: ['dep'], deadline: T0 + 90 * 60_000 },
    ]);
    overseer.getNextTask(); // dep (priority 5 + 1 for its dependent beats other's 6 as the older)
    clock.increment(30 * 60_000);
    expect(overseer.getTaskStatus('late')).toMatchObject({ state: 'pending', effectivePriority: 7 });
    overseer.markComplete('dep');
    expect(overseer.getNextTask()!.id).toBe('late');
  });
});

describe('dependents boost', () => {
  it('adds 1 when a task gains a dependent, moving it ahead of older equals', () => {
    const { clock, overseer, events } = setup();
    overseer.scheduleTasks([{ id: 'older' }, { id: 'needed' }]);
    expect(overseer.getReadyTasks().map((t) => t.id)).toEqual(['older', 'needed']);
    clock.increment(1_000);
    overseer.scheduleTask({ id: 'consumer', dependencies: ['needed'] });

    const needed = overseer.getTaskStatus('needed')!;
    expect(needed.effectivePriority).toBe(6);
    expect(needed.priorityChanges).toEqual([{ from: 5, to: 6, reasons: ['has_dependents'], at: T0 + 1_000 }]);
    expect(events.map((e) => [e.taskId, e.from, e.to])).toEqual([['needed', 5, 6]]);
    expect(overseer.getNextTask()!.id).toBe('needed');
  });

  it('does not add more for a second dependent', () => {
    const { overseer } = setup();
    overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }, { id: 'c', dependencies: ['a'] }]);
    const a = overseer.getTaskStatus('a')!;
    expect(a.effectivePriority).toBe(6);
    expect(a.dependents).toEqual(['b', 'c']);
  });
});

describe('retried penalty', () => {
  it('subtracts 1 once the task comes back from a retry, letting others go first', () => {
    const { clock, overseer, events } = setup();
    overseer.scheduleTasks([{ id: 'steady', priority: 5 }, { id: 'flaky', priority: 6 }]);
    expect(overseer.getNextTask()!.id).toBe('flaky');
    overseer.markFailed('flaky', 'timeout');
    clock.increment(60_000);

    const flaky = overseer.getTaskStatus('flaky')!;
    expect(flaky).toMatchObject({ state: 'ready', effectivePriority: 5, boosts: ['retried'] });
    expect(flaky.priorityChanges).toEqual([{ from: 6, to: 5, reasons: ['retried'], at: T0 + 60_000 }]);
    expect(events.map((e) => [e.taskId, e.to, e.reasons])).toEqual([['flaky', 5, ['retried']]]);
    // Equal effective priority now: the older task goes first.
    expect(overseer.getNextTask()!.id).toBe('steady');
    expect(overseer.getNextTask()!.id).toBe('flaky');
  });

  it('records each change in order with its reasons', () => {
    const { clock, overseer } = setup();
    overseer.scheduleTask({ id: 't', deadline: T0 + 3 * HOUR });
    overseer.scheduleTask({ id: 'after', dependencies: ['t'] });
    overseer.getNextTask();
    overseer.markFailed('t', 'oops');
    clock.increment(60_000); // the retry is due: back to ready, with the penalty
    clock.increment(2 * HOUR - 60_000); // now within an hour of the deadline
    expect(overseer.getTaskStatus('t')!.priorityChanges.map((c) => [c.from, c.to, c.reasons])).toEqual([
      [5, 6, ['has_dependents']],
      [6, 5, ['has_dependents', 'retried']],
      [5, 7, ['deadline_within_1h', 'has_dependents', 'retried']],
    ]);
  });
});
