/**
 * What `overseer run` shows while it works: a live view in a terminal, one plain line
 * per transition without one, or one JSON event per line with `--json`.
 */
import type { Overseer } from './overseer.js';
import type { RunOutcome } from './runner.js';
import { isSettleReason, TASK_STATES, type TaskState } from '../machines/task.js';
import type { TaskView } from './view.js';
import type { BreakpointView } from './breakpoint-view.js';

export interface Reporter {
  log(taskId: string, line: string): void;
  finished(outcome: RunOutcome): void;
  /** A message for people (stderr in JSON mode, so stdout stays machine-readable). */
  note(message: string): void;
  stop(): void;
}

const ORDER: TaskState[] = ['running', 'retrying', 'failed', 'blocked', 'ready', 'pending', 'cancelled', 'completed'];
const MARK: Record<TaskState, string> = {
  pending: '·',
  ready: '○',
  running: '●',
  blocked: '‖',
  completed: '✓',
  failed: '✗',
  cancelled: '⊘',
  retrying: '↻',
};

/**
 * Text a task printed (or a message quoting it), made safe for a terminal: control characters
 * other than newline and tab are shown as `\xNN` instead of acting (a task's output must not
 * clear the screen, move the cursor or retitle the window of the person watching).
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const clockTime = (ms: number) => new Date(ms).toISOString().slice(11, 23);
const elapsed = (ms: number) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

export function jsonReporter(overseer: Overseer, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Reporter {
  const off = overseer.on('*', (e) => out.write(`${JSON.stringify(e)}\n`));
  return {
    log: (taskId, line) => out.write(`${JSON.stringify({ type: 'task.log', taskId, line })}\n`),
    finished: (o) => {
      // Which tasks a CI job should point at, not only how many: ids by the state they were left in.
      const left = (state: TaskView['state']) => overseer.getTasks({ state }).map((t) => t.id);
      const tasks = { failed: left('failed'), cancelled: left('cancelled'), blocked: left('blocked') };
      // And what a paused run waits for: the breakpoints open now (one raised before a resume too).
      const breakpoints = overseer.getPendingBreakpoints().map(({ id, type, state, projectId, taskId, message }) => ({ id, type, state, projectId, taskId, message }));
      out.write(`${JSON.stringify({ type: 'run.finished', status: o.status, exitCode: o.exitCode, counts: o.counts, tasks, breakpoints })}\n`);
    },
    note: (m) => err.write(`${m}\n`),
    stop: off,
  };
}

/** Lines of each part of a failure's output (its stderr, its stdout) the plain view prints under it. */
const FAILURE_LINES = 8;
/** The line that starts a part of a failure's output (`--- stderr (tail) ---`). */
const PART_HEAD = /^--- .+ ---$/;

/**
 * The lines of a failure's message after its first, as the plain view shows them: each part
 * (`--- stderr (tail) ---`, `--- stdout (tail) ---`) with its last lines, where the error usually is.
 */
export function failureTail(message: string): string[] {
  const parts: string[][] = [];
  for (const line of message.split('\n').slice(1)) {
    if (PART_HEAD.test(line) || parts.length === 0) parts.push([]);
    if (line.trim() !== '') parts.at(-1)!.push(line.slice(0, 300));
  }
  return parts.flatMap((part) => {
    const head = PART_HEAD.test(part[0] ?? '') ? part[0]! : null;
    const body = head === null ? part : part.slice(1);
    const shown = body.slice(-FAILURE_LINES);
    const skipped = body.length - shown.length;
    return [...(head === null ? [] : [head]), ...(skipped ? [`… ${skipped} earlier line(s) (overseer status --json has them)`] : []), ...shown];
  });
}

/**
 * `--store <path>` as the commands that answer a breakpoint need it (nothing for the default
 * store), quoted for a shell when the path needs it.
 */
export function storeFlag(path: string, defaultPath: string): string {
  if (path === defaultPath) return '';
  // A path starting with "-" would read as an option: ./ in front keeps it a path.
  return ` --store ${shellWord(path.startsWith('-') ? `./${path}` : path)}`;
}

