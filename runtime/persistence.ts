/**
 * Between the runtime and a store: what goes into the journal, how an image is taken,
 * and how image + journal become task actors again.
 *
 * The journal records causes, not results: every event a task machine accepted (with
 * its time), every task added, every priority change and supervisor event. Replay
 * feeds the same events to the same pure machine, so it arrives at the same states
 * without re-running any consequence logic; the scheduler then rebuilds its indexes.
 */
import { transition } from 'xstate';
import { supervisorMachine } from '../machines/supervisor.js';
import { markIfExtended } from '../machines/task.js';
import { StoreCorruptError } from '../store/errors.js';
import type { JournalRecord, StoreContents, StoreImage, StoredBreakpoint, StoredSupervisor, StoredTask } from '../store/types.js';
import type { RuleDefinition } from './breakpoint-rules.js';
import type { QualityRecord } from './quality/types.js';
import type { DecisionState } from './decision.js';
import { SCHEMA_VERSION } from '../store/types.js';
import { effectivePriority } from './priority.js';
import { BreakpointHost, type TaskHost } from './task-host.js';
import { FailureStreaks, type StoredFailureStreaks } from './failure-streaks.js';

export interface ReplayResult {
  tasks: StoredTask[];
  supervisor: StoredSupervisor;
  breakpoints: StoredBreakpoint[];
  rules: RuleDefinition[];
  disabledBreakpointTypes: string[];
  qualityHistory: QualityRecord[];
  decisionState: DecisionState | null;
  failureStreaks: StoredFailureStreaks;
  replayed: number;
}

const FRESH_SUPERVISOR: StoredSupervisor = { value: 'running', context: { pausedProjects: [], deadlocks: [] } };

/** `journalName` names the journal in errors. */
export function replay(contents: StoreContents, host: TaskHost, journalName: string): ReplayResult {
  const tasks = new Map<string, StoredTask>();
  for (const t of contents.image?.tasks ?? []) {
    // A context with keys this build does not know, or not in the machine's order, is merged by spread (mergeTaskContext).
    if (!contents.tasksDecoded) markIfExtended(t.context);
    tasks.set(t.context.id, t);
  }
  let supervisor = contents.image?.supervisor ?? FRESH_SUPERVISOR;
  const breakpoints = new Map<string, StoredBreakpoint>();
  for (const b of contents.image?.breakpoints ?? []) breakpoints.set(b.context.id, b);
  const rules = [...(contents.image?.rules ?? [])];
  const disabled = new Set(contents.image?.disabledBreakpointTypes ?? []);
  const bpHost = new BreakpointHost();
  const qualityHistory = [...(contents.image?.qualityHistory ?? [])];
  let decisionState = contents.image?.decisionState ?? null;
  // Followed through the journal's task events, from what the image stored (none in older images;
  // an id that is not a task of that project in the image is not counted).
  const streaks = new FailureStreaks();
  streaks.load((contents.image?.failureStreaks ?? []).map(([projectId, ids]) => [projectId, ids.filter((id) => tasks.get(id)?.context.projectId === projectId)]));

  const corrupt = (record: JournalRecord, what: string) =>
    new StoreCorruptError(
      journalName,
      `record ${record.s}`,
      what,
      'The journal does not match the snapshot; restore a backup or move the journal away.',
    );

  for (const record of contents.journal) {
    try {
      apply(record);
    } catch (error) {
      if (error instanceof StoreCorruptError) throw error;
      // A record of the right kind but not of its shape (a field missing or null): named, as any other damage.
      throw corrupt(record, `a malformed ${JSON.stringify(record.k)} record (${(error as Error).message})`);
    }
  }
  function apply(record: JournalRecord): void {
    switch (record.k) {
      case 'add': {
        const { input } = record;
        if (tasks.has(input.id)) throw corrupt(record, `task "${input.id}" is added twice`);
        // The same initial priority the scheduler computes when it adds a task.
        const initial = effectivePriority({ priority: input.priority, deadline: input.deadline, dependents: 0, retries: 0 }, input.at);
        const created = host.create(input);
        tasks.set(input.id, { value: created.value, context: created.context, effective: initial.value, boosts: initial.reasons });
        break;
      }
      case 'ev': {
        const task = tasks.get(record.t);
        if (!task) throw corrupt(record, `event for unknown task "${record.t}"`);
        const next = host.send(task, record.e);
        if (!next) throw corrupt(record, `task "${record.t}" in state ${task.value} does not accept ${record.e.type}`);
        streaks.observe(task.value, next.value, next.context);
        task.value = next.value;
        task.context = next.context;
        break;
      }
      case 'prio': {
        const task = tasks.get(record.t);
        if (!task) throw corrupt(record, `priority change for unknown task "${record.t}"`);
        task.effective = record.c.to;
        task.boosts = record.c.reasons;
        (task.priorityChanges ??= []).push(record.c);
        break;
      }
      case 'ign':
      case 'unign': {
        const task = tasks.get(record.t);
        if (!task) throw corrupt(record, `dependency note for unknown task "${record.t}"`);
        const ignored = new Set(task.ignored ?? []);
        if (record.k === 'ign') ignored.add(record.d);
        else ignored.delete(record.d);
        task.ignored = [...ignored];
        break;
      }
      case 'sup': {
        const snapshot = supervisorMachine.resolveState(supervisor);
        const [next] = transition(supervisorMachine, snapshot, record.e);
        if (next.value === 'running' || next.value === 'paused') supervisor = { value: next.value, context: next.context };
        break;
      }
      case 'bp':
        if (breakpoints.has(record.input.id)) throw corrupt(record, `breakpoint "${record.input.id}" is triggered twice`);
        breakpoints.set(record.input.id, bpHost.create(record.input));
        break;
      case 'bpev': {
        const bp = breakpoints.get(record.b);
        const next = bp && bpHost.send(bp, record.e);
        if (!next) throw corrupt(record, `breakpoint "${record.b}" does not accept ${record.e.type}`);
        breakpoints.set(record.b, next);
        break;
      }
      case 'rule':
        rules.push(record.rule);
        break;
      case 'bptype':
        if (record.enabled) disabled.delete(record.type);
        else disabled.add(record.type);
        break;
      case 'quality':
        qualityHistory.push(record.r);
        break;
      case 'weights':
        decisionState = record.state;
        break;
      default:
        throw corrupt(record, `unknown record kind ${JSON.stringify((record as { k: unknown }).k)}`);
    }
  }
  return {
    tasks: [...tasks.values()],
    supervisor,
    breakpoints: [...breakpoints.values()],
    rules,
    disabledBreakpointTypes: [...disabled],
    qualityHistory,
    decisionState,
    failureStreaks: streaks.stored(),
    replayed: contents.journal.length,
  };
}

export interface ImageParts {
  qualityHistory: QualityRecord[];
  decisionState: DecisionState | null;
  tasks: StoredTask[];
  supervisor: StoredSupervisor;
  breakpoints: StoredBreakpoint[];
  rules: RuleDefinition[];
  disabledBreakpointTypes: string[];
  failureStreaks: StoredFailureStreaks;
}

export function buildImage(parts: ImageParts, seq: number): StoreImage {
  return { schemaVersion: SCHEMA_VERSION, seq, savedAt: Date.now(), ...parts };
}
