/**
 * Traces: a real run (a retry, a breakpoint a person resolves) recorded with traceTo, read
 * back, and replayed through the machines' pure transitions to the runtime's final states.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOverseer, ExecutionError, readTrace, replayTrace, traceTo, TraceError, type InspectionRecord, type Overseer } from '../runtime/index.js';

const dir = mkdtempSync(join(tmpdir(), 'overseer-trace-'));
let open: Overseer | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

/** Runs a small plan to the end: `build` fails once and is retried, `release` is a milestone a person approves. */
async function tracedRun(file: string): Promise<{ overseer: Overseer; live: InspectionRecord[] }> {
  let buildAttempts = 0;
  const overseer = createOverseer({
    retry: { baseDelayMs: 5 },
    executors: {
      work: async (task) => {
        if (task.id === 'build' && ++buildAttempts === 1) throw new ExecutionError('flaky compiler', { retryable: true });
        return { done: task.id };
      },
    },
  });
  open = overseer;
  const live: InspectionRecord[] = [];
  overseer.inspect((r) => live.push(r));
  const writer = traceTo(overseer, file, { flushMs: 10 });
  // A person answers the milestone's breakpoint as soon as it is raised.
  overseer.on('breakpoint.triggered', (e) => {
    setTimeout(() => overseer.resolveBreakpoint(e.breakpoint.id, { by: 'tester', note: 'looks right' }), 5);
  });
  overseer.scheduleTasks([
    { id: 'fetch', executor: 'work' },
    { id: 'build', executor: 'work', dependencies: ['fetch'] },
    { id: 'release', executor: 'work', dependencies: ['build'], metadata: { milestone: true } },
    { id: 'announce', executor: 'work', dependencies: ['release'] },
  ]);
  const { outcome } = overseer.run({ concurrency: 2, waitForPersonMs: 5_000 });
  const result = await outcome;
  expect(result.exitCode).toBe(0);
  await overseer.close();
  writer.close();
  return { overseer, live };
}

