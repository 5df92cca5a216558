/**
 * Traces: every inspection record of a run, one JSON line each, after a header line.
 *
 *   traceTo(overseer, 'trace.ndjson')   records (buffered; flushed when the overseer closes, on
 *                                       process exit and by `close()`; `append` continues a trace)
 *   readTrace('trace.ndjson')           reads and checks every line (errors name the line)
 *   replayTrace(trace)                  rebuilds every actor through its machine's pure transition
 *
 * Replay needs no runtime: each actor starts from its `@xstate.actor` input (the machine's
 * own initial state) or snapshot, and each `@xstate.event` goes through the same transition
 * function the runtime used. The machines take their times from the events, never from a
 * clock, so a replay arrives at exactly the recorded states; `replayTrace` checks every
 * recorded snapshot against it and reports any difference.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { transition, type AnyStateMachine } from 'xstate';
import { breakpointMachine, type BreakpointEvent, type BreakpointInput } from '../machines/breakpoint.js';
import { supervisorMachine, type SupervisorEvent } from '../machines/supervisor.js';
import { markIfExtended, taskMachine, type TaskContext, type TaskEvent, type TaskInput } from '../machines/task.js';
import { OverseerError, ValidationError } from './errors.js';
import { describeMachine } from './graph-export.js';
import { INSPECTED_MACHINES, type ActorState, type InspectedMachine, type InspectionListener, type InspectionRecord } from './inspection.js';
import { BreakpointHost, TaskHost, type PersistedBreakpoint, type PersistedTask } from './task-host.js';
import { describe, isPlainObject } from './validate.js';

export const TRACE_VERSION = 1;

export interface TraceHeader {
  type: 'overseer.trace';
  version: number;
  createdAt: string;
  /** Each machine's id and a fingerprint of its states and transitions: a replay on changed machines is flagged. */
  machines: Record<InspectedMachine, { id: string; fingerprint: string }>;
}

export interface TraceFile {
  header: TraceHeader;
  records: InspectionRecord[];
  /** The line in the file of each record (1 is the header), for messages that point into the file. */
  lines?: number[];
  /** A last line cut short (the process was killed while writing) is skipped and reported here. */
  warnings: string[];
}

export class TraceError extends OverseerError {
  override name = 'TraceError';
}

const MACHINES: Record<InspectedMachine, AnyStateMachine> = { task: taskMachine, breakpoint: breakpointMachine, supervisor: supervisorMachine };

export function machineFingerprints(): TraceHeader['machines'] {
  const out = {} as TraceHeader['machines'];
  for (const name of INSPECTED_MACHINES) {
    const m = MACHINES[name];
    out[name] = { id: m.id, fingerprint: createHash('sha256').update(JSON.stringify(describeMachine(m))).digest('hex').slice(0, 16) };
  }
  return out;
}

export interface TraceWriter {
  /** Records written so far. */
  readonly records: number;
  /** Stops recording, writes what is buffered and closes the file. Idempotent. */
  close(): void;
}

/** The part of an Overseer a trace needs. */
export interface Inspectable {
  inspect(listener: InspectionListener, options?: { current?: boolean; onEnd?: () => void }): () => void;
}

/** Reads up to `max` bytes of `fd` from `position`. */
function readAt(fd: number, position: number, max: number): string {
  const buffer = Buffer.alloc(max);
  return buffer.subarray(0, readSync(fd, buffer, 0, max, position)).toString('utf8');
}

/**
 * Opens an existing trace to continue it: its header must be this version's, recorded by
 * these machines (a replay replays one set of machines); a last line cut short by a kill is
 * cut off, so the new records start on a line of their own.
 */
