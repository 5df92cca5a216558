/**
 * Traces: a real run (a retry, a breakpoint a person resolves) recorded with traceTo, read
 * back, and replayed through the machines' pure transitions to the runtime's final states.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOverseer, ExecutionError, jsonFileStore, readTrace, replayTrace, traceTo, TraceError, type InspectionRecord, type Overseer } from '../runtime/index.js';
import { ROOT } from './helpers/cli.js';

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
    expect(() => readTrace(join(dir, 'badrecord.ndjson'))).toThrow(/badrecord\.ndjson:3: not an inspection record: event: missing/);
    writeFileSync(join(dir, 'noactor.ndjson'), [...lines.slice(0, 2), JSON.stringify({ type: '@xstate.event', machine: 'task', at: 1, event: { type: 'START' } })].join('\n') + '\n');
    expect(() => readTrace(join(dir, 'noactor.ndjson'))).toThrow(/noactor\.ndjson:3: not an inspection record: actorId: missing$/);
    expect(() => readTrace(join(dir, 'absent.ndjson'))).toThrow(TraceError);
    expect(() => readTrace(join(dir, 'absent.ndjson'))).toThrow(/absent\.ndjson: no such trace/);
    expect(() => readTrace(dir)).toThrow(/is a directory, not a trace/);

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

  it('gives the line of a mismatch in the file, besides its index', async () => {
    const file = join(dir, 'lines.ndjson');
    await tracedRun(file);
    // A blank line in the file: indexes and lines part ways.
    const text = readFileSync(file, 'utf8').split('\n');
    const at = text.findIndex((l) => l.includes('"@xstate.snapshot"') && l.includes('"task:announce"') && l.includes('"value":"completed"'));
    text[at] = text[at]!.replace('"value":"completed"', '"value":"failed"');
    writeFileSync(join(dir, 'lines2.ndjson'), [text[0], '', ...text.slice(1)].join('\n'));
    const [mismatch] = replayTrace(readTrace(join(dir, 'lines2.ndjson'))).mismatches;
    expect(mismatch).toMatchObject({ index: at - 1, line: at + 2, actorId: 'task:announce' });
  });
});

describe('a trace without writer.close()', () => {
  it('is written when the overseer closes', async () => {
    const file = join(dir, 'onclose.ndjson');
    const overseer = createOverseer();
    traceTo(overseer, file, { flushMs: 600_000 });
    overseer.scheduleTasks([{ id: 'a' }]);
    overseer.markComplete(overseer.getNextTask()!.id);
    await overseer.close();
    const { records } = readTrace(file);
    expect(replayTrace(records).actors).toMatchObject({ 'task:a': { value: 'completed' }, supervisor: { value: 'closed' } });
  });

  it('is written when the process exits without closing anything', () => {
    const file = join(dir, 'onexit.ndjson');
    const script = `
      import { createOverseer, traceTo } from './runtime/index.ts';
      const overseer = createOverseer();
      traceTo(overseer, ${JSON.stringify(file)}, { flushMs: 600000 });
      overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
      overseer.markComplete(overseer.getNextTask().id);
      process.exit(0);`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    expect(replayTrace(readTrace(file)).actors).toMatchObject({ 'task:a': { value: 'completed' }, 'task:b': { value: 'ready' } });
  });
});

describe('a trace continued by a resumed run (append)', () => {
  it('keeps the first run, and replays across both: each actor re-synced from its snapshot', async () => {
    const sub = mkdtempSync(join(tmpdir(), 'overseer-trace-append-'));
    const store = join(sub, 'state.json');
    const file = join(sub, 'trace.ndjson');
    const first = createOverseer({ store: jsonFileStore(store) });
    traceTo(first, file, { append: true });
    first.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    first.markComplete(first.getNextTask()!.id);
    await first.close();
    const firstCount = readTrace(file).records.length;
    // Killed mid-line: the torn line is cut before the next run writes.
    appendFileSync(file, '{"type":"@xstate.ev');

    const second = createOverseer({ store: jsonFileStore(store) });
    traceTo(second, file, { append: true });
    second.markComplete(second.getNextTask()!.id);
    await second.close();

    const trace = readTrace(file);
    expect(trace.warnings).toEqual([]);
    expect(readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"overseer.trace"'))).toHaveLength(1);
    expect(trace.records.length).toBeGreaterThan(firstCount);
    const replayed = replayTrace(trace);
    expect(replayed.mismatches).toEqual([]);
    expect(replayed.actors).toMatchObject({ 'task:a': { value: 'completed' }, 'task:b': { value: 'completed' }, supervisor: { value: 'closed' } });
  });

  it('refuses to append to a file that is not a trace of this version', () => {
    const other = join(dir, 'notes.txt');
    writeFileSync(other, 'my notes\n');
    const overseer = createOverseer();
    open = overseer;
    expect(() => traceTo(overseer, other, { append: true })).toThrow(/notes\.txt is not an Overseer trace; choose a new file/);
    writeFileSync(other, '{"type":"overseer.trace","version":99}\n');
    expect(() => traceTo(overseer, other, { append: true })).toThrow(/version 99.*choose a new file/);
    expect(readFileSync(other, 'utf8')).toBe('{"type":"overseer.trace","version":99}\n');
  });
});
