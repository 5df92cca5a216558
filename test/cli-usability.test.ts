/** What a new user ran into: machine-readable errors, mistyped stores, plan drift, complete output. */
import { checkPlan } from '../runtime/plan.js';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createOverseer, jsonFileStore } from '../runtime/index.js';
import { failureTail, liveReporter, plainReporter, printable, summary } from '../runtime/cli-view.js';
import { runCliSync } from './helpers/cli.js';
import { duration } from '../runtime/cli-session.js';

const dir = mkdtempSync(join(tmpdir(), 'overseer-usability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const overseer = (...args: string[]) => runCliSync(args);

function plan(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('the CLI for a new user', () => {
  it('with --json, an invalid plan is reported as JSON too (validate, and run’s run.finished)', () => {
    const bad = plan('bad.yaml', ['tasks:', '  - id: a', '    priority: 99', '    deadline: "2026-02-30T00:00:00Z"']);
    const v = overseer('validate', bad, '--json');
    expect(v.code).toBe(2);
    const report = JSON.parse(v.stdout) as { valid: boolean; problems: string[] };
    expect(report.valid).toBe(false);
    // Every problem, the ones of a task whose shape failed too, and an impossible date.
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^tasks\[0\]\.priority/),
        'tasks[0].command: a shell task needs a command',
        expect.stringMatching(/^tasks\[0\]\.deadline: malformed deadline .*no such day/),
      ]),
    );
    const r = overseer('run', bad, '--store', join(dir, 'never.json'), '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'run.finished', status: 'invalid', exitCode: 2 });
  });

  it('a time limit of 0, or one YAML reads as infinite, is refused in words', () => {
    const bad = plan('limits.yaml', ['tasks:', '  - { id: a, command: "true", timeout: 0 }', '  - { id: b, command: "true", timeout: 1e400 }', '  - { id: c, command: "true", timeout: 600h }', `  - { id: d, command: "true", timeout: "${'9'.repeat(400)}ms" }`]);
    const v = overseer('validate', bad, '--json');
    expect(v.code).toBe(2);
    expect((JSON.parse(v.stdout) as { problems: string[] }).problems).toEqual([
      'tasks[0].timeout: must be more than 0',
      'tasks[1].timeout: must be a duration: milliseconds, or a number with ms, s, m or h (e.g. "30s")',
      'tasks[3].timeout: must be a duration: milliseconds, or a number with ms, s, m or h (e.g. "30s")',
    ]);
  });

  it('validate names every dependency cycle at once, and a duplicate id does not hide one', () => {
    const cycles = plan('cycles.yaml', [
      'tasks:',
      '  - { id: a, command: "true", dependsOn: [c] }',
      '  - { id: b, command: "true", dependsOn: [a] }',
      '  - { id: c, command: "true", dependsOn: [b] }',
      '  - { id: x, command: "true", dependsOn: [y] }',
      '  - { id: y, command: "true", dependsOn: [x] }',
      '  - { id: x, command: "true" }',
    ]);
    const v = overseer('validate', cycles, '--json');
    expect(v.code).toBe(2);
    expect((JSON.parse(v.stdout) as { problems: string[] }).problems).toEqual([
      'tasks[5].id: "x" is already used by tasks[3]',
      'dependency cycle: a -> c -> b -> a (tasks[0], tasks[2], tasks[1])',
      'dependency cycle: x -> y -> x (tasks[3], tasks[4])',
    ]);
    const o = createOverseer();
    expect(() => o.scheduleTasks([{ id: 'a', dependencies: ['b'] }, { id: 'b', dependencies: ['a'] }, { id: 'c', dependencies: ['c2'] }, { id: 'c2', dependencies: ['c'] }])).toThrow(
      /dependency cycle: a -> b -> a[\s\S]*dependency cycle: c -> c2 -> c/,
    );
  });

  it('--wait takes a bare number as milliseconds, as a plan does', () => {
    expect([duration('0'), duration('1500'), duration('30s'), duration('1h')]).toEqual([0, 1500, 30_000, 3_600_000]);
    expect(() => duration('soon')).toThrow('must be a duration: milliseconds, or a number with ms, s, m or h');
  });

  it('the API refuses a time limit the runner could not keep', () => {
    const o = createOverseer();
    for (const timeoutMs of [0, -5, '30s', Number.POSITIVE_INFINITY]) {
      expect(() => o.scheduleTask({ id: 'a', metadata: { timeoutMs } as never })).toThrow(/metadata\.timeoutMs: must be a number of milliseconds > 0/);
    }
    o.scheduleTask({ id: 'a', metadata: { timeoutMs: null } });
    o.scheduleTask({ id: 'b', metadata: { timeoutMs: 600 * 3_600_000 } });
    expect(o.getTasks()).toHaveLength(2);
  });

  it('a task turns off the default time limit with timeout: null', () => {
    const plan = checkPlan({ defaults: { timeout: '10m' }, tasks: [{ id: 'quick', command: 'true' }, { id: 'migration', command: 'true', timeout: null }, { id: 'own', command: 'true', timeout: '2h' }] }, 'p.yaml', dir);
    expect(plan.tasks.map((t) => (t.metadata as { timeoutMs: number | null }).timeoutMs)).toEqual([600_000, null, 7_200_000]);
  });

  it('with --json, a refusal is a JSON line on stdout too', () => {
    for (const args of [['status', '--store', join(dir, 'none.json'), '--json'], ['status', 'x', '--store', join(dir, 'none.json'), '--json'], ['breakpoints', '--store', join(dir, 'none.json'), '--json']]) {
      const r = overseer(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(JSON.parse(r.stdout), args.join(' ')).toMatchObject({ type: 'error', exitCode: 2, message: expect.any(String) });
      expect(r.stderr).toContain(`overseer: ${(JSON.parse(r.stdout) as { message: string }).message}`);
    }
    // An option commander refuses (misspelled, or missing its value) too.
    const misspelled = overseer('status', '--json', '--stor', join(dir, 'none.json'));
    expect(misspelled.code).toBe(2);
    expect(JSON.parse(misspelled.stdout)).toMatchObject({ type: 'error', exitCode: 2, message: expect.stringMatching(/^unknown option '--stor'/) });
    expect(misspelled.stderr).toContain("error: unknown option '--stor'");
    // Without --json, stdout stays empty.
    expect(overseer('status', '--store', join(dir, 'none.json')).stdout).toBe('');
  });

  it('a mistyped store path is refused with exit 2 and nothing is created', () => {
    const before = readdirSync(dir);
    for (const args of [['status'], ['resume'], ['breakpoints'], ['cancel', 'x']]) {
      const r = overseer(...args, '--store', join(dir, 'typo.json'));
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('no store at');
    }
    expect(readdirSync(dir)).toEqual(before);
  });

  it('status <task> of a task --watch ran again points to its latest run', async () => {
    const store = join(dir, 'reruns.json');
    const o = createOverseer({ store: jsonFileStore(store) });
    o.scheduleTasks([{ id: 'test' }, { id: 'test@2', metadata: { rerunOf: 'test' } }, { id: 'test@3', metadata: { rerunOf: 'test' } }]);
    for (let i = 0; i < 2; i++) o.markComplete(o.getNextTask()!.id);
    await o.close();
    const shown = overseer('status', 'test', '--store', store);
    expect(shown.stdout).toContain(`run again (--watch): test@2 completed, test@3 ready — the latest: \`overseer status test@3\``);
    expect(JSON.parse(overseer('status', 'test', '--store', store, '--json').stdout)).toMatchObject({ reruns: [{ id: 'test@2', state: 'completed' }, { id: 'test@3', state: 'ready' }] });
  });

  it('shows every task’s first transition, and says when the plan changed under a stored task', () => {
    const store = join(dir, 'drift.json');
    const first = plan('drift.yaml', ['tasks:', '  - id: root', '    command: "exit 1"', '    retries: 0']);
    const run1 = overseer('run', first, '--store', store);
    expect(run1.code).toBe(1);
    expect(run1.stdout).toContain('root pending → ready');
    const changed = plan('drift.yaml', ['tasks:', '  - id: root', '    command: "true"', '    retries: 2', '    timeout: 1s']);
    const run2 = overseer('run', changed, '--store', store);
    // Each difference is named: the store's version is what runs.
    expect(run2.stderr).toContain('the plan changed task root (command, timeout, retries) since the store took it');
    expect(existsSync(store)).toBe(true);
    // A task the plan no longer has is still the store's: said, not hidden.
    const smaller = plan('drift-smaller.yaml', ['tasks:', '  - id: other', '    command: "true"']);
    const run3 = overseer('run', smaller, '--store', store);
    expect(run3.stderr).toContain('the store also holds a task the plan no longer has: root (failed); it is kept (--fresh starts over)');
    // For programs: a JSON line before the run's events.
    const run4 = overseer('run', changed, '--store', store, '--json');
    expect(JSON.parse(run4.stdout.split('\n')[0]!)).toEqual({ type: 'plan.drift', changed: [{ id: 'root', fields: ['command', 'timeout', 'retries'] }], notInPlan: [{ id: 'other', state: 'completed' }] });
  });

  it('verify --seed takes a whole number a seed can be, and nothing else', () => {
    for (const seed of ['x', '1.5', '-1', '', '0x10', '1e3', '4294967297']) {
      const v = overseer('verify', 'examples/build.plan.yaml', '--seed', seed);
      expect(v.code, seed).toBe(2);
      expect(v.stderr, seed).toContain("option '--seed <n>' argument");
      expect(v.stderr, seed).toContain('must be a whole number from 0 to 4294967295');
    }
    expect(overseer('verify', 'examples/build.plan.yaml', '--seed', '7', '--json').code).toBe(0);
  });

  it('an empty plan file is a plan without tasks, in words a person uses', () => {
    const v = overseer('validate', plan('empty.yaml', []));
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('(top level): must be a mapping (key: value), got null');
  });

  it('what a task prints reaches the terminal as text, never as control sequences', () => {
    expect(printable('a\u001b[2Jb\rc\u0007\td\ne\u009b')).toBe('a\\x1b[2Jb\\x0dc\\x07\td\ne\\x9b');
    const store = join(dir, 'escapes.json');
    const p = plan('escapes.yaml', ['tasks:', '  - { id: loud, retries: 0, command: \'printf "x \\033[2J \\033]0;pwned\\007 y\\n" >&2; exit 4\' }']);
    for (const r of [overseer('run', p, '--store', store), overseer('status', '--store', store), overseer('status', 'loud', '--store', store)]) {
      expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    }
    expect(overseer('status', 'loud', '--store', store).stdout).toContain('x \\x1b[2J \\x1b]0;pwned\\x07 y');
  });

  it('the plain view shows a skip, or an accepted held result, without an attempt it did not make', () => {
    let written = '';
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const o = createOverseer();
    const view = plainReporter(o, out);
    o.scheduleTasks([{ id: 'skipped' }, { id: 'unsure' }]);
    o.resolveBreakpoint(o.triggerBreakpoint('confidence_too_low', { taskId: 'skipped' }).id, { action: 'skip' });
    o.getNextTask();
    o.holdIfUnsure('unsure', { response: 'maybe', confidence: 0.2 });
    o.resolveBreakpoint(o.getPendingBreakpoints()[0]!.id, { action: 'continue' });
    view.stop();
    expect(written).toMatch(/skipped ready → running — skipped\n/);
    expect(written).toMatch(/unsure ready → running — held result accepted\n/);
    expect(written).toMatch(/unsure ready → running \(attempt 1\)\n/); // its one real attempt
  });

  it('in a terminal, a failure stays above the live view with the tails of what the work printed', () => {
    let written = '';
    const out = Object.assign(new PassThrough(), { columns: 120, rows: 30 }) as unknown as NodeJS.WriteStream;
    (out as unknown as PassThrough).on('data', (chunk: Buffer) => (written += chunk.toString()));
    const o = createOverseer();
    const view = liveReporter(o, out, 'test');
    o.scheduleTask({ id: 'deploy', maxRetries: 0 });
    o.getNextTask();
    o.markFailed('deploy', 'shell command `./deploy` exited with code 3\n--- stderr (tail) ---\nconnecting\nrefused: \u001b[31mno route\n--- stdout (tail) ---\nstep 1 ok');
    view.stop();
    const shown = written.replace(/\u001b\[\d*[AJ]/g, ''); // the view's own cursor moves
    expect(shown).toContain('✗ deploy failed (attempt 1): shell command `./deploy` exited with code 3\n    --- stderr (tail) ---\n    connecting\n    refused: \\x1b[31mno route\n    --- stdout (tail) ---\n    step 1 ok\n');
    expect(shown).not.toMatch(/\u001b/);
  });

  it('the live view keeps every line within the terminal, and a burst of failures does not redraw it each time', () => {
    let written = '';
    const out = Object.assign(new PassThrough(), { columns: 40, rows: 30 }) as unknown as NodeJS.WriteStream;
    (out as unknown as PassThrough).on('data', (chunk: Buffer) => (written += chunk.toString()));
    const o = createOverseer();
    let reads = 0;
    const getTasks = o.getTasks.bind(o);
    o.getTasks = ((...args: Parameters<typeof getTasks>) => (reads++, getTasks(...args))) as typeof o.getTasks;
    o.disableBreakpointType('consecutive_failures');
    o.scheduleTasks(Array.from({ length: 50 }, (_, i) => ({ id: `t${i}`, maxRetries: 0 })));
    const view = liveReporter(o, out, 'test');
    const drawn = reads;
    for (let i = 0; i < 50; i++) {
      o.markFailed(o.getNextTask()!.id, `failed with\t\u001b[2Jescapes that widen a line past the terminal's forty columns`);
    }
    expect(reads).toBe(drawn); // failures are written above the block; the block waits for its next tick
    view.finished({ status: 'failed', exitCode: 1, counts: o.getCounts() });
    view.stop();
    const lines = written.replace(/\u001b\[\d*[AJ]/g, '').split('\n').slice(0, -2); // the summary comes last, after the block is done
    expect(lines.filter((l) => [...l].length > 40)).toEqual([]);
  });

  it('status <task> tells the retries forgiven (an interruption) from those of the budget', async () => {
    const store = join(dir, 'forgiven.json');
    const o = createOverseer({ store: jsonFileStore(store) });
    o.scheduleTask({ id: 'job', maxRetries: 0 });
    o.getNextTask();
    o.markFailed('job', { message: 'interrupted', kind: 'interrupted', retryable: true });
    await o.close();
    expect(overseer('status', 'job', '--store', store).stdout).toContain('attempt 1, retries 1 (1 forgiven) of 0)');
  });

  it('status <task> shows one task: its history, its last error and what it printed', () => {
    const store = join(dir, 'detail.json');
    const p = plan('detail.yaml', ['tasks:', '  - { id: build, command: "echo compiled 12 files; echo a warning >&2" }', '  - { id: test, dependsOn: [build], retries: 0, command: "echo 3 passed; echo 1 failed >&2; exit 1" }']);
    const run = overseer('run', p, '--store', store, '--json');
    expect(run.code).toBe(1);
    // The final event names the tasks a CI job should point at.
    expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toMatchObject({ type: 'run.finished', exitCode: 1, tasks: { failed: ['test'], cancelled: [], blocked: [] } });
    const build = overseer('status', 'build', '--store', store);
    expect(build.code).toBe(0);
    expect(build.stdout).toMatch(/^build {2}completed {2}\(project default, priority 5 → 6, attempt 1, retries 0 of 3\)\n {2}history:\n/);
    expect(build.stdout).toMatch(/running → completed\n {2}result:\n {4}\{"exitCode":0,"durationMs":\d+\}\n {4}--- stdout ---\n {4}compiled 12 files\n {4}--- stderr ---\n {4}a warning\n$/);
    const test = overseer('status', 'test', '--store', store);
    expect(test.stdout).toContain('after build');
    expect(test.stdout).toMatch(/ {2}last error \(exit\):\n {4}shell command `.*` exited with code 1\n {4}--- stderr \(tail\) ---\n {4}1 failed\n {4}--- stdout \(tail\) ---\n {4}3 passed\n$/);
    expect(JSON.parse(overseer('status', 'test', '--store', store, '--json').stdout)).toMatchObject({ id: 'test', state: 'failed', attempts: 1, lastError: { kind: 'exit' } });
    const missing = overseer('status', 'nope', '--store', store);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('has no task "nope"');
    expect(overseer('status', '--store', store).stdout).toContain("overseer status <task> shows a task's whole error and output");
  });

  it('a failure shows what the work printed last, under its line', () => {
    const store = join(dir, 'tail.json');
    const run = overseer('run', plan('tail.yaml', ['tasks:', '  - id: bad', '    command: "echo out-line; echo err-line >&2; exit 3"', '    retries: 0']), '--store', store);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/bad running → failed — shell command .* exited with code 3\n {4}--- stderr \(tail\) ---\n {4}err-line\n {4}--- stdout \(tail\) ---\n {4}out-line\n/);
  });

  it('of a long output, a failure shows the last lines of each part, where the error usually is', () => {
    const progress = Array.from({ length: 30 }, (_, i) => `progress ${i + 1}`);
    const message = ['cmd exited with code 1', '--- stderr (tail) ---', ...progress, 'FATAL: the real error', '--- stdout (tail) ---', 'out1', 'out2'].join('\n');
    expect(failureTail(message)).toEqual([
      '--- stderr (tail) ---', '… 23 earlier line(s) (overseer status --json has them)', ...progress.slice(-7), 'FATAL: the real error',
      '--- stdout (tail) ---', 'out1', 'out2',
    ]);
  });

  it('the final line counts every state a task was left in', () => {
    const counts = { total: 4, pending: 0, ready: 1, running: 0, blocked: 1, completed: 1, failed: 0, cancelled: 0, retrying: 1 };
    expect(summary({ status: 'waiting', exitCode: 3, counts })).toBe('paused: waiting for a person — 1/4 completed, 1 blocked, 1 retrying, 1 ready (exit 3)');
  });

  it('views are plain data: they print, spread and compare like objects', () => {
    const o = createOverseer();
    const view = o.scheduleTask({ id: 'a', title: 'A' });
    expect(Object.keys(view)).toContain('title');
    expect({ ...view }).toMatchObject({ id: 'a', title: 'A', state: 'ready', retryAt: null });
  });
});