function openForAppend(file: string): number {
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return fd;
    const first = readAt(fd, 0, Math.min(size, 1 << 20)).split('\n')[0]!;
    let header: unknown;
    try {
      header = JSON.parse(first);
    } catch {
      header = null;
    }
    const current = machineFingerprints();
    if (!isPlainObject(header) || header.type !== 'overseer.trace') throw new TraceError(`${file} is not an Overseer trace; choose a new file for the trace`);
    if (header.version !== TRACE_VERSION) throw new TraceError(`${file} is a trace of version ${describe(header.version)}; this Overseer writes version ${TRACE_VERSION}: choose a new file`);
    const machines = header.machines as Record<string, { fingerprint?: unknown } | undefined> | undefined;
    if (INSPECTED_MACHINES.some((m) => machines?.[m]?.fingerprint !== current[m].fingerprint)) throw new TraceError(`${file} was recorded by different machines; a replay could not follow both: choose a new file`);
    // Back from the end to the last newline: anything after it is a torn line.
    let end = size;
    while (end > 0) {
      const from = Math.max(0, end - 65_536);
      const chunk = readAt(fd, from, end - from);
      const nl = chunk.lastIndexOf('\n');
      if (nl >= 0) {
        end = from + Buffer.byteLength(chunk.slice(0, nl + 1));
        break;
      }
      end = from;
    }
    if (end < size) ftruncateSync(fd, end);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * Records every inspection record of `overseer` into `file`: replaced, or with `append`
 * continued when it already holds a trace (a resumed run's records follow the first run's;
 * each actor is re-introduced with its current snapshot, which a replay takes as the truth).
 * Lines are buffered and written at most every `flushMs` (or once 256 KB gather), so tracing
 * a 100k-task run costs one write per batch rather than per transition. What is buffered is
 * written when the overseer closes, when the process exits, and by `close()`.
 */
export function traceTo(overseer: Inspectable, file: string, options: { flushMs?: number; append?: boolean } = {}): TraceWriter {
  if (!overseer || typeof (overseer as Inspectable).inspect !== 'function') throw new ValidationError('traceTo', [`overseer: must be an Overseer, got ${describe(overseer)}`]);
  if (typeof file !== 'string' || file.trim() === '') throw new ValidationError('traceTo', [`file: must be a path, got ${describe(file)}`]);
  const flushMs = options.flushMs ?? 200;
  if (!Number.isFinite(flushMs) || flushMs < 0) throw new ValidationError('traceTo', [`options.flushMs: must be a number of milliseconds ≥ 0, got ${describe(flushMs)}`]);
  if (options.append !== undefined && typeof options.append !== 'boolean') throw new ValidationError('traceTo', [`options.append: must be a boolean, got ${describe(options.append)}`]);
  const fd = options.append && existsSync(file) ? openForAppend(file) : openSync(file, 'w');
  if (fstatSync(fd).size === 0) {
    const header: TraceHeader = { type: 'overseer.trace', version: TRACE_VERSION, createdAt: new Date().toISOString(), machines: machineFingerprints() };
    writeSync(fd, `${JSON.stringify(header)}\n`);
  }
  // Writes go at the end: after the header, or after what an earlier run recorded.
  let position = fstatSync(fd).size;
  const write = (text: string) => {
    position += writeSync(fd, text, position);
  };
  let buffer: string[] = [];
  let size = 0;
  let count = 0;
  let closed = false;
  const flush = () => {
    if (!buffer.length) return;
    const text = buffer.join('');
    buffer = [];
    size = 0;
    write(text);
  };
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearInterval(timer);
    process.off('exit', close);
    flush();
    closeSync(fd);
  };
  // The timer must not keep a finished process alive; so what it has not written yet is
  // written at exit (writes are synchronous, as an 'exit' handler needs).
  const timer = setInterval(flush, Math.max(flushMs, 1));
  timer.unref();
  process.on('exit', close);
  const unsubscribe = overseer.inspect(
    (record) => {
      const line = `${JSON.stringify(record)}\n`;
      buffer.push(line);
      size += line.length;
      count++;
      if (size > 256 * 1024) flush();
    },
    // A closed overseer records nothing more: the trace is complete, so it is written and closed.
    { onEnd: close },
  );
  return {
    get records() {
      return count;
    },
    close,
  };
}

/** A field's problem; one that is not there is called missing. */
const wrong = (name: string, what: string, value: unknown) => (value === undefined ? `${name}: missing` : `${name}: must be ${what}, got ${describe(value)}`);