/** A path as one word for a POSIX shell: as it is when nothing in it is special, else single-quoted. */
export function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/** What a breakpoint holds, for the text views. */
const heldBy = (b: BreakpointView) => (b.taskId ? `task ${b.taskId}` : `project ${b.projectId}`);

/** How a breakpoint is answered: by itself at its time, or by a person with these commands (`store`: storeFlag). */
export const answer = (b: Pick<BreakpointView, 'id' | 'state' | 'autoResolveAt'>, store: string): string =>
  b.state === 'autoResolving' ? `resolves itself at ${clockTime(b.autoResolveAt!)}` : `overseer approve ${b.id}${store} / overseer reject ${b.id}${store}`;

export function plainReporter(overseer: Overseer, out: NodeJS.WritableStream, store = ''): Reporter {
  const offTriggered = overseer.on('breakpoint.triggered', ({ breakpoint: b, at }) => {
    const how = b.state === 'autoResolving' ? answer(b, store) : `waiting: ${answer(b, store)}`;
    out.write(printable(`${clockTime(at)} breakpoint ${b.id} ${b.type} pauses ${heldBy(b)} — ${b.message} (${how})`) + '\n');
  });
  const offResolved = overseer.on('breakpoint.resolved', ({ breakpoint: b, at }) => {
    const r = b.resolution;
    out.write(printable(`${clockTime(at)} breakpoint ${b.id} ${b.state}${r ? `: ${r.action} by ${r.by}${r.note ? ` — ${r.note}` : ''}` : ''}`) + '\n');
  });
  const offTransitions = overseer.on('task.transition', (e) => {
    if (e.from === null) return;
    // A held result accepted, or a skip, goes through running without an attempt: the reason says so.
    const attempt = e.to === 'running' && !isSettleReason(e.reason) ? ` (attempt ${overseer.getTaskStatus(e.taskId)?.attempts ?? '?'})` : '';
    const reason = e.reason ? ` — ${e.reason.split('\n')[0]!.slice(0, 200)}` : '';
    out.write(printable(`${clockTime(e.at)} ${e.taskId} ${e.from} → ${e.to}${attempt}${reason}`) + '\n');
    // A failure's message goes on with the output the work printed last (stderr, stdout tails): show it.
    if (e.to === 'failed' && e.reason) for (const line of failureTail(e.reason)) out.write(`    ${printable(line)}\n`);
  });
  return {
    log: () => {},
    finished: (o) => out.write(finalLines(overseer, o, store)),
    note: (m) => out.write(`${printable(m)}\n`),
    stop: () => {
      offTriggered();
      offResolved();
      offTransitions();
    },
  };
}

