/**
 * End-to-end tests of the `overseer` command line: each test runs the CLI from source as
 * a child process (as a user would run the built bin) with its own temporary store, and
 * checks what users rely on — exit codes, output, the store afterwards, and that no
 * process a task started outlives a cancel, a timeout or Ctrl-C.
 */
import { copyFileSync, cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOverseer, jsonFileStore, type TaskView } from '../runtime/index.js';
import { afterJournal } from '../runtime/cli-session.js';
import type { StoreStatus } from '../runtime/status.js';
import { cleanUpClis, ROOT, runCli as overseer, startCli as start, tempDir, until } from './helpers/cli.js';
import { alive } from './helpers/processes.js';

const FIXTURES = join(ROOT, 'test/fixtures/cli');
const taskPids: number[] = [];

/** The pids a task wrote (`echo $! $$ > file`), once the whole line is there; remembered for cleanup. */
function pidsIn(file: string): number[] | null {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!/^\d+( \d+)*\n$/.test(text)) return null;
  const pids = text.trim().split(' ').map(Number);
  taskPids.push(...pids);
  return pids;
}

/** `run` of the two slow steps of sigint.plan.yaml, once both are running: the store, the CLI and the steps' pids. */
async function startSlowPlan(...args: string[]) {
  const dir = tempDir();
  const store = join(dir, 's.json');
  const run = start(['run', planIn(dir, 'sigint.plan.yaml'), '--store', store, ...args]);
  const pids = [
    ...(await until('slow-a.pids', () => pidsIn(join(dir, 'slow-a.pids')))),
    ...(await until('slow-b.pids', () => pidsIn(join(dir, 'slow-b.pids')))),
  ];
  return { store, run, pids };
}

/** Copies a plan fixture into `dir`: its tasks run there (cwd defaults to the plan's directory). */
function planIn(dir: string, fixture: string): string {
  copyFileSync(join(FIXTURES, fixture), join(dir, fixture));
  return join(dir, fixture);
}

const statusOf = async (store: string): Promise<StoreStatus> => JSON.parse((await overseer('status', '--store', store, '--json')).stdout) as StoreStatus;

/** Reads a store through the public API once no CLI holds it. */
async function tasksIn(store: string): Promise<TaskView[]> {
  const o = createOverseer({ store: jsonFileStore(store) });
  try {
    return o.getTasks();
  } finally {
    await o.close();
  }
}

afterEach(async () => {
  // CLIs still running get Ctrl-C (so they stop their tasks), then SIGKILL; then any task
  // process that survived. All of them are processes these tests started.
  await cleanUpClis();
  for (const pid of taskPids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('overseer run: the example plan', () => {
  /** A copy of examples/build.plan.yaml and its project: the build writes dist/, which must not race other runs. */
  function exampleCopy(): string {
    const dir = tempDir();
    copyFileSync(join(ROOT, 'examples/build.plan.yaml'), join(dir, 'build.plan.yaml'));
    cpSync(join(ROOT, 'examples/sample-project'), join(dir, 'sample-project'), {
      recursive: true,
      filter: (src) => !/[/\\](dist|node_modules|sample-project\.bundle\.json)$/.test(src),
    });
    return join(dir, 'build.plan.yaml');
  }

  it('completes, retrying the flaky integration step, and status then reports 6 completed', async () => {
    const plan = exampleCopy();
    const store = join(tempDir(), 's.json');
    const run = await overseer('run', plan, '--store', store, '--fresh');
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    const failed = lines.findIndex((l) => / integration running → failed/.test(l));
    const retried = lines.findIndex((l) => / integration ready → running \(attempt 2\)/.test(l));
    const passed = lines.findIndex((l) => / integration running → completed/.test(l));
    expect(failed).toBeGreaterThanOrEqual(0);
    expect(retried).toBeGreaterThan(failed);
    expect(passed).toBeGreaterThan(retried);
    expect(run.stdout).toContain('all tasks completed — 6/6 completed');

    const status = await statusOf(store);
    expect(status.counts).toMatchObject({ completed: 6, total: 6 });
  });

  it('with --json prints only JSON lines, ending with run.finished exit 0', async () => {
    const plan = exampleCopy();
    const store = join(tempDir(), 's.json');
    const run = await overseer('run', plan, '--store', store, '--fresh', '--json');
    expect(run.code, run.stderr).toBe(0);
    const events = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { type: string; exitCode?: number });
    expect(events.some((e) => e.type === 'task.transition')).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'run.finished', status: 'completed', exitCode: 0, counts: { completed: 6 } });
  });

  it('validate accepts it', async () => {
    const run = await overseer('validate', 'examples/build.plan.yaml');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('valid, 6 tasks');
  });
});