describe('traces', () => {
  it('replays a recorded run through the pure transitions to the same final state of every task, breakpoint and the supervisor', async () => {
    const file = join(dir, 'run.ndjson');
    const { overseer, live } = await tracedRun(file);
    const trace = readTrace(file);
    expect(trace.header).toMatchObject({ type: 'overseer.trace', version: 1 });
    expect(trace.warnings).toEqual([]);
    // What was written is what the listener saw, record for record (after each one's own first
    // record: the supervisor as it was when that listener came).
    expect(trace.records.slice(1)).toEqual(JSON.parse(JSON.stringify(live.slice(1))));

    const replayed = replayTrace(trace);
    expect(replayed.mismatches).toEqual([]);
    expect(replayed.events).toBeGreaterThan(10);

    // Every task: the replayed value and context are the runtime's final ones.
    const tasks = overseer.getTasks();
    expect(tasks.map((t) => t.state)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(overseer.getTaskStatus('build')!.attempts).toBe(2);
    for (const t of tasks) {
      const actor = replayed.actors[`task:${t.id}`]!;
      expect(actor.value).toBe(t.state);
      const ctx = actor.context as { attempts: number; retries: number; result: unknown; history: unknown[] };
      expect(ctx.attempts).toBe(t.attempts);
      expect(ctx.retries).toBe(t.retries);
      expect(ctx.result).toEqual(t.result);
      expect(ctx.history).toEqual(t.history);
    }
    // The breakpoint: resolved by the tester, the same audit trail.
    const [bp] = overseer.getBreakpointHistory();
    expect(bp!.state).toBe('resolved');
    const bpActor = replayed.actors[`breakpoint:${bp!.id}`]!;
    expect(bpActor.value).toBe('resolved');
    expect(bpActor.context).toMatchObject({ resolution: { by: 'tester', note: 'looks right', action: 'continue' }, audit: bp!.audit });
    // The supervisor (a real XState actor, seen through XState's inspect): paused by the milestone, running again, closed.
    expect(replayed.actors.supervisor!.value).toBe('closed');
    const supEvents = trace.records.filter((r) => r.actorId === 'supervisor' && r.type === '@xstate.event').map((r) => (r as { event: { type: string } }).event.type);
    expect(supEvents).toEqual(expect.arrayContaining(['PAUSE', 'RESUME', 'CLOSE']));

    // Each recorded snapshot equals the replay's state at that point.
    const last = new Map<string, InspectionRecord>();
    for (const r of trace.records) if (r.type === '@xstate.snapshot') last.set(r.actorId, r);
    for (const [id, r] of last) expect({ id, value: replayed.actors[id]!.value }).toEqual({ id, value: (r as { value: string }).value });
  });

  it('replays up to a point (the time slider) and notices a doctored snapshot', async () => {
    const file = join(dir, 'slider.ndjson');
    await tracedRun(file);
    const trace = readTrace(file);
    const firstStart = trace.records.findIndex((r) => r.type === '@xstate.event' && r.event.type === 'START');
    const early = replayTrace(trace, { until: firstStart });
    expect(early.actors['task:fetch']!.value).toBe('ready');
    expect(early.actors['task:announce']!.value).toBe('pending');

    const doctored = trace.records.map((r) => (r.type === '@xstate.snapshot' && r.actorId === 'task:announce' && r.value === 'completed' ? { ...r, value: 'failed' } : r));
    const result = replayTrace(doctored);
    expect(result.mismatches).toHaveLength(1);
    expect(result.mismatches[0]).toMatchObject({ actorId: 'task:announce', recorded: { value: 'failed' }, replayed: { value: 'completed' } });
  });

  it('names the file and line of a malformed trace, and skips a last line cut short by a kill', async () => {
    const file = join(dir, 'bad.ndjson');
    await tracedRun(file);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');

    writeFileSync(join(dir, 'notjson.ndjson'), [...lines.slice(0, 3), '{"type": "@xstate.event",', ...lines.slice(3)].join('\n') + '\n');
    expect(() => readTrace(join(dir, 'notjson.ndjson'))).toThrow(/notjson\.ndjson:4: not a JSON line/);

    writeFileSync(join(dir, 'badrecord.ndjson'), [...lines.slice(0, 2), JSON.stringify({ type: '@xstate.event', actorId: 'task:x', machine: 'task', at: 1 }), ...lines.slice(2)].join('\n') + '\n');
    expect(() => readTrace(join(dir, 'badrecord.ndjson'))).toThrow(TraceError);
    expect(() => readTrace(join(dir, 'badrecord.ndjson'))).toThrow(/badrecord\.ndjson:3: not an inspection record: event: must be an object/);

    writeFileSync(join(dir, 'noheader.ndjson'), lines.slice(1).join('\n') + '\n');
    expect(() => readTrace(join(dir, 'noheader.ndjson'))).toThrow(/noheader\.ndjson:1: not an Overseer trace header/);

    writeFileSync(join(dir, 'torn.ndjson'), lines.join('\n') + '\n' + lines[lines.length - 1]!.slice(0, 20));
    const torn = readTrace(join(dir, 'torn.ndjson'));
    expect(torn.warnings[0]).toMatch(/torn\.ndjson:\d+: the last line is cut short/);
    expect(torn.records).toHaveLength(lines.length - 1);

    // An event the machine does not accept in the replayed state: the trace and the machines disagree.
    const records = readTrace(file).records;
    const i = records.findIndex((r) => r.type === '@xstate.event' && r.actorId === 'task:fetch' && r.event.type === 'COMPLETE');
    const swapped = [...records];
    swapped.splice(i, 0, { ...(records[i] as object), event: { type: 'RETRY_DUE', at: 1 } } as unknown as InspectionRecord);
    expect(() => replayTrace(swapped)).toThrow(/task:fetch in state running does not accept RETRY_DUE/);
    expect(() => replayTrace('nope' as never)).toThrow(/trace: must be a trace/);
  });
});
