/**
 * What a run killed with SIGKILL left running is stopped by the next run on the store, and only
 * that: a process id reused by a stranger, or one from another boot, is never signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProcessRegistry, reapOrphans, type RecordedGroup } from '../runtime/orphans.js';
import { alive } from './helpers/processes.js';
import { until } from './helpers/cli.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, 'SIGKILL'); // the whole group: its leader may be gone
    } catch {
      // gone
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A sleeping process leading its own group, as a task's command runs. */
function sleeper(): number {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { detached: true, stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

function listFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-orphans-'));
  dirs.push(dir);
  return join(dir, 'state.json.processes');
}

describe.runIf(existsSync('/proc/self/stat'))('the processes a killed run left', () => {
  it('are listed while they run, and the list goes when the last has ended', () => {
    const file = listFile();
    const registry = new ProcessRegistry(file);
    const a = sleeper();
    const b = sleeper();
    registry.started(a, 'task a');
    registry.started(b, 'task b');
    expect((JSON.parse(readFileSync(file, 'utf8')) as RecordedGroup[]).map((g) => [g.pgid, g.label])).toEqual([[a, 'task a'], [b, 'task b']]);
    registry.ended(a);
    expect((JSON.parse(readFileSync(file, 'utf8')) as RecordedGroup[]).map((g) => g.pgid)).toEqual([b]);
    registry.ended(b);
    expect(existsSync(file)).toBe(false);
  });

  it('are stopped when their leader is the very process that was started', async () => {
    const file = listFile();
    const pid = sleeper();
    new ProcessRegistry(file).started(pid, 'task a');
    const reaped = reapOrphans(file);
    expect(reaped.stopped.map((g) => g.label)).toEqual(['task a']);
    await until('the orphan to be gone', () => !alive(pid), 5000);
    expect(existsSync(file)).toBe(false);
  });

  it('leave alone a process that got the same id (another start time) or one from another boot', () => {
    const file = listFile();
    const stranger = sleeper();
    const registry = new ProcessRegistry(file);
    registry.started(stranger, 'task a');
    const [recorded] = JSON.parse(readFileSync(file, 'utf8')) as RecordedGroup[];
    for (const changed of [{ started: String(Number(recorded!.started) - 100) }, { boot: 'another-boot' }]) {
      writeFileSync(file, JSON.stringify([{ ...recorded, ...changed }]));
      expect(reapOrphans(file)).toEqual({ stopped: [], unsure: [] });
      expect(alive(stranger)).toBe(true);
    }
  });

  it("are named, not stopped, when their leader is gone: the group cannot be told from a stranger's", async () => {
    const file = listFile();
    const shell = spawn('sh', ['-c', 'sleep 60 & echo $!; read _'], { detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
    children.push(shell);
    const sleep = Number(await new Promise<string>((resolve) => shell.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    new ProcessRegistry(file).started(shell.pid!, 'task a');
    shell.stdin!.end(); // the leader exits; its sleep lives on in the group
    await until('the leader to be gone', () => !existsSync(`/proc/${shell.pid}/stat`), 5000);
    const reaped = reapOrphans(file);
    expect(reaped).toMatchObject({ stopped: [], unsure: [{ pgid: shell.pid, label: 'task a' }] });
    expect(alive(sleep)).toBe(true);
  });

  it('are nothing to do when the list is missing or unreadable', () => {
    const file = listFile();
    expect(reapOrphans(file)).toEqual({ stopped: [], unsure: [] });
    writeFileSync(file, '[{"pgid": 1, "label": "init"}, {"pgid": "x"}, nonsense');
    expect(reapOrphans(file)).toEqual({ stopped: [], unsure: [] });
  });

  it('never signal process group 1 or 0, even listed as they really are (kill(-1) would reach every process)', () => {
    const file = listFile();
    const registry = new ProcessRegistry(file);
    registry.started(1, 'init, listed by a bug');
    const [init] = JSON.parse(readFileSync(file, 'utf8')) as RecordedGroup[];
    expect(init!.started).not.toBeNull(); // as true as a listing gets: its start time, this boot
    writeFileSync(file, JSON.stringify([init, { ...init, pgid: 0 }, { ...init, pgid: -1 }]));
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
    try {
      expect(reapOrphans(file)).toEqual({ stopped: [], unsure: [] });
      expect(kill).not.toHaveBeenCalled();
    } finally {
      kill.mockRestore();
    }
  });
});
