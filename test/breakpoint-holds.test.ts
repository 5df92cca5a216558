/**
 * What a breakpoint holds stays held until a person answers it, and an answer says exactly what
 * was meant: a misspelled resolution is refused (it must not fall back to approve/continue),
 * a person's resume does not release a project an open breakpoint pauses, and a task that is
 * cancelled leaves no breakpoint waiting for an answer about it. And the rules behind them: one
 * rule per type, and a condition that cannot be evaluated does not fail unseen.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { supervisorMachine } from '../machines/supervisor.js';
import { loadPlan } from '../runtime/plan.js';
import { createOverseer, jsonFileStore, memoryStore, SimulatedClock, ValidationError, type Overseer } from '../runtime/index.js';

function start(): { o: Overseer; clock: SimulatedClock } {
  const clock = new SimulatedClock();
  clock.set(1_700_000_000_000);
  const o = createOverseer({ clock });
  o.addCustomRule({ type: 'gate', condition: 'false' });
  o.addCustomRule({ type: 'project_gate', condition: 'false', scope: 'project' });
  return { o, clock };
}

describe('a breakpoint answer', () => {
  it('with a misspelled key is refused, naming it, and the breakpoint and its task stay as they were', () => {
    const { o } = start();
    o.scheduleTask({ id: 'deploy' });
    const bp = o.triggerBreakpoint('gate', { taskId: 'deploy' });
    const attempt = () => o.resolveBreakpoint(bp.id, { decison: 'reject', acton: 'cancel' } as never);
    expect(attempt).toThrow(ValidationError);
    expect(attempt).toThrow(/resolution\.decison: unknown field .*\n.*resolution\.acton: unknown field/s);
    expect(o.getBreakpoint(bp.id)?.state).toBe('awaiting');
    expect(o.getTaskStatus('deploy')?.state).toBe('blocked');
  });
});

describe('a project an open breakpoint pauses', () => {
  it("stays paused through a person's resume, until the breakpoint is resolved", () => {
    const { o } = start();
    o.scheduleTasks([{ id: 'a' }, { id: 'b' }]);
    const bp = o.triggerBreakpoint('project_gate', { projectId: 'default' });
    expect(o.getNextTask()).toBeNull();
    o.resume('default');
    expect(o.isPaused('default')).toBe(true);
    expect(o.getNextTask()).toBeNull();
    o.resolveBreakpoint(bp.id);
    expect(o.getNextTask()?.id).toBe('a');
  });

  it("a person's pause and a breakpoint's: each lets go of its own", () => {
    const { o } = start();
    o.scheduleTask({ id: 'a' });
    o.pause('default');
    const bp = o.triggerBreakpoint('project_gate', { projectId: 'default' });
    o.resolveBreakpoint(bp.id);
    expect(o.isPaused('default')).toBe(true); // the person's pause is still there
    o.resume('default');
    expect(o.getNextTask()?.id).toBe('a');
  });
});

describe('a cancelled task', () => {
  it('leaves no breakpoint waiting about it: each is resolved as cancelled, by the runtime', async () => {
    const { o } = start();
    o.scheduleTasks([{ id: 'a' }, { id: 'b' }]);
    const bp = o.triggerBreakpoint('gate', { taskId: 'a' });
    o.cancelTask('a', 'not needed');
    expect(o.getPendingBreakpoints()).toEqual([]);
    expect(o.getBreakpoint(bp.id)).toMatchObject({ state: 'resolved', resolution: { action: 'cancel', by: 'overseer', note: 'the task was cancelled: not needed' } });
    expect(() => o.resolveBreakpoint(bp.id, { action: 'retry' })).toThrow(/already resolved/);
    o.markComplete(o.getNextTask()!.id);
    // Every task is final: the run is over, not waiting for a person.
    const { outcome } = o.run();
    expect(await outcome).toMatchObject({ status: 'failed', exitCode: 1 }); // a cancelled task: not all completed
  });
});

describe('a rule of a type that exists', () => {
  it('replaces it, a default one too, and stays replaced after a restart', async () => {
    const store = memoryStore();
    const first = createOverseer({ store });
    first.addCustomRule({ type: 'consecutive_failures', condition: 'project.consecutiveFailures >= 5', scope: 'project' });
    const facts = { event: 'task.failed', project: { id: 'p', consecutiveFailures: 3 } };
    expect(first.evaluateBreakpointConditions(facts).map((r) => r.type)).toEqual([]);
    expect(first.listBreakpointRules().filter((r) => r.type === 'consecutive_failures')).toHaveLength(1);
    await first.close();

    const again = createOverseer({ store });
    expect(again.evaluateBreakpointConditions(facts).map((r) => r.type)).toEqual([]);
    expect(again.evaluateBreakpointConditions({ ...facts, project: { id: 'p', consecutiveFailures: 5 } }).map((r) => r.type)).toEqual(['consecutive_failures']);
    await again.close();
  });
});

describe('a rule whose condition cannot be evaluated', () => {
  it('does not fire, and says so once through onError', () => {
    const errors: string[] = [];
    const o = createOverseer({ onError: (_, source) => errors.push(source) });
    o.addCustomRule({ type: 'thrower', condition: 'task.id < 3' }); // a string compared with a number
    o.scheduleTasks([{ id: 'a', maxRetries: 0 }, { id: 'b', maxRetries: 0 }]);
    for (const id of ['a', 'b']) o.markFailed(o.getNextTask()!.id, `${id} broke`);
    expect(o.getPendingBreakpoints().map((b) => b.type)).not.toContain('thrower');
    expect(errors.filter((e) => e.includes('"thrower"'))).toEqual([
      'breakpoint rule "thrower" (task.id < 3): its condition could not be evaluated, so it did not fire; later failures of this rule are not reported',
    ]);
  });
});

describe('a plan with two rules of one type', () => {
  it('is refused, naming both (the second would replace the first, and they would take turns from run to run)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'overseer-rules-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, ['tasks:', '  - { id: a, command: "true" }', 'breakpoints:', '  rules:', '    - { type: mygate, condition: "false" }', '    - { type: mygate, condition: "true" }', ''].join('\n'));
    expect(() => loadPlan(file)).toThrow(/breakpoints\.rules\[1\]\.type: "mygate" is already the type of breakpoints\.rules\[0\]; one rule per type/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('pause holders', () => {
  it('a breakpoint letting go of a project that is not paused leaves no holder behind', () => {
    const actor = createActor(supervisorMachine).start();
    actor.send({ type: 'RESUME', projectId: 'p', holder: 'bp-1' }); // e.g. a person resumed it first (older stores)
    actor.send({ type: 'PAUSE', projectId: 'p', holder: 'bp-2' });
    actor.send({ type: 'RESUME', projectId: 'p', holder: 'bp-2' });
    expect(actor.getSnapshot().context.pausedProjects).toEqual([]);
  });
});

describe('a store from before cancelled tasks closed their breakpoints', () => {
  it('has such a breakpoint closed when it is opened, so a run does not wait on it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overseer-stale-bp-'));
    const path = join(dir, 's.json');
    const first = createOverseer({ store: jsonFileStore(path), compactEvery: 1_000_000 });
    first.addCustomRule({ type: 'gate', condition: 'false' });
    first.scheduleTask({ id: 'a' });
    const bp = first.triggerBreakpoint('gate', { taskId: 'a' });
    first.cancelTask('a');
    await first.flush();
    // What an older build journaled: the cancel, without the breakpoint's closing.
    const journal = readFileSync(`${path}.journal`, 'utf8').split('\n').filter((line) => !(line.includes('"k":"bpev"') && line.includes('"RESOLVE"')));
    const copy = join(dir, 'old.json');
    writeFileSync(`${copy}.journal`, journal.join('\n'));
    await first.close();

    const o = createOverseer({ store: jsonFileStore(copy) });
    expect(o.getBreakpoint(bp.id)).toMatchObject({ state: 'resolved', resolution: { action: 'cancel', by: 'overseer' } });
    expect(o.getPendingBreakpoints()).toEqual([]);
    await o.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
