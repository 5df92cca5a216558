/**
 * What the inspector page shows, folded from inspection records: a small summary of each
 * task, breakpoint and the supervisor, counts per state and a timeline. The page gets the
 * whole model once, then only what changed (the actors touched since the last batch), so a
 * 10k-task run costs one message per batch, not one per transition.
 */
import { TASK_STATES, type TaskContext } from '../../machines/task.js';
import type { BreakpointContext } from '../../machines/breakpoint.js';
import type { ActorState, InspectionRecord } from '../inspection.js';
import { BreakpointHost, TaskHost } from '../task-host.js';

export interface TaskSummary {
  id: string;
  title: string;
  projectId: string;
  dependencies: string[];
  state: string;
  attempts: number;
  retries: number;
  /** The last error's message, or null. */
  error: string | null;
  /** The result (output) as JSON text, cut to OUTPUT_LIMIT characters, or null. */
  output: string | null;
  blocked: string | null;
  /** When the task last changed (epoch ms). */
  at: number;
}

export interface BreakpointSummary {
  id: string;
  type: string;
  state: string;
  priority: string;
  projectId: string;
  taskId: string | null;
  message: string;
  createdAt: number;
  resolution: { action: string; by: string; note: string | null; at: number } | null;
}

export interface SupervisorSummary {
  state: string;
  pausedProjects: string[];
}

export interface TimelineEntry {
  /** Position of the record in the stream (a trace's record index). */
  seq: number;
  at: number;
  actorId: string;
  machine: string;
  event: string;
  from: string | null;
  to: string;
  /**
   * For the supervisor: the projects paused after it. Pausing one project leaves the machine
   * in `running` (PAUSE running → running says nothing), so this is what changed.
   */
  paused?: string[];
}

export interface ModelMessage {
  tasks: TaskSummary[];
  breakpoints: BreakpointSummary[];
  supervisor: SupervisorSummary | null;
  counts: Record<string, number>;
  timeline: TimelineEntry[];
  /** Changes whenever the set of tasks or their dependencies changes: the plan graph is redrawn. */
  graphVersion: number;
  /** Records folded so far. */
  seq: number;
}

export const OUTPUT_LIMIT = 2_000;
export const TIMELINE_LIMIT = 300;

const taskHost = new TaskHost();
const breakpointHost = new BreakpointHost();

function summariseTask(state: ActorState, at: number): TaskSummary {
  const c = state.context as TaskContext;
  const output = c.result === null || c.result === undefined ? null : JSON.stringify(c.result);
  const last = c.history?.[c.history.length - 1];
  return {
    id: c.id,
    title: c.title,
    projectId: c.projectId,
    dependencies: [...c.dependencies],
    state: state.value,
    attempts: c.attempts,
    retries: c.retries,
    error: c.lastError?.message ?? null,
    output: output === null ? null : output.length > OUTPUT_LIMIT ? `${output.slice(0, OUTPUT_LIMIT)}…` : output,
    blocked: c.blockedReason ? c.blockedReason.reason + (c.blockedReason.upstream ? ` (${c.blockedReason.upstream})` : '') : null,
    at: last?.at ?? at,
  };
}

function summariseBreakpoint(state: ActorState): BreakpointSummary {
  const c = state.context as BreakpointContext;
  const r = c.resolution;
  return {
    id: c.id,
    type: c.type,
    state: state.value,
    priority: c.priority,
    projectId: c.projectId,
    taskId: c.taskId,
    message: c.message,
    createdAt: c.createdAt,
    resolution: r ? { action: r.action, by: r.by, note: r.note, at: r.at } : null,
  };
}

export class InspectorModel {
  private readonly tasks = new Map<string, TaskSummary>();
  private readonly breakpoints = new Map<string, BreakpointSummary>();
  private supervisor: SupervisorSummary | null = null;
  private readonly timeline: TimelineEntry[] = [];
  private readonly values = new Map<string, string>();
  private graphVersion = 0;
  private seq = 0;
  private dirtyTasks = new Set<string>();
  private dirtyBreakpoints = new Set<string>();
  private dirtySupervisor = false;
  private newTimeline: TimelineEntry[] = [];
  private graphChanged = false;