describe('invalid plans', () => {
  it('exit 2 without touching the store, from run and from validate', async () => {
    const store = join(tempDir(), 'never', 's.json');
    const run = await overseer('run', 'test/fixtures/cli/invalid.plan.yaml', '--store', store);
    expect(run.code).toBe(2);
    // The shape problems are named with their paths (the rest: see the BUG test below).
    expect(run.stderr).toMatch(/tasks\[1\]\.priority: .*10/);
    expect(run.stderr).toContain('tasks[5].colour: unknown field');
    expect(existsSync(join(store, '..'))).toBe(false);

    const validate = await overseer('validate', 'test/fixtures/cli/invalid.plan.yaml');
    expect(validate.code).toBe(2);
    expect(validate.stderr).toBe(run.stderr);
  });

  // Regression: the shape check used to stop at the first bad task, hiding the rest.
  it('names every problem of a plan with its path', async () => {
    const run = await overseer('validate', 'test/fixtures/cli/invalid.plan.yaml');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/tasks\[1\]\.priority: /);
    expect(run.stderr).toContain('tasks[5].colour: unknown field');
    expect(run.stderr).toContain('tasks[2].command: a shell task needs a command');
    expect(run.stderr).toContain('tasks[3].dependsOn[0]: unknown task "buidl"');
    expect(run.stderr).toMatch(/dependency cycle: (a -> b -> a|b -> a -> b)/);
  });
});

describe('CLI output follows the journal', () => {
  it('a line is printed once the records of the whole call that made it are with the OS, never half of them', async () => {
    const dir = tempDir();
    const path = join(dir, 's.json');
    const store = jsonFileStore(path);
    const o = createOverseer({ store });
    const seen: { line: string; journal: string }[] = [];
    const out = { write: (line: string) => (seen.push({ line, journal: readFileSync(`${path}.journal`, 'utf8') }), true) } as unknown as NodeJS.WritableStream;
    const printer = afterJournal(out, store);
    o.on('task.transition', (e) => printer.write(`${e.taskId} ${e.from} → ${e.to}\n`));
    o.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    await o.flush();
    o.getNextTask();
    o.markComplete('a'); // journals a's completion, then b's DEPENDENCIES_MET, printing a line for each
    expect(seen.filter((s) => s.line.startsWith('a running'))).toEqual([]); // not printed mid-call
    await Promise.resolve();
    const printed = seen.find((s) => s.line === 'a running → completed\n')!;
    expect(printed.journal).toContain('"t":"a","e":{"type":"COMPLETE"');
    expect(printed.journal).toContain('"t":"b","e":{"type":"DEPENDENCIES_MET"');
    expect(seen.map((s) => s.line).slice(-3)).toEqual(['a ready → running\n', 'a running → completed\n', 'b pending → ready\n']);
    await o.close();
  });
});

describe('a run killed with SIGKILL', () => {
  it('resumes: every task completes, attempts cut short are recorded as interrupted', async () => {
    const dir = tempDir();
    const store = join(dir, 's.json');
    const run = start(['run', 'test/fixtures/cli/resume.plan.yaml', '--store', store]);
    await until('3 completed tasks', () => (run.stdout().match(/running → completed/g) ?? []).length >= 3 || run.child.exitCode !== null);
    run.child.kill('SIGKILL');
    expect((await run.exited).signal, `the run ended before the kill:\n${run.stdout()}`).toBe('SIGKILL');

    const atKill = await statusOf(store);
    // Read as text, the status says nobody runs those attempts and how they go on.
    expect((await overseer('status', '--store', store)).stdout).toContain(`(no run holds the store: those attempts were cut short; \`overseer resume --store ${store}\` runs them again)`);
    expect(atKill.counts.completed).toBeGreaterThanOrEqual(3);
    expect(atKill.counts.completed).toBeLessThan(12);
    expect(atKill.running.length).toBeGreaterThan(0);

    const resume = await overseer('resume', '--store', store);
    expect(resume.code, `${resume.stderr}\n${resume.stdout}`).toBe(0);
    expect(resume.stderr).toContain('were interrupted and are queued again');

    const tasks = await tasksIn(store);
    expect(tasks).toHaveLength(12);
    for (const t of tasks) {
      expect(t.state, t.id).toBe('completed');
      expect(t.history.filter((h) => h.to === 'completed'), t.id).toHaveLength(1);
    }
    for (const { id } of atKill.running) {
      const task = tasks.find((t) => t.id === id)!;
      expect(task.history.some((h) => h.to === 'failed' && /interrupted/.test(h.reason ?? '')), id).toBe(true);
    }
  });
});