/** Redraws a block in place: counts per state, elapsed time, and each task with its attempt. */
export function liveReporter(overseer: Overseer, out: NodeJS.WriteStream, title: string, store = ''): Reporter {
  const started = Date.now();
  let drawn = 0;
  const notes: string[] = [];
  const draw = () => {
    const tasks = overseer.getTasks();
    const counts = overseer.getCounts();
    const rows = Math.max(5, (out.rows ?? 24) - 5 - notes.length);
    const sorted = [...tasks].sort((a, b) => ORDER.indexOf(a.state) - ORDER.indexOf(b.state));
    const pending = overseer.getPendingBreakpoints();
    const lines = [
      ...notes,
      `overseer · ${title} · ${elapsed(Date.now() - started)}`,
      TASK_STATES.filter((s) => counts[s] > 0).map((s) => `${s} ${counts[s]}`).join('  ') + `  (total ${counts.total})`,
      ...pending.map((b) => `  ⏸ ${b.id} ${b.type} (${b.taskId ?? `project ${b.projectId}`}): ${b.message} — ${b.state === 'autoResolving' ? 'resolves itself' : `overseer approve ${b.id}${store}`}`),
      ...sorted.slice(0, rows).map((t) => taskLine(t, out.columns || 100)),
    ];
    if (sorted.length > rows) lines.push(`  … ${sorted.length - rows} more`);
    // One screen row per line, or moving back up over the block would come up short.
    const width = out.columns || 100; // a terminal may report 0
    out.write(`${overBlock()}${lines.map((l) => fit(l, width)).join('\n')}\n`);
    drawn = lines.length;
  };
  /** Back up over the block drawn last and clear to the end of the screen. */
  const overBlock = () => `${drawn ? `\x1b[${drawn}A` : ''}\x1b[0J`;
  // A failure is printed above the block, where it stays (the block is redrawn under it): its
  // message and the tails of what the work printed, as the plain view shows them.
  const offFailed = overseer.on('task.transition', (e) => {
    if (e.to !== 'failed' || !e.reason) return;
    const width = out.columns || 100; // a terminal may report 0
    const head = `✗ ${e.taskId} failed (attempt ${overseer.getTaskStatus(e.taskId)?.attempts ?? '?'}): ${e.reason.split('\n')[0]}`;
    const lines = [head, ...failureTail(e.reason).map((l) => `    ${l}`)].map((l) => fit(l, width));
    // The block is cleared and drawn again at the next tick, not now: a burst of failures costs their lines, not a redraw each.
    out.write(`${overBlock()}${lines.join('\n')}\n`);
    drawn = 0;
  });
  const timer = setInterval(draw, 250);
  draw();
  return {
    log: () => {},
    finished: (o) => {
      draw();
      out.write(finalLines(overseer, o, store));
    },
    note: (m) => {
      notes.push(m);
      draw();
    },
    stop: () => {
      clearInterval(timer);
      offFailed();
    },
  };
}

function taskLine(t: TaskView, width: number): string {
  const since = t.history[t.history.length - 1]!.at;
  const running = t.state === 'running' ? `  ${elapsed(Date.now() - since)}` : '';
  const attempt = t.attempts > 0 ? `attempt ${t.attempts}` : '';
  const why = t.state === 'blocked' ? t.blockedReason?.reason : t.state === 'failed' || t.state === 'retrying' ? t.lastError?.message : '';
  return fit(`  ${MARK[t.state]} ${t.id.padEnd(18)} ${t.state.padEnd(10)} ${attempt.padEnd(10)}${running}${why ? `  ${why.split('\n')[0]}` : ''}`, width);
}

/** A line for the live view: printable, tabs as spaces, cut to the terminal's width. */
function fit(line: string, width: number): string {
  const text = printable(line).replace(/\t/g, ' ');
  return text.length > width ? `${text.slice(0, Math.max(1, width - 1))}…` : text;
}

/**
 * The summary, and under it, for a run that waits for a person, each open breakpoint with the
 * command that answers it: a resumed run did not see them raised.
 */
function finalLines(overseer: Overseer, o: RunOutcome, store: string): string {
  const open = o.status === 'waiting' ? overseer.getPendingBreakpoints() : [];
  const lines = open.map((b) => `  ⏸ ${printable(`${b.id} ${b.type} holds ${heldBy(b)}: ${b.message}`)} — ${answer(b, store)}`);
  return [summary(o, store), ...lines].map((l) => `${l}\n`).join('');
}

/** `store`: the `--store` flag the commands it names need (storeFlag). */
export function summary(o: RunOutcome, store = ''): string {
  const c = o.counts;
  const verdict = {
    completed: 'all tasks completed',
    failed: 'some tasks failed or can never run',
    waiting: 'paused: waiting for a person',
    interrupted: `interrupted; \`overseer resume${store}\` continues`,
  }[o.status];
  // Every state a task is left in, not a fixed few: a task still ready or retrying is counted too.
  const rest = (['failed', 'cancelled', 'blocked', 'retrying', 'running', 'ready', 'pending'] as const).filter((s) => c[s] > 0).map((s) => `, ${c[s]} ${s}`);
  return `${verdict} — ${c.completed}/${c.total} completed${rest.join('')} (exit ${o.exitCode})`;
}
