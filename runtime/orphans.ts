/**
 * Task processes a killed CLI left running. The CLI stops its tasks' process groups before it
 * exits, even on a second Ctrl-C or a closed terminal, but `kill -9` leaves it no moment to: the
 * groups run on, unsupervised, while `resume` runs the same tasks again beside them. So while a
 * run goes, the process groups its tasks started are listed beside the store
 * (`<store>.processes`), and the next run on the store (which holds its lock, so their owner is
 * gone) stops those still there first.
 *
 * `overseer worker` has no store: each worker lists its groups in a folder of the machine's
 * (`workerProcessList`), under a name that says which worker it is (its pid and start time),
 * and a worker that starts stops what the lists of workers that are gone name (`reapDeadWorkers`).
 *
 * A process id is reused once its process is gone, so a group is stopped only when it is
 * certainly the one that was started: its leader is alive with the start time it had (Linux's
 * /proc, in the same boot). Anything less certain (no /proc, the leader gone while others of its
 * group live on) is named, not stopped.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessGroupObserver } from '../actors/process.js';

export interface RecordedGroup {
  pgid: number;
  /** What ran: `shell command \`…\``, an agent, with its task. */
  label: string;
  /** The leader's start time (/proc/<pid>/stat, clock ticks since boot), or null where unknown. */
  started: string | null;
  /** The boot it started in (/proc/sys/kernel/random/boot_id), or null where unknown. */
  boot: string | null;
}

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command (which may hold spaces and parentheses) start at the 3rd; starttime is the 22nd.
    // A zombie has one too: a leader that died unreaped still tells its group from a stranger's.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/** Whether any process of group `pgid` exists (a zombie leader counts). */
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Keeps `<store>.processes` equal to the live process groups of this run's tasks. */
export class ProcessRegistry implements ProcessGroupObserver {
  private readonly groups = new Map<number, RecordedGroup>();
  private readonly boot = bootId();

  constructor(private readonly file: string) {}

  started(pgid: number, label: string): void {
    this.groups.set(pgid, { pgid, label, started: startTimeOf(pgid), boot: this.boot });
    this.save();
  }

  ended(pgid: number): void {
    if (this.groups.delete(pgid)) this.save();
  }

  /** Forgets every group: they were SIGKILLed on the way out. */
  clear(): void {
    this.groups.clear();
    this.save();
  }

  private save(): void {
    try {
      if (this.groups.size === 0) return rmSync(this.file, { force: true });
      // Whole or not at all: a kill mid-write must not leave a list that cannot be read.
      writeFileSync(`${this.file}.tmp`, `${JSON.stringify([...this.groups.values()])}\n`);
      renameSync(`${this.file}.tmp`, this.file);
    } catch {
      // The list is a safety net: a run does not fail because it could not be written.
    }
  }
}

export interface Reaped {
  /** Stopped (SIGKILL to the group): certainly what a killed run started. */
  stopped: RecordedGroup[];
  /** Some process of the group may still run, but it could not be told from a stranger's: named, not stopped. */
  unsure: RecordedGroup[];
}

/** Stops the groups a killed run listed in `file` that are certainly still its own, and removes the list. */
export function reapOrphans(file: string): Reaped {
  let recorded: RecordedGroup[];
  try {
    recorded = JSON.parse(readFileSync(file, 'utf8')) as RecordedGroup[];
  } catch {
    return { stopped: [], unsure: [] }; // none (the usual case), or unreadable: nothing to go on
  }
  const reaped: Reaped = { stopped: [], unsure: [] };
  const boot = bootId();
  for (const group of Array.isArray(recorded) ? recorded : []) {
    if (!Number.isInteger(group?.pgid) || group.pgid <= 1) continue;
    const same = group.started !== null && group.boot !== null && group.boot === boot && startTimeOf(group.pgid) === group.started;
    if (same) {
      try {
        process.kill(-group.pgid, 'SIGKILL');
        reaped.stopped.push(group);
      } catch {
        // gone meanwhile
      }
    } else if (startTimeOf(group.pgid) === null && groupExists(group.pgid) && (group.boot === null || group.boot === boot)) {
      // The leader is gone (or there is no /proc to ask) while its group lives on. (A live leader
      // that started at another time is a stranger that got the same id: left alone, unnamed.)
      reaped.unsure.push(group);
    }
  }
  rmSync(file, { force: true });
  return reaped;
}

/** This worker's list in `dir`: `worker-<pid>-<start time>.processes` (the start time tells this process from a later one with its pid). */
export function workerProcessList(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `worker-${process.pid}-${startTimeOf(process.pid) ?? 'unknown'}.processes`);
}

const WORKER_LIST = /^worker-(\d+)-(\d+|unknown)\.processes$/;

/** Whether the worker that wrote a list is still running: the same pid with the same start time (or, with no /proc, the pid in use). */
function workerAlive(pid: number, started: string): boolean {
  if (pid === process.pid) return true;
  if (started !== 'unknown') return startTimeOf(pid) === started;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops what the lists in `dir` of workers that are gone (killed with SIGKILL) name, as `reapOrphans` does; a live worker's list is left alone. */
export function reapDeadWorkers(dir: string): Reaped {
  const reaped: Reaped = { stopped: [], unsure: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return reaped; // no folder yet: no worker ran here
  }
  for (const name of names) {
    const m = WORKER_LIST.exec(name);
    if (!m || workerAlive(Number(m[1]), m[2]!)) continue;
    const { stopped, unsure } = reapOrphans(join(dir, name));
    reaped.stopped.push(...stopped);
    reaped.unsure.push(...unsure);
  }
  return reaped;
}