  /** Folds one record in; true when something the page shows changed. */
  apply(record: InspectionRecord): boolean {
    const seq = this.seq++;
    if (record.type === '@xstate.event') return false; // the snapshot that follows says what it did
    let state: ActorState;
    if (record.type === '@xstate.actor') {
      if (record.snapshot) state = record.snapshot;
      else if (record.machine === 'task') state = taskHost.create(record.input as never);
      else if (record.machine === 'breakpoint') state = breakpointHost.create(record.input as never);
      else return false;
    } else state = record;
    const from = this.values.get(record.actorId) ?? null;
    this.values.set(record.actorId, state.value);
    if (record.type === '@xstate.snapshot') {
      const paused = record.machine === 'supervisor' ? { paused: [...((state.context as { pausedProjects?: string[] }).pausedProjects ?? [])] } : {};
      this.timeline.push({ seq, at: record.at, actorId: record.actorId, machine: record.machine, event: record.event, from, to: state.value, ...paused });
      this.newTimeline.push(this.timeline[this.timeline.length - 1]!);
      if (this.timeline.length > TIMELINE_LIMIT * 2) this.timeline.splice(0, this.timeline.length - TIMELINE_LIMIT);
      if (this.newTimeline.length > TIMELINE_LIMIT) this.newTimeline.splice(0, this.newTimeline.length - TIMELINE_LIMIT);
    }
    if (record.machine === 'task') {
      const summary = summariseTask(state, record.at);
      const before = this.tasks.get(summary.id);
      if (!before || before.dependencies.join('\n') !== summary.dependencies.join('\n') || before.title !== summary.title) this.graphChanged = true;
      this.tasks.set(summary.id, summary);
      this.dirtyTasks.add(summary.id);
    } else if (record.machine === 'breakpoint') {
      const summary = summariseBreakpoint(state);
      this.breakpoints.set(summary.id, summary);
      this.dirtyBreakpoints.add(summary.id);
    } else {
      const c = state.context as { pausedProjects?: string[] };
      this.supervisor = { state: state.value, pausedProjects: [...(c.pausedProjects ?? [])] };
      this.dirtySupervisor = true;
    }
    return true;
  }

  get dirty(): boolean {
    return this.dirtyTasks.size > 0 || this.dirtyBreakpoints.size > 0 || this.dirtySupervisor || this.newTimeline.length > 0;
  }

  taskList(): TaskSummary[] {
    return [...this.tasks.values()];
  }

  counts(): Record<string, number> {
    const counts: Record<string, number> = { total: this.tasks.size };
    for (const s of TASK_STATES) counts[s] = 0;
    for (const t of this.tasks.values()) counts[t.state] = (counts[t.state] ?? 0) + 1;
    return counts;
  }

  /** The whole model (for a page that just connected); does not touch what is pending for the next diff. */
  full(): ModelMessage {
    return {
      tasks: this.taskList(),
      breakpoints: [...this.breakpoints.values()],
      supervisor: this.supervisor,
      counts: this.counts(),
      timeline: this.timeline.slice(-TIMELINE_LIMIT),
      graphVersion: this.graphVersion + (this.graphChanged ? 1 : 0),
      seq: this.seq,
    };
  }

  /** What changed since the last diff, and forgets it. */
  diff(): ModelMessage {
    if (this.graphChanged) {
      this.graphVersion++;
      this.graphChanged = false;
    }
    const message: ModelMessage = {
      tasks: [...this.dirtyTasks].map((id) => this.tasks.get(id)!),
      breakpoints: [...this.dirtyBreakpoints].map((id) => this.breakpoints.get(id)!),
      supervisor: this.dirtySupervisor ? this.supervisor : null,
      counts: this.counts(),
      timeline: this.newTimeline,
      graphVersion: this.graphVersion,
      seq: this.seq,
    };
    this.dirtyTasks = new Set();
    this.dirtyBreakpoints = new Set();
    this.dirtySupervisor = false;
    this.newTimeline = [];
    return message;
  }
}