// Where there is no /proc, a group cannot be told from a stranger's: it is named, not stopped (test/orphans.test.ts).
describe.runIf(existsSync('/proc/self/stat'))('a run killed with SIGKILL while its tasks run', () => {
  it('leaves their processes running, and the next run on the store stops them before it starts the tasks again', async () => {
    const { store, run, pids } = await startSlowPlan();
    run.child.kill('SIGKILL'); // no moment to stop anything
    expect((await run.exited).signal).toBe('SIGKILL');
    expect(pids.filter(alive)).toEqual(pids); // the steps' shells and their sleeps run on, unsupervised
    const listed = JSON.parse(readFileSync(`${store}.processes`, 'utf8')) as { pgid: number; label: string }[];
    expect(listed.map((g) => g.label).sort()).toEqual([expect.stringContaining('slow-a.tried'), expect.stringContaining('slow-b.tried')]);

    const resume = await overseer('resume', '--store', store);
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stderr).toContain('overseer: stopped the processes a killed run left running (2 task process group(s))');
    await until('the orphaned processes to be gone', () => !pids.some(alive), 5000);
    expect((await statusOf(store)).counts).toMatchObject({ completed: 3, total: 3 });
    expect(existsSync(`${store}.processes`)).toBe(false); // none left running: no list
  });
});

describe('stopping running work stops its processes', () => {
  it('cancel from another terminal stops the task’s process tree; the run exits 1', async () => {
    const dir = tempDir();
    const store = join(dir, 's.json');
    const run = start(['run', planIn(dir, 'cancel.plan.yaml'), '--store', store]);
    const child = await until('child.pid', () => pidsIn(join(dir, 'child.pid')));
    const grandchild = await until('grandchild.pid', () => pidsIn(join(dir, 'grandchild.pid')));

    // The run holds the store, so this goes through <store>.inbox.
    const cancel = await overseer('cancel', 'sleeper', '--store', store);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain('sleeper is cancelled');
    await until('the task processes to be gone', () => ![...child, ...grandchild].some(alive), 5000);

    writeFileSync(join(dir, 'release'), ''); // lets `keeper` complete, ending the run
    expect((await run.exited).code, run.stderr()).toBe(1);
    expect((await statusOf(store)).counts).toMatchObject({ cancelled: 1, completed: 1, total: 2 });
  });

  // Regression: the run used to delete its answers when it ended, often before the
  // cancelling command had read its own.
  it('cancelling the only running task answers "cancelled" and exits 0', async () => {
    const dir = tempDir();
    const store = join(dir, 's.json');
    const run = start(['run', planIn(dir, 'sleeper.plan.yaml'), '--store', store]);
    await until('child.pid', () => pidsIn(join(dir, 'child.pid')));
    const cancel = await overseer('cancel', 'sleeper', '--store', store);
    expect((await run.exited).code).toBe(1);
    expect(cancel.stderr).toBe('');
    expect(cancel.stdout).toContain('sleeper is cancelled');
    expect(cancel.code).toBe(0);
  });

  it('a timeout stops the task’s process tree and fails it with kind timeout', async () => {
    const dir = tempDir();
    const store = join(dir, 's.json');
    const run = start(['run', planIn(dir, 'timeout.plan.yaml'), '--store', store]);
    expect((await run.exited).code, run.stderr()).toBe(1);
    const pids = [...(pidsIn(join(dir, 'child.pid')) ?? []), ...(pidsIn(join(dir, 'grandchild.pid')) ?? [])];
    expect(pids).toHaveLength(2);
    await until('the task processes to be gone', () => !pids.some(alive), 5000);
    const status = await statusOf(store);
    expect(status.failed).toEqual([expect.objectContaining({ id: 'sleeper', kind: 'timeout' })]);
    // How it was stopped, and what it printed before: often why it hung.
    expect(status.failed[0]!.error).toMatch(/timed out \(timed out after 500 ms\): stopped with SIGTERM\n--- stdout \(tail\) ---\nwaiting on the sleeper$/);
  });

  it('Ctrl-C exits 130 leaving no task process, and resume finishes the plan', async () => {
    const { store, run, pids } = await startSlowPlan();
    run.child.kill('SIGINT'); // what Ctrl-C sends to the CLI (tasks have their own process groups)
    expect((await run.exited).code, run.stderr()).toBe(130);
    expect(run.stdout()).toContain(`interrupted; \`overseer resume --store ${store}\` continues`);
    expect(pids.filter(alive)).toEqual([]);

    const resume = await overseer('resume', '--store', store);
    expect(resume.code, resume.stderr).toBe(0);
    expect((await statusOf(store)).counts).toMatchObject({ completed: 3, total: 3 });
  });

  it('a second Ctrl-C quits at once, and still leaves no task process behind', async () => {
    const { store, run, pids } = await startSlowPlan('--drain');
    run.child.kill('SIGINT'); // --drain: the running tasks may finish…
    await until('the drain note', () => run.stdout().includes('Ctrl-C again'));
    run.child.kill('SIGINT'); // …but not after a second Ctrl-C
    expect((await run.exited).code, run.stderr()).toBe(130);
    expect(run.stderr()).toContain('killed the processes of 2 running task(s)');
    await until('the task processes to be gone', () => !pids.some(alive), 5000);
    expect(existsSync(`${store}.processes`)).toBe(false);

    const resume = await overseer('resume', '--store', store);
    expect(resume.code, resume.stderr).toBe(0);
    expect((await statusOf(store)).counts).toMatchObject({ completed: 3, total: 3 });
  });
});

