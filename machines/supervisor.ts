/**
 * The supervisor statechart: the lifecycle of one Overseer runtime.
 *
 * It is a real XState actor (systemId `supervisor`, so `system.get('supervisor')`
 * finds it and the `inspect` option sees it). It decides whether scheduling may hand
 * out work: `running` does, `paused` (everything) does not, and projects can be paused
 * one by one while running. `closed` is final: a closed runtime changes nothing more.
 * Its context is plain JSON and is persisted with the tasks.
 *
 * The per-task indexes (queues, dependency counts) are not in this context: they are
 * derived from the task snapshots, rebuilt on restore, and updated in O(log n) per
 * transition by the runtime's scheduler (see docs/ARCHITECTURE.md for why).
 */
import { assign, setup } from 'xstate';

export interface DeadlockSummary {
  projectId: string;
  cycle: string[] | null;
  stuck: number;
  at: number;
}

/** How much runs at once, as the plan (or the embedding code) set it: a resume keeps it. */
export interface RunLimits {
  concurrency?: number;
  perProject?: Record<string, number>;
  defaultPerProject?: number | null;
}

export interface SupervisorContext {
  /** Projects in which no new task starts. */
  pausedProjects: string[];
  /**
   * Who holds each paused project: `person`, or the ids of breakpoints. A project runs again
   * when its last holder lets go, so a breakpoint resolving does not undo a person's pause.
   */
  pauseHolders?: Record<string, string[]>;
  deadlocks: DeadlockSummary[];
  /** The run limits set last (`setRunLimits`), absent until set. */
  limits?: RunLimits;
}

export type SupervisorEvent =
  /** `holder` defaults to `person`. */
  | { type: 'PAUSE'; projectId?: string; holder?: string }
  /**
   * Lets `holder` (default `person`) go. A project held by an open breakpoint stays paused until
   * that breakpoint is resolved: a person's resume must not release work waiting for an approval.
   */
  | { type: 'RESUME'; projectId?: string; holder?: string }
  | { type: 'DEADLOCK_DETECTED'; deadlock: DeadlockSummary }
  | { type: 'SET_LIMITS'; limits: RunLimits }
  | { type: 'CLOSE' };

/** How many deadlock summaries the supervisor keeps (oldest dropped first). */
const DEADLOCK_LOG_LIMIT = 20;

export const supervisorMachine = setup({
  types: {} as {
    context: SupervisorContext;
    events: SupervisorEvent;
  },
  guards: {
    concernsOneProject: ({ event }) => 'projectId' in event && typeof event.projectId === 'string',
  },
  actions: {
    pauseProject: assign(({ context, event }) => {
      if (event.type !== 'PAUSE' || event.projectId === undefined) return {};
      const holders = context.pauseHolders?.[event.projectId] ?? (context.pausedProjects.includes(event.projectId) ? ['person'] : []);
      const holder = event.holder ?? 'person';
      return {
        pausedProjects: context.pausedProjects.includes(event.projectId) ? context.pausedProjects : [...context.pausedProjects, event.projectId],
        pauseHolders: { ...context.pauseHolders, [event.projectId]: holders.includes(holder) ? holders : [...holders, holder] },
      };
    }),
    resumeProject: assign(({ context, event }) => {
      if (event.type !== 'RESUME' || event.projectId === undefined) return {};
      const projectId = event.projectId;
      const holder = event.holder ?? 'person';
      // A paused project without a holder list (stores from before there were holders) is a person's pause.
      const holders = context.pauseHolders?.[projectId] ?? (context.pausedProjects.includes(projectId) ? ['person'] : []);
      const left = holders.filter((h) => h !== holder);
      const { [projectId]: _, ...others } = context.pauseHolders ?? {};
      return left.length
        ? { pauseHolders: { ...others, [projectId]: left } }
        : { pausedProjects: context.pausedProjects.filter((p) => p !== projectId), pauseHolders: others };
    }),
    recordLimits: assign({ limits: ({ context, event }) => (event.type === 'SET_LIMITS' ? event.limits : context.limits) }),
    recordDeadlock: assign({
      deadlocks: ({ context, event }) =>
        event.type === 'DEADLOCK_DETECTED'
          ? [...context.deadlocks, event.deadlock].slice(-DEADLOCK_LOG_LIMIT)
          : context.deadlocks,
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: { pausedProjects: [], deadlocks: [] },
  initial: 'running',
  on: {
    DEADLOCK_DETECTED: { actions: 'recordDeadlock' },
    SET_LIMITS: { actions: 'recordLimits' },
  },
  states: {
    running: {
      on: {
        PAUSE: [{ guard: 'concernsOneProject', actions: 'pauseProject' }, { target: 'paused' }],
        RESUME: { guard: 'concernsOneProject', actions: 'resumeProject' },
        CLOSE: 'closed',
      },
    },
    paused: {
      on: {
        PAUSE: { guard: 'concernsOneProject', actions: 'pauseProject' },
        RESUME: [{ guard: 'concernsOneProject', actions: 'resumeProject' }, { target: 'running' }],
        CLOSE: 'closed',
      },
    },
    closed: { type: 'final' },
  },
});

export type SupervisorMachine = typeof supervisorMachine;
