/**
 * Where an inspector's records come from, and where its commands go:
 *
 * - live: an Overseer in this process (`overseer run --inspect`, or embedded use); commands
 *   are applied to it directly and acknowledged once durable.
 * - store: a store another process may hold (`overseer inspect --store`): read without its
 *   lock, as `overseer status` does, polled, and turned into snapshot records of what
 *   changed; commands go through the store's inbox to the run holding it (control.ts), or
 *   are applied directly when nobody holds it.
 * - replay: a trace (`overseer replay`): fixed records, no commands, a time slider.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { jsonFileStore } from '../../store/json-file.js';
import { StoreLockedError } from '../../store/errors.js';
import { applyCommand, sendCommand, type ControlAnswer, type ControlCommand } from '../control.js';
import { breakpointActorId, SUPERVISOR_ACTOR_ID, taskActorId, type InspectedMachine, type InspectionRecord, type InspectionListener } from '../inspection.js';
import { createOverseer, type Overseer } from '../overseer.js';
import { readStore } from '../status.js';
import { ValidationError } from '../errors.js';
import { recordProblem } from '../trace.js';
import { describe } from '../validate.js';

export type Command = Omit<ControlCommand, 'id'>;
export type CommandAnswer = Omit<ControlAnswer, 'id'>;

export interface InspectorSource {
  readonly mode: 'live' | 'store' | 'replay';
  /**
   * Starts feeding records; returns the stop function. `problem` is told when the source
   * cannot be read (a message), and again with null once it can.
   */
  start(feed: InspectionListener, problem?: (message: string | null) => void): () => void;
  /** Applies a command, or null when this source takes none (a replay). */
  command: ((c: Command) => Promise<CommandAnswer>) | null;
  /** A replay's records, for the time slider. */
  readonly records?: readonly InspectionRecord[];
}

export function liveSource(overseer: Overseer): InspectorSource {
  if (!overseer || typeof (overseer as { inspect?: unknown }).inspect !== 'function') throw new ValidationError('liveSource', [`overseer: must be an Overseer, got ${describe(overseer)}`]);
  return {
    mode: 'live',
    start: (feed) => overseer.inspect(feed),
    async command(c) {
      const answer = applyCommand(overseer, c);
      // Durable before it is acknowledged, as for commands through the inbox.
      if (answer.ok) await overseer.flush();
      return answer;
    },
  };
}

export function replaySource(records: readonly InspectionRecord[]): InspectorSource {
  if (!Array.isArray(records)) throw new ValidationError('replaySource', [`records: must be a list of inspection records (readTrace(file).records), got ${describe(records)}`]);
  const problems = records.flatMap((r, i) => {
    const problem = recordProblem(r);
    return problem ? [`records[${i}]: ${problem}`] : [];
  });
  if (problems.length) throw new ValidationError('replaySource', problems.slice(0, 10));
  return {
    mode: 'replay',
    records,
    start(feed) {
      for (const r of records) feed(r);
      return () => {};
    },
    command: null,
  };
}

/** Applies a command to a store: through the inbox of the run holding it, or directly when none does. */
async function storeCommand(path: string, c: Command): Promise<CommandAnswer> {
  let overseer: Overseer;
  try {
    overseer = createOverseer({ store: jsonFileStore(path) });
  } catch (error) {
    if (!(error instanceof StoreLockedError)) return { ok: false, message: (error as Error).message };
    const { id: _, ...answer } = await sendCommand(path, c);
    return answer;
  }
  try {
    return applyCommand(overseer, c);
  } finally {
    await overseer.close();
  }
}

interface Seen {
  value: string;
  mark: string;
}


/**
 * Whether a live process holds the store's lock. A store's final image records the supervisor
 * as running (so a resume runs), which is not what a store nobody runs should show.
 */
function held(path: string): boolean {
  try {
    const lock = JSON.parse(readFileSync(`${path}.lock`, 'utf8')) as { pid?: unknown; hostname?: unknown };
    if (typeof lock.pid !== 'number') return false;
    if (lock.hostname !== hostname()) return true; // another machine's process: cannot tell, assume it runs
    process.kill(lock.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `onError` hears a store that cannot be read, once per distinct problem, after it failed two
 * polls in a row (one failure can be a read caught mid-compaction); the page is told too.
 */
export function storeSource(path: string, intervalMs = 500, onError?: (message: string) => void): InspectorSource {
  const problems: string[] = [];
  if (typeof path !== 'string' || path.trim() === '') problems.push(`path: must be the path of a store, got ${describe(path)}`);
  if (!Number.isFinite(intervalMs) || intervalMs < 10) problems.push(`intervalMs: must be at least 10 ms, got ${describe(intervalMs)}`);
  if (problems.length) throw new ValidationError('storeSource', problems);
  return {
    mode: 'store',
    command: (c) => storeCommand(path, c),
    start(feed, problem) {
      const seen = new Map<string, Seen>();
      let failures = 0;
      let reported: string | null = null;
      const poll = () => {
        let state;
        try {
          state = readStore(path);
        } catch (error) {
          const message = `${path}: ${(error as Error).message}`;
          if (++failures >= 2 && message !== reported) {
            reported = message;
            onError?.(message);
            problem?.(message);
          }
          return;
        }
        failures = 0;
        if (reported !== null) {
          reported = null;
          problem?.(null);
        }
        const now = Date.now();
        const actors: { actorId: string; machine: InspectedMachine; value: string; context: unknown; mark: string; at: number }[] = [];
        for (const t of state.tasks) {
          const last = t.context.history[t.context.history.length - 1];
          actors.push({ actorId: taskActorId(t.context.id), machine: 'task', value: t.value, context: t.context, mark: `${t.context.history.length}:${t.context.attempts}:${t.context.changedFiles?.length ?? 0}`, at: last?.at ?? now });
        }
        for (const b of state.breakpoints) actors.push({ actorId: breakpointActorId(b.context.id), machine: 'breakpoint', value: b.value, context: b.context, mark: String(b.context.audit.length), at: b.context.audit[b.context.audit.length - 1]?.at ?? now });
        const supervisorValue = held(path) ? state.supervisor.value : 'closed';
        actors.push({ actorId: SUPERVISOR_ACTOR_ID, machine: 'supervisor', value: supervisorValue, context: state.supervisor.context, mark: JSON.stringify(state.supervisor.context), at: now });
        for (const a of actors) {
          const before = seen.get(a.actorId);
          if (before && before.value === a.value && before.mark === a.mark) continue;
          seen.set(a.actorId, { value: a.value, mark: a.mark });
          // A poll sees states, not the events between them: the first sight is an actor record, later ones are snapshots.
          if (!before) feed({ type: '@xstate.actor', actorId: a.actorId, machine: a.machine, at: a.at, snapshot: { value: a.value, context: a.context } });
          else feed({ type: '@xstate.snapshot', actorId: a.actorId, machine: a.machine, at: a.at, event: 'store.read', value: a.value, context: a.context });
        }
      };
      poll();
      const timer = setInterval(poll, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