describe('resume keeps the plan\'s limits', () => {
  it('a project limited to one at a time stays so after Ctrl-C and resume', async () => {
    const dir = tempDir();
    const store = join(dir, 's.json');
    const plan = join(dir, 'one.plan.yaml');
    // Each step notes its start and end; the first one's first attempt sleeps until it is interrupted.
    const step = (id: string) =>
      `  - { id: ${id}, command: 'echo start ${id} >> log; ${id === 'a' ? '[ -e a.tried ] || { touch a.tried; sleep 60; }' : 'sleep 0.3'}; echo end ${id} >> log' }`;
    writeFileSync(plan, ['name: deploys', 'concurrency: { global: 8 }', 'projects:', '  - id: deploy', '    concurrency: 1', '    tasks:', ...['a', 'b', 'c'].map((id) => `  ${step(id)}`), ''].join('\n'));
    const run = start(['run', plan, '--store', store]);
    await until('the first step to start', () => existsSync(join(dir, 'log')) && readFileSync(join(dir, 'log'), 'utf8').includes('start'));
    run.child.kill('SIGINT');
    expect((await run.exited).code, run.stderr()).toBe(130);
    const resume = await overseer('resume', '--store', store);
    expect(resume.code, resume.stderr).toBe(0);
    // One at a time: every start is followed by its own end before the next start.
    const log = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n');
    const after = log.slice(log.indexOf(log.find((l) => l.startsWith('start'))!) + 1);
    for (let i = 0; i + 1 < after.length; i += 2) expect([after[i]!.split(' ')[0], after[i + 1]!.split(' ')[0]], after.join('; ')).toEqual(['start', 'end']);
    expect(log.filter((l) => l.startsWith('end'))).toHaveLength(3);
  });
});

describe('the terminal going away (SIGHUP)', () => {
  it('quits at once, leaving no task process behind', async () => {
    const { store, run, pids } = await startSlowPlan();
    run.child.kill('SIGHUP');
    expect((await run.exited).code, run.stderr()).toBe(130);
    await until('the task processes to be gone', () => !pids.some(alive), 5000);
    expect(existsSync(`${store}.processes`)).toBe(false); // killed on the way out: nothing left to list
  });
});

describe('agent tasks', () => {
  it('retry with the failure as feedback, and keep the agent’s response as the result', async () => {
    const store = join(tempDir(), 's.json');
    const run = await overseer('run', 'test/fixtures/cli/agent.plan.yaml', '--store', store);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const [task] = await tasksIn(store);
    expect(task).toMatchObject({ id: 'write-docs', state: 'completed', attempts: 2 });
    const response = (task!.result as { response: string }).response;
    expect(response).toContain('fake-agent via stdin');
    expect(response).toContain('FAIL_FIRST: write the docs for write-docs');
    expect(response).toMatch(/Feedback from earlier attempts:\n1\. .*exited with code 1/);
  });
});

describe('bad input exits 2', () => {
  it('an unknown command, and a concurrency of 0', async () => {
    const unknown = await overseer('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");

    const store = join(tempDir(), 's.json');
    const zero = await overseer('run', 'examples/build.plan.yaml', '--store', store, '--concurrency', '0');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--concurrency');
    expect(existsSync(store)).toBe(false);
  });

  it('a store held by a live run, naming its pid', async () => {
    const dir = tempDir();
    const store = join(dir, 's.json');
    const plan = planIn(dir, 'sleeper.plan.yaml');
    const first = start(['run', plan, '--store', store]);
    await until('child.pid', () => pidsIn(join(dir, 'child.pid')));

    const second = await overseer('run', plan, '--store', store);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(String(first.child.pid));
    // --fresh must not pull the store from under the live run either.
    const fresh = await overseer('run', plan, '--store', store, '--fresh');
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toContain(String(first.child.pid));

    first.child.kill('SIGINT');
    expect((await first.exited).code).toBe(130);
  });
});

// Regression: the version was read from a path right only for dist/, so the CLI died when run from source.
it('runs from source and prints the package version', async () => {
  const run = start(['--version']);
  expect((await run.exited).code).toBe(0);
  const out = run.stdout();
  expect(out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
});
