/**
 * Events arrive in the order things happened: a transition's consequences (a breakpoint that
 * holds the task it made ready, the breakpoint itself) are delivered after the transition, so
 * a listener that mirrors each task's state from `e.to` ends with the task's real state.
 */
import { describe, expect, it } from 'vitest';
import { createOverseer, SimulatedClock, type OverseerEvent } from '../runtime/index.js';

describe('event order', () => {
  it('a retry held by a breakpoint: failed → retrying, retrying → ready, then ready → blocked', () => {
    const clock = new SimulatedClock();
    clock.set(Date.UTC(2026, 10, 29));
    const o = createOverseer({ clock });
    o.addCustomRule({ type: 'look_at_failures', priority: 'high', condition: 'event == "task.failed"', scope: 'task' } as never);
    const seen: string[] = [];
    const mirror = new Map<string, string>();
    o.on('*', (e: OverseerEvent) => {
      if (e.type === 'task.transition') {
        seen.push(`${e.from} → ${e.to}`);
        mirror.set(e.taskId, e.to);
      } else seen.push(e.type);
    });
    o.scheduleTask({ id: 'a', retryBaseMs: 1_000 });
    o.getNextTask();
    o.markFailed('a', 'flaky');
    clock.increment(1_000);
    expect(mirror.get('a')).toBe(o.getTaskStatus('a')!.state);
    const transitions = seen.filter((s) => s.includes('→'));
    expect(transitions).toEqual(o.getTaskStatus('a')!.history.map((h) => `${h.from} → ${h.to}`));
    // The breakpoint comes after the failure that raised it.
    expect(seen.indexOf('breakpoint.triggered')).toBeGreaterThan(seen.indexOf('running → failed'));
  });

  it('an event a listener causes comes after the one it listens to, for every listener', () => {
    const o = createOverseer();
    const first: string[] = [];
    const second: string[] = [];
    o.on('task.transition', (e) => {
      first.push(`${e.taskId}:${e.to}`);
      if (e.taskId === 'a' && e.to === 'running') o.cancelTask('b', 'not needed');
    });
    o.on('task.transition', (e) => second.push(`${e.taskId}:${e.to}`));
    o.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    o.getNextTask();
    expect(second).toEqual(first);
    expect(first.slice(-2)).toEqual(['a:running', 'b:cancelled']);
  });
});
