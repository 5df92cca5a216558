/**
 * What a store keeps, and the contract every store implements.
 *
 * The runtime's state is an image (every task actor's state, in scheduling order, plus
 * the supervisor's) and a journal of everything that happened since the image was
 * taken. Restore = image + journal replay. See docs/ARCHITECTURE.md for the guarantees.
 */
import type { TaskContext, TaskEvent, TaskInput, TaskState } from '../machines/task.js';
import type { SupervisorContext, SupervisorEvent } from '../machines/supervisor.js';
import type { BreakpointContext, BreakpointEvent, BreakpointInput, BreakpointState } from '../machines/breakpoint.js';
import type { RuleDefinition } from '../runtime/breakpoint-rules.js';
import type { QualityRecord } from '../runtime/quality/types.js';
import type { DecisionState } from '../runtime/decision.js';
import type { BoostReason } from '../runtime/priority.js';

/** The schema this build writes. Older images and journals are migrated on open; newer ones are refused. */
export const SCHEMA_VERSION = 3;

export interface StoredPriorityChange {
  from: number;
  to: number;
  reasons: BoostReason[];
  at: number;
}

/** One task actor at rest, with the scheduler facts that are not derivable from it. */
export interface StoredTask {
  value: TaskState;
  context: TaskContext;
  effective: number;
  boosts: BoostReason[];
  priorityChanges?: StoredPriorityChange[];
  /** Failed dependencies this task chose to ignore (`onDependencyFailure: 'ignore'`). */
  ignored?: string[];
}

export interface StoredSupervisor {
  value: 'running' | 'paused';
  context: SupervisorContext;
}

export interface StoredBreakpoint {
  value: BreakpointState;
  context: BreakpointContext;
}

export interface StoreImage {
  schemaVersion: number;
  /** The last journal sequence number this image includes. */
  seq: number;
  /** Epoch ms (wall clock) when the image was taken. */
  savedAt: number;
  supervisor: StoredSupervisor;
  /** Every task, in scheduling order (dependencies before dependents). */
  tasks: StoredTask[];
  /** Every breakpoint, oldest first. Absent in stores written before breakpoints existed. */
  breakpoints?: StoredBreakpoint[];
  /** Rules added with addCustomRule. */
  rules?: RuleDefinition[];
  /** Breakpoint types switched off. */
  disabledBreakpointTypes?: string[];
  /** The quality controller's records (newest last). */
  qualityHistory?: QualityRecord[];
  /** The decision engine's learned weights and their log. */
  decisionState?: DecisionState | null;
  /**
   * Per project with failures in a row, the tasks that failed since its last completion
   * (`[projectId, ids]`, runtime/failure-streaks.ts). Absent in stores written before it was kept.
   */
  failureStreaks?: [string, string[]][];
}

/** One journal line. `s` is a sequence number, strictly increasing. */
export type JournalRecord =
  | { s: number; k: 'add'; input: TaskInput }
  | { s: number; k: 'ev'; t: string; e: TaskEvent }
  | { s: number; k: 'prio'; t: string; c: StoredPriorityChange }
  | { s: number; k: 'ign'; t: string; d: string }
  | { s: number; k: 'unign'; t: string; d: string }
  | { s: number; k: 'sup'; e: SupervisorEvent }
  | { s: number; k: 'bp'; input: BreakpointInput }
  | { s: number; k: 'bpev'; b: string; e: BreakpointEvent }
  | { s: number; k: 'rule'; rule: RuleDefinition }
  | { s: number; k: 'bptype'; type: string; enabled: boolean }
  | { s: number; k: 'quality'; r: QualityRecord }
  | { s: number; k: 'weights'; state: DecisionState };

/** A record before the store numbers it. */
export type JournalEntry = JournalRecord extends infer R ? (R extends { s: number } ? Omit<R, 's'> : never) : never;

export interface StoreWarning {
  /**
   * `torn_journal_tail`: a crash cut the last journal line short; it was skipped. `migrated`,
   * `stale_lock_taken`. `released_pending`: the journal ended between a completion and its
   * dependents becoming ready (a write cut short at power loss); they were made ready.
   */
  kind: 'torn_journal_tail' | 'migrated' | 'stale_lock_taken' | 'released_pending';
  message: string;
}

export interface StoreContents {
  image: StoreImage | null;
  /** Journal records after `image.seq`, oldest first. */
  journal: JournalRecord[];
  warnings: StoreWarning[];
  /**
   * The image's tasks were read by store/task-codec.ts (`readSnapshot` does), which marks the
   * contexts the task machine must merge by spread: the runtime need not look at them again.
   * Any other store leaves it out, and the runtime checks each context when it opens.
   */
  tasksDecoded?: boolean;
}

/** What a snapshot maker is given by `Store.compactFrom`. */
export interface SnapshotSource {
  /** The current snapshot file (it may not exist yet). */
  snapshot: string;
  /**
   * The `seq` of that snapshot, as this store last wrote or read it (0 when there is none):
   * a maker that still holds the image it made for that seq may start from it instead of the file.
   */
  snapshotSeq: number;
  /** The journal file: only its first `journalBytes` bytes belong to this snapshot. */
  journal: string;
  journalBytes: number;
  /** The number of the last record in them: the new snapshot's `seq`. */
  seq: number;
  /** Where to write the new snapshot; it must be complete and fsynced when `make` resolves. */
  target: string;
}

export interface Store {
  /** `memory` or `file`. */
  readonly kind: string;
  /** Where the state lives, for messages. */
  readonly location: string;
  /** Takes the writer lock and reads what is stored. Throws, changing nothing, when it cannot. */
  open(): StoreContents;
  /** Adds a record to the journal; durable after the next group commit or `flush()`. */
  append(entry: JournalEntry): void;
  /** The number of the last record appended. */
  readonly seq: number;
  /** Resolves once every record appended so far is durable. */
  flush(): Promise<void>;
  /**
   * Optional: hands every record appended so far to the OS now, so that it survives a
   * killed process (records otherwise wait for the end of the event-loop turn). The CLI
   * calls it before printing a line about them.
   */
  writeOut?(): void;
  /** Writes `image` (which must include every record up to `image.seq`) and drops the journal it covers. */
  compact(image: StoreImage): Promise<void>;
  /**
   * Optional: a compaction whose snapshot `make` writes from the store's own files, so
   * that it can be made off the main thread (runtime/compactor.ts, a worker thread). The
   * store marks the journal, hands `make` what the snapshot must cover, then swaps the
   * written snapshot in and drops the journal it covers, as `compact` does.
   */
  compactFrom?(make: (source: SnapshotSource) => Promise<void>): Promise<void>;
  /** Records appended since the last compaction. */
  readonly journalLength: number;
  /** Flushes and releases the lock. */
  close(): Promise<void>;
}
