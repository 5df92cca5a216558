/** A misspelled option is refused, naming it, never ignored: ignoring it would quietly do something else. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOverseer, jsonFileStore } from '../runtime/index.js';
import { machinePaths } from '../runtime/testing.js';
import { checkPlan, PlanError } from '../runtime/plan.js';

describe('misspelled options elsewhere', () => {
  it('are refused, not ignored: retryTask, getTasks', () => {
    const o = createOverseer();
    o.scheduleTask({ id: 'a', maxRetries: 0 });
    o.markFailed(o.getNextTask()!.id, 'boom');
    expect(() => o.retryTask('a', { delay: 60_000 } as never)).toThrow(/options\.delay: unknown field \(known: delayMs\)/);
    expect(o.getTaskStatus('a')?.state).toBe('failed');
    expect(() => o.getTasks({ status: 'failed' } as never)).toThrow(/filter\.status: unknown field \(known: projectId, state\)/);
  });
});

describe('createOverseer quality options', () => {
  it('must be an object of keys the quality controller knows', () => {
    expect(() => createOverseer({ quality: 5 as never })).toThrow(/options\.quality: must be an object, got 5/);
    expect(() => createOverseer({ quality: { passScor: 0.9 } as never })).toThrow(/options\.quality\.passScor: unknown field/);
    expect(() => createOverseer({ quality: { passScore: 0.9 } })).not.toThrow();
  });
});

describe("a task's quality settings", () => {
  it('are checked through the API as a plan file checks them: a gate that could never hold is refused', () => {
    const o = createOverseer();
    const attempt = () => o.scheduleTask({ id: 'a', metadata: { quality: { gate: { minScore: '0.99' }, maxRetires: 1 } } });
    expect(attempt).toThrow(/task\.metadata\.quality\.maxRetires: unknown field/);
    expect(attempt).toThrow(/task\.metadata\.quality\.gate\.minScore: must be a number/);
    expect(o.getTasks()).toEqual([]);
    expect(() => o.scheduleTask({ id: 'b', metadata: { quality: { gate: { minScore: 0.9 }, maxRetries: 1 } } })).not.toThrow();
    expect(() => o.scheduleTask({ id: 'c', metadata: { quality: null } })).not.toThrow(); // null: no quality settings
  });
});

describe('run() options', () => {
  it('refuses a misspelled option and a limit it cannot keep, naming each, and starts nothing', () => {
    const o = createOverseer({ executors: { work: async () => 'done' } });
    o.scheduleTask({ id: 'a', executor: 'work' });
    expect(() => o.run({ concurency: 2 } as never)).toThrow(/options\.concurency: unknown field \(known: concurrency,/);
    expect(() => o.run({ concurrency: 0, perProject: { web: 1.5 }, waitForPersonMs: -1 })).toThrow(
      /options\.concurrency: must be an integer ≥ 1, got 0[\s\S]*options\.perProject\.web: must be an integer ≥ 1, got 1\.5[\s\S]*options\.waitForPersonMs: must be a number of milliseconds ≥ 0, got -1/,
    );
    expect(o.getTaskStatus('a')!.state).toBe('ready');
  });
});

describe("a plan's misspelled fields", () => {
  it('are refused, each with the field it likely meant: a near spelling, or the name another tool gives it', () => {
    let problems: readonly string[] = [];
    try {
      checkPlan(
        {
          concurency: 3,
          defaults: { retrys: 2 },
          tasks: [
            { id: 'a', cmd: 'true', cd: 'src', if: 'x' },
            { id: 'b', command: 'true', dependencies: ['a'], priorty: 3, quality: { gate: { minScore: 0.5 }, maxRetires: 1 }, zzzzqqq: 1 },
          ],
          breakpoints: { rules: [{ type: 't', condition: 'true', expiresAfter: 5 }] },
        },
        'p.yaml',
        '/tmp',
      );
    } catch (error) {
      problems = (error as PlanError).problems;
    }
    expect(problems).toEqual(
      expect.arrayContaining([
        'concurency: unknown field; did you mean "concurrency"?',
        'defaults.retrys: unknown field; did you mean "retries"?',
        'tasks[0].cmd: unknown field; did you mean "command"?',
        'tasks[0].cd: unknown field; did you mean "cwd"?',
        'tasks[0].if: unknown field', // too short to guess from (not "id", which it has)
        'tasks[1].dependencies: unknown field; did you mean "dependsOn"?',
        'tasks[1].priorty: unknown field; did you mean "priority"?',
        'tasks[1].quality.maxRetires: unknown field; did you mean "maxRetries"?',
        'tasks[1].zzzzqqq: unknown field',
        'breakpoints.rules[0].expiresAfter: unknown field; did you mean "expiresAfterMs"?',
      ]),
    );
    // A rule's misspelled fact is named in the same round as the rest, not only once the rest is right.
    let second: readonly string[] = [];
    try {
      checkPlan({ defaults: { retires: 2 }, tasks: [{ id: 'a', command: 'true' }], breakpoints: { rules: [{ type: 't', priority: 'urgent', condition: 'task.attemps > 2' }] } }, 'p.yaml', '/tmp');
    } catch (error) {
      second = (error as PlanError).problems;
    }
    expect(second).toEqual(expect.arrayContaining(['defaults.retires: unknown field; did you mean "retries"?', expect.stringMatching(/^breakpoints\.rules\[0\]\.condition reads "task\.attemps".*did you mean "task\.attempts"\?$/)]));
  });
});

describe('jsonFileStore and the testing kit', () => {
  it('refuse what they cannot use, naming it: a misspelled option, options that are not an object, a folder as the store', async () => {
    expect(() => jsonFileStore('/tmp/x.json', { flushMs: 10 } as never)).toThrow(/options\.flushMs: unknown field \(known: groupCommitMs\)/);
    expect(() => jsonFileStore('/tmp/x.json', null as never)).toThrow(/options: must be an object, got null/);
    expect(() => jsonFileStore('', { groupCommitMs: -1 })).toThrow(/path: must be a non-empty string; options\.groupCommitMs: must be a number of milliseconds ≥ 0, got -1/);
    const dir = mkdtempSync(join(tmpdir(), 'overseer-folder-'));
    try {
      expect(() => createOverseer({ store: jsonFileStore(dir) })).toThrow(`${dir} is a folder: a store is a file path, such as ${join(dir, 'state.json')}`);
      expect(readdirSync(dir)).toEqual([]); // no lock left behind
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => machinePaths('nope' as never, { events: [{ type: 'GO' }, 5 as never] })).toThrow(/machine: must be a state machine[\s\S]*options\.events\[1\]: must be an event object with a type, got 5/);
  });

  it('flush() after close() resolves: everything was made durable by the close', async () => {
    const o = createOverseer();
    await o.close();
    await expect(o.flush()).resolves.toBeUndefined();
  });
});