/** Why `value` is not an inspection record, or null when it is one. */
export function recordProblem(value: unknown): string | null {
  if (!isPlainObject(value)) return `must be an object, got ${describe(value)}`;
  const r = value;
  if (r.type !== '@xstate.actor' && r.type !== '@xstate.event' && r.type !== '@xstate.snapshot') return wrong('type', '@xstate.actor, @xstate.event or @xstate.snapshot', r.type);
  if (typeof r.actorId !== 'string' || r.actorId === '') return wrong('actorId', 'a non-empty string', r.actorId);
  if (!INSPECTED_MACHINES.includes(r.machine as InspectedMachine)) return wrong('machine', `one of ${INSPECTED_MACHINES.join(', ')}`, r.machine);
  if (typeof r.at !== 'number' || !Number.isFinite(r.at)) return wrong('at', 'a time in epoch ms', r.at);
  if (r.type === '@xstate.actor') {
    if (r.input === undefined && r.snapshot === undefined) return 'an @xstate.actor record needs input or snapshot';
    if (r.input !== undefined && !isPlainObject(r.input)) return `input: must be an object, got ${describe(r.input)}`;
    if (r.snapshot !== undefined && !(isPlainObject(r.snapshot) && typeof r.snapshot.value === 'string' && isPlainObject(r.snapshot.context))) return 'snapshot: must be { value: string, context: object }';
  } else if (r.type === '@xstate.event') {
    if (!isPlainObject(r.event) || typeof r.event.type !== 'string') return wrong('event', 'an object with a string type', r.event);
  } else {
    if (typeof r.value !== 'string') return wrong('value', 'a state name', r.value);
    if (!isPlainObject(r.context)) return wrong('context', 'an object', r.context);
    if (typeof r.event !== 'string') return wrong('event', 'an event type', r.event);
  }
  return null;
}

/** Reads a trace file, checking the header and every line; errors name the file and line. */
export function readTrace(file: string): TraceFile {
  if (typeof file !== 'string' || file.trim() === '') throw new ValidationError('readTrace', [`file: must be a path, got ${describe(file)}`]);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TraceError(code === 'ENOENT' ? `${file}: no such trace` : code === 'EISDIR' ? `${file} is a directory, not a trace` : `${file}: cannot read it (${(error as Error).message})`);
  }
  const lines = text.split('\n');
  const endsCleanly = text.endsWith('\n');
  if (endsCleanly) lines.pop();
  const warnings: string[] = [];
  const parse = (line: string, n: number): unknown => {
    try {
      return JSON.parse(line) as unknown;
    } catch (error) {
      throw new TraceError(`${file}:${n}: not a JSON line (${(error as Error).message})`);
    }
  };
  if (lines.length === 0 || lines[0] === '') throw new TraceError(`${file}:1: empty; a trace starts with a header line {"type":"overseer.trace",…}`);
  const header = parse(lines[0]!, 1);
  if (!isPlainObject(header) || header.type !== 'overseer.trace') throw new TraceError(`${file}:1: not an Overseer trace header (expected {"type":"overseer.trace",…})`);
  if (header.version !== TRACE_VERSION) throw new TraceError(`${file}:1: trace version ${describe(header.version)} is not supported (this Overseer reads version ${TRACE_VERSION})`);
  if (!isPlainObject(header.machines)) throw new TraceError(`${file}:1: header.machines: must be an object`);
  const records: InspectionRecord[] = [];
  const numbers: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    if (i === lines.length - 1 && !endsCleanly) {
      // Written when the process was killed: the last line may be cut short.
      try {
        JSON.parse(line);
      } catch {
        warnings.push(`${file}:${i + 1}: the last line is cut short (the run stopped while writing it); skipped`);
        break;
      }
    }
    const record = parse(line, i + 1);
    const problem = recordProblem(record);
    if (problem) throw new TraceError(`${file}:${i + 1}: not an inspection record: ${problem}`);
    records.push(record as InspectionRecord);
    numbers.push(i + 1);
  }
  const current = machineFingerprints();
  for (const name of INSPECTED_MACHINES) {
    const recorded = (header.machines as Record<string, { fingerprint?: unknown } | undefined>)[name]?.fingerprint;
    if (recorded !== current[name].fingerprint) warnings.push(`the ${name} machine differs from the one that recorded this trace; a replay may not match`);
  }
  return { header: header as unknown as TraceHeader, records, lines: numbers, warnings };
}

export interface ReplayedActor extends ActorState {
  machine: InspectedMachine;
}

export interface ReplayResult {
  /** Every actor's final state, by actor id. */
  actors: Record<string, ReplayedActor>;
  /** Events fed through the machines. */
  events: number;
  /** Recorded snapshots that differ from the replayed state (empty when the replay matches): the record's index, and its line in the file when read from one. */
  mismatches: { index: number; line?: number; actorId: string; recorded: ActorState; replayed: ActorState }[];
}

