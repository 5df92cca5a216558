/**
 * A store's state without opening it for writing: what `overseer status` shows, safe
 * to run while another process holds the store.
 */
import { TASK_STATES, type TaskState } from '../machines/task.js';
import { readStoreFile } from '../store/json-file.js';
import { replay, type ReplayResult } from './persistence.js';
import { TaskHost } from './task-host.js';
import { breakpointView, type BreakpointView } from './breakpoint-view.js';

export interface StoreStatus {
  store: string;
  counts: Record<TaskState, number> & { total: number };
  projects: Record<string, Record<TaskState, number>>;
  running: { id: string; attempt: number; since: number }[];
  blocked: { id: string; reason: string; upstream?: string; since: number }[];
  failed: { id: string; error: string; kind?: string }[];
  retrying: { id: string; retryAt: number | null; lastError: string | undefined }[];
  /** Ready tasks in the order they would be handed out. */
  nextReady: { id: string; projectId: string; effectivePriority: number }[];
  /** Every breakpoint, oldest first. */
  breakpoints: BreakpointView[];
  /** Projects paused (by a breakpoint or a person), and whether everything is. */
  paused: { all: boolean; projects: string[] };
}

/** Reads a store without its lock, as `overseer status` does; throws what the store says is wrong with it. */
export function readStore(path: string): ReplayResult {
  return replay(readStoreFile(path), new TaskHost(), `${path}.journal`);
}

export function storeStatus(path: string): StoreStatus {
  const { tasks, breakpoints, supervisor } = readStore(path);
  const empty = () => Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  const status: StoreStatus = {
    store: path,
    counts: { ...empty(), total: 0 },
    projects: {},
    running: [],
    blocked: [],
    failed: [],
    retrying: [],
    nextReady: [],
    breakpoints: breakpoints.map((b) => breakpointView(b)),
    paused: { all: supervisor.value === 'paused', projects: supervisor.context.pausedProjects },
  };
  const ready: (StoreStatus['nextReady'][number] & { seq: number })[] = [];
  tasks.forEach((t, seq) => {
    const c = t.context;
    status.counts[t.value]++;
    status.counts.total++;
    (status.projects[c.projectId] ??= empty())[t.value]++;
    const since = c.history[c.history.length - 1]!.at;
    if (t.value === 'running') status.running.push({ id: c.id, attempt: c.attempts, since });
    if (t.value === 'blocked' && c.blockedReason) {
      status.blocked.push({ id: c.id, reason: c.blockedReason.reason, ...(c.blockedReason.upstream ? { upstream: c.blockedReason.upstream } : {}), since });
    }
    if (t.value === 'failed') status.failed.push({ id: c.id, error: c.lastError?.message ?? '', ...(c.lastError?.kind ? { kind: c.lastError.kind } : {}) });
    if (t.value === 'retrying') status.retrying.push({ id: c.id, retryAt: c.retryAt, lastError: c.lastError?.message });
    if (t.value === 'ready') ready.push({ id: c.id, projectId: c.projectId, effectivePriority: t.effective, seq });
  });
  ready.sort((a, b) => b.effectivePriority - a.effectivePriority || a.seq - b.seq);
  status.nextReady = ready.map(({ seq: _, ...r }) => r);
  return status;
}