const taskHost = new TaskHost();
const breakpointHost = new BreakpointHost();

/** JSON's view of a value: what a trace file holds, so live and read-back records compare alike. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;

/**
 * Replays records through the machines' pure transitions. Throws `TraceError` when a record
 * cannot be replayed (an event for an unknown actor, an event the machine does not accept).
 */
export function replayTrace(trace: TraceFile | readonly InspectionRecord[], options: { until?: number } = {}): ReplayResult {
  const records = Array.isArray(trace) ? (trace as readonly InspectionRecord[]) : (trace as TraceFile | null)?.records;
  if (!Array.isArray(records)) throw new ValidationError('replayTrace', [`trace: must be a trace (readTrace) or a list of inspection records, got ${describe(trace)}`]);
  const lines = Array.isArray(trace) ? undefined : (trace as TraceFile).lines;
  // Messages point at the file's line when there is one, as readTrace's do.
  const where = (i: number) => (lines?.[i] !== undefined ? `line ${lines[i]}` : `record ${i}`);
  const until = options.until ?? records.length;
  if (!Number.isInteger(until) || until < 0) throw new ValidationError('replayTrace', [`options.until: must be a whole number ≥ 0, got ${describe(until)}`]);
  const actors = new Map<string, ReplayedActor>();
  const result: ReplayResult = { actors: {}, events: 0, mismatches: [] };
  for (let i = 0; i < Math.min(until, records.length); i++) {
    const r = records[i]!;
    const problem = recordProblem(r);
    if (problem) throw new TraceError(`${where(i)}: not an inspection record: ${problem}`);
    if (r.type === '@xstate.actor') {
      // Also a re-sync point: a resumed run appended to a trace introduces every actor again with its current snapshot.
      // A task context recorded by a newer build may hold keys this one does not know: stepping keeps them.
      if (r.snapshot && r.machine === 'task') markIfExtended(r.snapshot.context as TaskContext);
      actors.set(r.actorId, { machine: r.machine, ...(r.snapshot ? { value: r.snapshot.value, context: r.snapshot.context } : initialState(r.machine, r.input, where(i))) });
      continue;
    }
    const actor = actors.get(r.actorId);
    if (!actor) throw new TraceError(`${where(i)}: ${r.type} for ${r.actorId}, which no @xstate.actor record introduced`);
    if (r.type === '@xstate.event') {
      result.events++;
      const next = step(actor, r.event, where(i), r.actorId);
      actor.value = next.value;
      actor.context = next.context;
    } else if (!(r.value === actor.value && isDeepStrictEqual(asJson(r.context), asJson(actor.context)))) {
      result.mismatches.push({ index: i, ...(lines?.[i] !== undefined ? { line: lines[i] } : {}), actorId: r.actorId, recorded: { value: r.value, context: r.context }, replayed: { value: actor.value, context: actor.context } });
    }
  }
  for (const [id, a] of actors) result.actors[id] = a;
  return result;
}

function initialState(machine: InspectedMachine, input: unknown, where: string): ActorState {
  if (machine === 'task') return taskHost.create(input as TaskInput);
  if (machine === 'breakpoint') return breakpointHost.create(input as BreakpointInput);
  throw new TraceError(`${where}: a supervisor actor record needs a snapshot`);
}

function step(actor: ReplayedActor, event: { type: string }, where: string, actorId: string): ActorState {
  if (actor.machine === 'supervisor') {
    // XState's own lifecycle events (xstate.init, xstate.stop) are not causes the machine handles.
    if (event.type.startsWith('xstate.')) return actor;
    const [next] = transition(supervisorMachine, supervisorMachine.resolveState(actor as never), event as SupervisorEvent);
    return { value: String(next.value), context: next.context };
  }
  const next =
    actor.machine === 'task'
      ? taskHost.send(actor as unknown as PersistedTask, event as TaskEvent)
      : breakpointHost.send(actor as unknown as PersistedBreakpoint, event as BreakpointEvent);
  // Only accepted events are recorded for tasks and breakpoints, so a refusal means the trace and the machine disagree.
  if (!next) throw new TraceError(`${where}: ${actorId} in state ${actor.value} does not accept ${event.type}`);
  return next;
}
