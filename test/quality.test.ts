/**
 * The quality controller on real files in temp dirs: each stage, the controller, gates,
 * regressions, trends and reports, the LLM stage against a local HTTP server, and
 * properties of the score.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionError } from '../actors/types.js';
import { ValidationError } from '../runtime/errors.js';
import {
  calculateQualityScore, checkRegression, createQualityController, defaultValidators, enforceQualityGate, llmValidator, parseTestOutput,
  qualityValidator, suggestImprovements, syntaxValidator, testingValidator,
  type ChangedFile, type QualityRecord, type QualityResult, type QualityTask, type Validator,
} from '../runtime/quality/index.js';
import { jsonErrorOffset } from '../runtime/quality/syntax.js';

const root = mkdtempSync(join(tmpdir(), 'overseer-quality-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

/** A fresh workdir holding `files` (relative path → text). */
function workdir(files: Record<string, string>): string {
  const dir = join(root, `w${++dirs}`);
  mkdirSync(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}
const created = (...paths: string[]): ChangedFile[] => paths.map((path) => ({ path, kind: 'created' }));
const task = (extra: Partial<QualityTask> = {}): QualityTask => ({ id: 't1', projectId: 'p1', title: 'add a mean function', ...extra });
/** A controller with only the named built-in stages. */
const only = (...names: string[]) => createQualityController({ validators: defaultValidators().filter((v) => names.includes(v.name)) });
const stage = (r: QualityResult, name: string) => r.stages.find((s) => s.name === name)!;

describe('syntax stage', () => {
  const qc = createQualityController();

  it('passes valid JSON, YAML, ESM and CommonJS JavaScript, TypeScript and TSX', async () => {
    const dir = workdir({
      'a.json': '{ "a": [1, 2.5e3, "x\\u0041"], "b": null }\n',
      'b.yaml': 'name: x\nlist:\n  - 1\n  - two\n',
      'c.js': 'export function mean(xs) { return xs.reduce((a, b) => a + b, 0) / xs.length; }\n',
      'd.cjs': 'module.exports = { x: 1 };\n',
      'e.ts': 'export type Point = { x: number };\nexport const origin: Point = { x: 0 };\n',
      'f.tsx': 'export const View = () => <div className="a">hi</div>;\n',
      'notes.txt': 'not checked {',
    });
    const result = await qc.validateOutput({ workdir: dir, changedFiles: created('a.json', 'b.yaml', 'c.js', 'd.cjs', 'e.ts', 'f.tsx', 'notes.txt') }, task());
    const syntax = stage(result, 'syntax');
    expect(syntax).toMatchObject({ status: 'passed', score: 1, issues: [] });
    expect(syntax.details.checked).toEqual(['a.json', 'b.yaml', 'c.js', 'd.cjs', 'e.ts', 'f.tsx']);
  });

  it('reports each broken file with its line, and scores the share that parse', async () => {
    const dir = workdir({
      'bad.json': '{\n  "a": 1,\n  "b" }\n',
      'bad.yaml': 'a: 1\nb: [1, 2\nc: 3\n',
      'bad.js': 'const x = {\n  a: 1,\n  b: ;\n};\n',
      'bad.ts': 'const ok = 1;\nconst x: number = ;\n',
      'good.json': '[]',
    });
    const result = await qc.validateOutput({ workdir: dir, changedFiles: created('bad.json', 'bad.yaml', 'bad.js', 'bad.ts', 'good.json') }, task());
    const syntax = stage(result, 'syntax');
    expect(syntax.status).toBe('failed');
    expect(syntax.score).toBeCloseTo(1 / 5);
    const at = (file: string) => syntax.issues.find((i) => i.file === file && i.severity === 'error');
    expect(at('bad.json')).toMatchObject({ code: 'syntax', line: 3, column: 7 });
    expect(at('bad.json')!.message).toMatch(/invalid JSON/);
    expect(at('bad.yaml')).toMatchObject({ line: 3 });
    expect(at('bad.js')).toMatchObject({ line: 3 });
    expect(at('bad.js')!.message).toMatch(/SyntaxError: Unexpected token ';'/);
    expect(at('bad.ts')).toMatchObject({ line: 2, column: 19 });
    expect(at('good.json')).toBeUndefined();
  });

  it('reports a broken .js module outside a "type": "module" package (node --check alone passes it on Node 20.19+)', async () => {
    const dir = workdir({
      'mean.js': 'export function mean(xs) {\n  return xs.reduce((a, b) => a + b, 0) / xs.length;\n}\nexport const x = (;\n',
      'uses-import.js': 'import { mean } from "./mean.js";\nconsole.log(mean([1, 2]);\n',
      'fine-module.js': 'import fs from "node:fs";\nexport const read = (p) => fs.readFileSync(p);\n',
      'fine-cjs.js': 'if (process.argv.length > 9) return;\nmodule.exports = { x: 1 };\n',
    });
    const result = await qc.validateOutput({ workdir: dir, changedFiles: created('mean.js', 'uses-import.js', 'fine-module.js', 'fine-cjs.js') }, task());
    const syntax = stage(result, 'syntax');
    expect(syntax.score).toBeCloseTo(2 / 4);
    const errors = syntax.issues.filter((i) => i.severity === 'error');
    expect(errors.map((i) => [i.file, i.line])).toEqual([['mean.js', 4], ['uses-import.js', 2]]);
    expect(errors[0]!.message).toMatch(/SyntaxError: Unexpected token ';'/);
  });

  it('is skipped when no changed file is of a type it parses (deleted ones included)', async () => {
    const dir = workdir({ 'readme.md': '# hi' });
    const result = await qc.validateOutput({ workdir: dir, changedFiles: [{ path: 'readme.md', kind: 'modified' }, { path: 'gone.json', kind: 'deleted' }] }, task());
    expect(stage(result, 'syntax')).toMatchObject({ status: 'skipped', score: null });
  });

  it('locates JSON errors exactly where JSON.parse fails, and nowhere in valid JSON', () => {
    fc.assert(fc.property(fc.json(), (text) => jsonErrorOffset(text) === null));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json().map((j) => j.slice(0, -1)), fc.json().map((j) => `${j}}`)), (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        expect(jsonErrorOffset(text) === null).toBe(valid);
      }),
    );
    expect(jsonErrorOffset('[1, 2,]')).toBe(6);
    expect(jsonErrorOffset('')).toBe(0);
  });
});

describe('requirements stage', () => {
  const dir = workdir({ 'src/math.js': 'export function mean(xs) {\n  return xs.reduce((a, b) => a + b, 0) / xs.length;\n}\n' });
  const output = { workdir: dir, response: 'Added mean() in src/math.js: it computes the arithmetic average of a list of numbers.', changedFiles: created('src/math.js') };
  const check = async (criteria: string[]) => {
    const result = await only('requirements').validateOutput(output, task({ acceptanceCriteria: criteria }));
    return stage(result, 'requirements');
  };

  it('checks file, contains, changed and response criteria exactly', async () => {
    const met = await check(['file:src/math.js exists', 'file:src/math.js', 'file:src/old.js absent', 'contains:src/math.js:export function mean', 'changed:src/math.js', 'response:mentions MEAN()', 'response:arithmetic']);
    expect(met).toMatchObject({ status: 'passed', score: 1, issues: [] });
    const unmet = await check(['file:src/median.js exists', 'file:src/math.js absent', 'contains:src/math.js:export function median', 'changed:src/other.js', 'response:mentions median', 'file:../../etc/passwd exists', 'contains:nope.js:x']);
    expect(unmet.score).toBe(0);
    expect(unmet.issues).toHaveLength(7);
    expect(unmet.issues.every((i) => i.severity === 'error' && i.code === 'requirement')).toBe(true);
    expect(unmet.issues.map((i) => i.message).join('\n')).toMatch(/outside the workdir/);
  });

  it('matches free text by keyword overlap at 60%, scoring partial overlap, and cannot check a criterion without keywords', async () => {
    // "computes the arithmetic average of numbers": computes, arithmetic, average, numbers → all in the response.
    const free = await check(['computes the arithmetic average of numbers', 'supports websocket streaming compression for numbers', 'it is a']);
    const results = free.details.criteria as Array<{ met: boolean; score: number | null; form: string }>;
    expect(results.map((r) => [r.form, r.met, r.score])).toEqual([
      ['free-text', true, 1],
      ['free-text', false, 0.2], // 1 of 5 keywords: number
      ['free-text', false, null],
    ]);
    expect(free.score).toBeCloseTo((1 + 0.2) / 2);
    expect(free.issues.map((i) => [i.severity, i.code])).toEqual([
      ['warning', 'requirement'],
      ['info', 'requirement-unchecked'],
    ]);
  });

  it('is skipped without acceptance criteria', async () => {
    expect((await check([])).status).toBe('skipped');
  });
});

describe('quality stage', () => {
  const key = 'AKIA' + 'IOSFODNN7EXAMPLE';
  const hex = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
  const source = [
    'export function mean(xs) {', //                         1
    '  // TODO: handle empty arrays', //                      2
    `  const awsKey = "${key}";`, //                         3
    '  const pem = "-----BEGIN RSA PRIVATE KEY-----";', //   4
    '  // FIXME later', //                                    5
    '  const password = "hunter2";', //                       6
    `  const token = "${hex}";`, //                          7
    '  return xs.reduce((a, b) => a + b, 0) / xs.length;', // 8
    '}',
  ].join('\n');

  it('finds TODO/FIXME, secrets and random tokens with their lines, and empty files', async () => {
    const dir = workdir({ 'src/a.js': source, 'src/empty.js': '  \n', 'package-lock.json': `{"integrity": "${hex}"}` });
    const result = await only('quality').validateOutput({ workdir: dir, changedFiles: created('src/a.js', 'src/empty.js', 'package-lock.json') }, task());
    const q = stage(result, 'quality');
    const found = q.issues.map((i) => [i.code, i.severity, i.file, i.line]);
    expect(found).toEqual(expect.arrayContaining([
      ['todo', 'warning', 'src/a.js', 2],
      ['secret', 'error', 'src/a.js', 3],
      ['secret', 'error', 'src/a.js', 4],
      ['todo', 'warning', 'src/a.js', 5],
      ['secret', 'error', 'src/a.js', 6],
      ['entropy', 'warning', 'src/a.js', 7],
      ['empty-file', 'warning', 'src/empty.js', undefined],
    ]));
    expect(q.issues).toHaveLength(7); // the lockfile's hash is expected there
    expect(q.issues.map((i) => i.message).join('\n')).not.toContain(key); // redacted
    expect(q.score).toBe(0); // 3 secrets alone cost 1.2
    expect(q.status).toBe('failed');
  });

  it('scores by fixed penalties and flags a large change', async () => {
    const dir = workdir({ 'a.js': 'const a = 1; // TODO\nconst b = 2; // XXX\n', 'big.txt': 'x\n'.repeat(30), 'm.js': 'const m = 1;\n' });
    const qc = createQualityController({ validators: [qualityValidator({ maxLinesAdded: 20 })] });
    const q = stage(await qc.validateOutput({ workdir: dir, changedFiles: [...created('a.js', 'big.txt'), { path: 'm.js', kind: 'modified', linesAdded: 5 }] }, task()), 'quality');
    expect(q.details.linesAdded).toBe(2 + 30 + 5);
    expect(q.issues.map((i) => i.code).sort()).toEqual(['large-change', 'todo', 'todo']);
    expect(q.score).toBeCloseTo(1 - 0.05 - 0.05 - 0.1);
    expect(q.status).toBe('passed'); // warnings only
  });
});

describe('testing stage', () => {
  const tests = (fail: boolean) => [
    "import test from 'node:test';",
    "import assert from 'node:assert';",
    "test('adds numbers', () => assert.equal(1 + 1, 2));",
    `test('computes the mean', () => assert.equal(${fail ? '3' : '2'}, 2));`,
  ].join('\n');
  const qc = only('testing');

  it("runs node's test runner and reads its summary and test names", async () => {
    const pass = await qc.validateOutput({ workdir: workdir({ 'a.test.mjs': tests(false) }) }, task({ testCommand: 'node --test' }));
    expect(stage(pass, 'testing')).toMatchObject({ status: 'passed', score: 1, details: { format: 'node-test', passed: 2, failed: 0, exitCode: 0 } });
    expect(pass.tests).toEqual({ passed: ['adds numbers', 'computes the mean'], failed: [] });
    expect(pass.score).toBe(1);

    const fail = await qc.validateOutput({ workdir: workdir({ 'a.test.mjs': tests(true) }) }, task({ testCommand: 'node --test' }));
    const t = stage(fail, 'testing');
    expect(t).toMatchObject({ status: 'failed', score: 0.5, details: { passed: 1, failed: 1, exitCode: 1 } });
    expect(fail.tests).toEqual({ passed: ['adds numbers'], failed: ['computes the mean'] });
    expect(t.issues).toEqual([expect.objectContaining({ code: 'test-failed', severity: 'error', message: 'test failed: computes the mean' })]);
  });

  it('reads a plain summary line, and falls back to the exit code', async () => {
    const dir = workdir({});
    const plain = await qc.validateOutput({ workdir: dir }, task({ testCommand: 'echo "3 passed, 1 failed"; exit 1' }));
    expect(stage(plain, 'testing')).toMatchObject({ score: 0.75, details: { format: 'plain' } });
    const exit = await qc.validateOutput({ workdir: dir }, task({ testCommand: 'echo building; exit 3' }));
    expect(stage(exit, 'testing')).toMatchObject({ score: 0, details: { format: 'exit-code', exitCode: 3 } });
    const crashed = await qc.validateOutput({ workdir: dir }, task({ testCommand: 'echo "# pass 4"; echo "# fail 0"; exit 1' }));
    expect(stage(crashed, 'testing').score).toBe(0.8); // the broken run counts as one failure
    expect(stage(crashed, 'testing').issues[0]!.code).toBe('test-exit');
  });

  it('fails the tests, not the validation, when the command outlives its time limit', async () => {
    const slow = createQualityController({ validators: [testingValidator({ timeoutMs: 300 })] });
    const result = await slow.validateOutput({ workdir: workdir({}) }, task({ testCommand: 'node -e "setInterval(() => {}, 1000)"' }));
    expect(stage(result, 'testing')).toMatchObject({ status: 'failed', score: 0, details: { error: 'timeout' } });
    expect(stage(result, 'testing').issues[0]!.message).toMatch(/timed out after 300 ms/);
  });

  it("rejects with a 'cancelled' ExecutionError when the caller aborts", async () => {
    const ac = new AbortController();
    const running = qc.validateOutput({ workdir: workdir({}) }, task({ testCommand: 'node -e "setInterval(() => {}, 1000)"' }), { signal: ac.signal });
    ac.abort();
    const err = await running.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionError);
    expect((err as ExecutionError).kind).toBe('cancelled');
  });

  it('parses vitest, jest, pytest, TAP and spec-reporter output', () => {
    expect(parseTestOutput(' Test Files  1 failed (1)\n      Tests  2 failed | 3 passed (5)\n', 1)).toMatchObject({ format: 'vitest-jest', passed: 3, failed: 2 });
    expect(parseTestOutput('Tests:       1 failed, 2 passed, 3 total\n', 1)).toMatchObject({ format: 'vitest-jest', passed: 2, failed: 1 });
    expect(parseTestOutput('\u001b[32m ✓ math > mean\u001b[39m\n × math > median 3ms\n Tests  1 failed | 1 passed (2)', 1)).toMatchObject({ passed: 1, failed: 1, names: { passed: ['math > mean'], failed: ['math > median'] } });
    expect(parseTestOutput('FAILED tests/test_m.py::test_median - assert 1 == 2\n===== 1 failed, 4 passed in 0.12s =====', 1)).toMatchObject({ format: 'plain', passed: 4, failed: 1, names: { failed: ['tests/test_m.py::test_median'] } });
    expect(parseTestOutput('TAP version 13\nok 1 - a\nnot ok 2 - b\nok 3 - c # SKIP later\n1..3', 1)).toMatchObject({ format: 'tap', passed: 1, failed: 1, names: { passed: ['a'], failed: ['b'] } });
    expect(parseTestOutput('✔ adds (0.5ms)\n✖ fails (1.2ms)\nℹ tests 2\nℹ pass 1\nℹ fail 1\nℹ cancelled 1', 1)).toMatchObject({ format: 'node-test', passed: 1, failed: 2, names: { passed: ['adds'], failed: ['fails'] } });
    expect(parseTestOutput('all good', 0)).toMatchObject({ format: 'exit-code', passed: 1, failed: 0, names: null });
  });
});

describe('controller', () => {
  const good = () => workdir({
    'src/math.js': 'export function mean(xs) {\n  return xs.reduce((a, b) => a + b, 0) / xs.length;\n}\n',
    'math.test.mjs': "import test from 'node:test';\nimport assert from 'node:assert';\nimport { mean } from './src/math.js';\ntest('mean', () => assert.equal(mean([1, 2, 3]), 2));\n",
  });
  const fullTask = task({ acceptanceCriteria: ['file:src/math.js exists', 'contains:src/math.js:export function mean', 'response:mentions mean'], testCommand: 'node --test' });

  it('runs the four stages, scores their weighted mean, and records the result', async () => {
    const records: QualityRecord[] = [];
    let clock = 1_000;
    const qc = createQualityController({ onRecord: (r) => records.push(r), now: () => clock++ });
    expect(qc.stages()).toEqual([{ name: 'syntax', weight: 0.25 }, { name: 'requirements', weight: 0.3 }, { name: 'quality', weight: 0.2 }, { name: 'testing', weight: 0.25 }]);
    const dir = good();
    writeFileSync(join(dir, 'src/math.js'), '// TODO: empty input\n' + 'export function mean(xs) {\n  return xs.reduce((a, b) => a + b, 0) / xs.length;\n}\n');
    const result = await qc.validateOutput({ workdir: dir, response: 'Added mean.', changedFiles: created('src/math.js') }, fullTask);
    expect(result.stages.map((s) => [s.name, s.status, s.score])).toEqual([
      ['syntax', 'passed', 1],
      ['requirements', 'passed', 1],
      ['quality', 'passed', 0.95],
      ['testing', 'passed', 1],
    ]);
    expect(result.score).toBeCloseTo((0.25 + 0.3 + 0.2 * 0.95 + 0.25) / 1);
    expect(result).toMatchObject({ taskId: 't1', projectId: 'p1', stagesRun: 4, tests: { passed: ['mean'], failed: [] } });
    expect(result.startedAt).toBeLessThan(result.finishedAt);
    expect(records).toHaveLength(1);
    expect(qc.history()).toEqual(records);
    expect(records[0]).toMatchObject({ taskId: 't1', score: result.score, stages: { quality: 0.95 }, warnings: 1, issueCodes: { todo: 1 } });
    expect(JSON.parse(JSON.stringify(result))).toEqual(result); // plain JSON: storable, usable as a task result
  });

  it('compares with a baseline, and orders issues errors first', async () => {
    const qc = createQualityController();
    const dir = good();
    const baseline = await qc.validateOutput({ workdir: dir, response: 'mean', changedFiles: created('src/math.js') }, fullTask);
    writeFileSync(join(dir, 'src/math.js'), 'export function mean(xs) {\n  return 0; // FIXME\n}\n');
    const worse = await qc.validateOutput({ workdir: dir, response: 'mean', changedFiles: created('src/math.js') }, fullTask, { baseline });
    expect(worse.regression!.regressed).toBe(true);
    expect(worse.regression!.regressions.map((r) => r.stage)).toEqual(['testing', 'overall']);
    expect(worse.issues.map((i) => i.severity)).toEqual(['error', 'warning']);
  });

  it('rejects bad input naming every problem, and scores a throwing validator 0', async () => {
    const qc = createQualityController();
    const err = await qc.validateOutput({ workdir: '', changedFiles: [{ path: '', kind: 'renamed' as 'created' }] }, { id: '', projectId: 'p', title: 'x', acceptanceCriteria: 'x' as unknown as string[] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems).toHaveLength(5);
    await expect(qc.validateOutput({ workdir: join(root, 'nope') }, task())).rejects.toThrow(/is not a directory/);
    expect(() => createQualityController({ weights: { syntax: -1 }, maxHistory: 0, history: [{ score: 2 }] as unknown as QualityRecord[] })).toThrow(ValidationError);

    const broken: Validator = { name: 'broken', weight: 1, validate: async () => { throw new Error('boom'); } };
    const fine: Validator = { name: 'fine', weight: 1, validate: async () => ({ score: 1, issues: [] }) };
    const result = await createQualityController({ validators: [broken, fine] }).validateOutput({ workdir: workdir({}) }, task());
    expect(stage(result, 'broken')).toMatchObject({ status: 'error', score: 0, issues: [{ code: 'validator-error', message: 'validator broken failed: boom' }] });
    expect(result.score).toBe(0.5);
  });
});

describe('gates, regressions, advice and cross-validation', () => {
  const result = (stages: Array<[string, number | null]>, issues: QualityResult['issues'] = []): QualityResult => {
    const list = stages.map(([name, score]) => ({ name, weight: 1, status: score === null ? ('skipped' as const) : ('passed' as const), score, issues: [], details: {}, startedAt: 0, finishedAt: 0 }));
    return { taskId: 't', projectId: 'p', score: calculateQualityScore(list), stagesRun: list.filter((s) => s.score !== null).length, stages: list, issues, startedAt: 0, finishedAt: 0 };
  };
  const err = (code: string, file?: string, line?: number) => ({ stage: 'x', severity: 'error' as const, code, message: code, ...(file ? { file } : {}), ...(line ? { line } : {}) });

  it('enforces a gate on the score, per stage, on errors and on what ran', () => {
    const r = result([['syntax', 1], ['testing', 0.5], ['llm', null]], [err('test-failed')]);
    expect(enforceQualityGate(r, { minScore: 0.7 })).toEqual({ passed: true, failures: [] });
    const gated = enforceQualityGate(r, { minScore: 0.8, stages: { testing: 0.9, llm: 0.5 }, maxErrors: 0 });
    expect(gated.passed).toBe(false);
    expect(gated.failures).toEqual(['score 0.75 is below 0.8', 'stage testing scored 0.5, below 0.9', 'stage llm did not run; the gate needs it at 0.5 or more', '1 error; the gate allows 0']);
    expect(enforceQualityGate(0.9, { minScore: 0.8 }).passed).toBe(true);
    expect(enforceQualityGate(0.9, { minScore: 0.8, maxErrors: 1 }).passed).toBe(false); // facts missing: not passed
    expect(enforceQualityGate(result([['syntax', null]]), { minScore: 0 }).failures).toEqual(['0 stages ran; the gate needs 1']);
    expect(() => enforceQualityGate(0.5, { minScore: 2, maxErrors: -1 })).toThrow(ValidationError);
  });

  it('reports drops beyond the tolerance only', () => {
    const before = result([['syntax', 1], ['testing', 1], ['quality', 0.8]]);
    const after = result([['syntax', 0.96], ['testing', 0.8], ['quality', null]]);
    expect(checkRegression(after, before)).toEqual({
      regressed: true,
      tolerance: 0.05,
      regressions: [{ stage: 'testing', baseline: 1, current: 0.8, drop: 0.2 }, { stage: 'overall', baseline: before.score, current: after.score, drop: expect.closeTo(0.0533, 3) }],
    });
    expect(checkRegression(after, before, 0.25).regressed).toBe(false);
    expect(checkRegression(before, before).regressions).toEqual([]);
  });

  it('suggests one improvement per kind of issue, errors first, naming files', () => {
    const suggestions = suggestImprovements({ issues: [{ ...err('todo', 'a.js', 3), severity: 'warning' }, err('secret', 'b.js', 7), err('secret', 'c.js'), err('weird-thing')] });
    expect(suggestions).toEqual([
      expect.stringMatching(/^Remove the hard-coded secrets in b\.js:7, c\.js/),
      'Address the weird-thing issues (1).',
      expect.stringMatching(/^Finish or remove the TODO\/FIXME\/XXX markers in a\.js:3/),
    ]);
  });

  it('measures agreement between validators, and flags a conflict above 0.3', async () => {
    const fixed = (name: string, score: number, skipped = false): Validator => ({ name, weight: 1, validate: async () => ({ score, issues: [], skipped }) });
    const qc = createQualityController();
    const output = { workdir: workdir({}) };
    expect(await qc.crossValidate(output, [fixed('a', 0.9), fixed('b', 0.4), fixed('c', 0.7)])).toMatchObject({ score: expect.closeTo(2 / 3, 6), disagreement: 0.5, agreement: 0.5, conflicting: true });
    expect(await qc.crossValidate(output, [fixed('a', 0.8), fixed('b', 0.6), fixed('c', 0, true)])).toMatchObject({ disagreement: 0.2, agreement: 0.8, conflicting: false });
    expect(await qc.crossValidate(output, ['syntax', fixed('x', 1)], { task: task() })).toMatchObject({ results: [{ name: 'syntax', score: null }, { name: 'x', score: 1 }], disagreement: 0 });
    await expect(qc.crossValidate(output, ['nope'])).rejects.toThrow(/no stage named "nope"/);
  });
});

describe('history, trends and reports', () => {
  const DAY = 86_400_000;
  const t0 = Date.UTC(2026, 0, 1, 12);
  const rec = (day: number, score: number, projectId = 'p1', codes: Record<string, number> = {}): QualityRecord => ({
    taskId: `t${day}-${score}`, projectId, at: t0 + day * DAY, score, stagesRun: 2, stages: { syntax: 1, testing: score, llm: null }, errors: 0, warnings: 0, issueCodes: codes,
  });
  const history = [rec(0, 0.5, 'p1', { todo: 2 }), rec(1, 0.6, 'p1', { secret: 1, todo: 1 }), rec(1, 0.4, 'other'), rec(2, 0.8), rec(3, 0.9, 'p1', { todo: 1 })];

  it('computes daily points, stage means and the direction over a window', () => {
    const qc = createQualityController({ history, now: () => t0 + 3 * DAY });
    const trend = qc.getQualityTrends('p1', 7);
    expect(trend).toMatchObject({ count: 4, direction: 'improving', delta: 0.3, stages: { syntax: 1, testing: 0.7 } });
    expect(trend.points).toEqual([
      { day: '2026-01-01', count: 1, mean: 0.5, min: 0.5, max: 0.5 },
      { day: '2026-01-02', count: 1, mean: 0.6, min: 0.6, max: 0.6 },
      { day: '2026-01-03', count: 1, mean: 0.8, min: 0.8, max: 0.8 },
      { day: '2026-01-04', count: 1, mean: 0.9, min: 0.9, max: 0.9 },
    ]);
    expect(qc.getQualityTrends('p1', 1.5)).toMatchObject({ count: 2, direction: 'improving', delta: 0.1 }); // days 2 and 3 only
    expect(createQualityController({ history: [rec(0, 0.7), rec(1, 0.72)], now: () => t0 + DAY }).getQualityTrends('p1', 7)).toMatchObject({ direction: 'stable', delta: 0.02 });
    expect(createQualityController({ history: [...history].reverse().map((r, i) => ({ ...r, at: t0 + i * DAY })), now: () => t0 + 4 * DAY }).getQualityTrends('p1', 30).direction).toBe('declining');
    expect(qc.getQualityTrends('nobody', 7)).toMatchObject({ count: 0, direction: 'insufficient-data', points: [] });
    expect(() => qc.getQualityTrends('p1', 0)).toThrow(ValidationError);
  });

  it('reports on a project, from a history persisted as JSON and read back', async () => {
    const saved: QualityRecord[] = [];
    const first = createQualityController({ validators: [syntaxValidator()], history, onRecord: (r) => saved.push(r), now: () => t0 + 4 * DAY });
    await first.validateOutput({ workdir: workdir({ 'x.json': '{' }), changedFiles: created('x.json') }, task());
    const restored = createQualityController({ history: JSON.parse(JSON.stringify(first.history())) as QualityRecord[], now: () => t0 + 4 * DAY });
    expect(restored.history()).toEqual(first.history());
    const report = restored.generateQualityReport('p1');
    expect(report).toMatchObject({ projectId: 'p1', count: 5, latestScore: 0, passRate: 0.4, topIssues: [{ code: 'todo', count: 4 }, { code: 'secret', count: 1 }, { code: 'syntax', count: 1 }] });
    expect(report.worst[0]).toMatchObject({ taskId: 't1', score: 0 });
    expect(report.stages.syntax).toEqual({ mean: 0.8, runs: 5, skipped: 0 });
    expect(report.text).toContain('Quality report for p1 (5 validations)');
    expect(report.text).toMatch(/todo: 4/);
    expect(restored.generateQualityReport('empty').text).toBe('Quality report for empty: no validations recorded.');
    expect(saved).toHaveLength(1);
  });

  it('keeps at most maxHistory records, dropping the oldest', async () => {
    const qc = createQualityController({ history, maxHistory: 3 });
    await qc.validateOutput({ workdir: workdir({}) }, task());
    expect(qc.history().map((r) => r.taskId)).toEqual([history[3]!.taskId, history[4]!.taskId, 't1']);
  });
});

describe('LLM stage (a local Ollama-compatible server)', () => {
  let server: Server;
  let url: string;
  const requests: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const parsed = JSON.parse(body) as Record<string, unknown>;
        requests.push(parsed);
        const send = (status: number, payload: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(payload);
        const answer = (verdict: unknown) => send(200, JSON.stringify({ model: parsed.model, response: typeof verdict === 'string' ? verdict : JSON.stringify(verdict), done: true }));
        switch (parsed.model) {
          case 'good': return answer({ score: 0.8, summary: 'fine', issues: [{ severity: 'error', message: 'mean of [] is NaN', file: 'src/math.js', line: 2 }, 'name it average?'] });
          case 'garbage': return send(200, '<html>not json</html>');
          case 'prose': return answer('Looks great to me!');
          case 'bad-score': return answer({ score: 7 });
          case 'error': return send(500, '{"error":"model not found"}');
          case 'hang': return undefined; // never answers
          default: return send(404, '');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const dir = workdir({ 'src/math.js': 'export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;\n' });
  const run = (model: string, timeoutMs = 5_000) =>
    createQualityController({ validators: [llmValidator({ url: `${url}/`, model, timeoutMs })] }).validateOutput({ workdir: dir, response: 'done', changedFiles: created('src/math.js') }, task({ acceptanceCriteria: ['handles empty input'] }));

  it("sends the prompt the Ollama way and scores the model's verdict", async () => {
    const result = await run('good');
    const llm = stage(result, 'llm');
    expect(llm).toMatchObject({ status: 'failed', score: 0.8, details: { model: 'good', summary: 'fine' } });
    expect(llm.issues).toEqual([
      { stage: 'llm', severity: 'error', code: 'llm', message: 'mean of [] is NaN', file: 'src/math.js', line: 2 },
      { stage: 'llm', severity: 'warning', code: 'llm', message: 'name it average?' },
    ]);
    expect(result.score).toBe(0.8);
    const sent = requests.at(-1)!;
    expect(sent).toMatchObject({ model: 'good', stream: false, format: 'json' });
    expect(sent.prompt).toEqual(expect.stringContaining('Task: add a mean function'));
    expect(sent.prompt).toEqual(expect.stringContaining('- handles empty input'));
    expect(sent.prompt).toEqual(expect.stringContaining('export const mean'));
  });

  it('is skipped with a warning, never thrown, when the server answers garbage, an error, or nothing in time', async () => {
    for (const [model, why] of [['garbage', /reply is not JSON/], ['prose', /answer is not JSON/], ['bad-score', /score must be a number from 0 to 1, got 7/], ['error', /HTTP 500/], ['hang', /did not answer within 200 ms/]] as const) {
      const result = await run(model, model === 'hang' ? 200 : 10_000);
      const llm = stage(result, 'llm');
      expect(llm, model).toMatchObject({ status: 'skipped', score: null });
      expect(llm.issues, model).toEqual([expect.objectContaining({ severity: 'warning', code: 'llm-unavailable', message: expect.stringMatching(why) })]);
      expect(result.stagesRun).toBe(0);
    }
  });

  it('is off by default, and joins the stages with weight 0.2 when configured', async () => {
    expect(createQualityController().stages().map((s) => s.name)).not.toContain('llm');
    const qc = createQualityController({ llm: { url, model: 'good' } });
    expect(qc.stages().at(-1)).toEqual({ name: 'llm', weight: 0.2 });
    const closed = createQualityController({ llm: { url: 'http://127.0.0.1:1', model: 'good' }, weights: { syntax: 1 } });
    const result = await closed.validateOutput({ workdir: dir, changedFiles: created('src/math.js') }, task());
    expect(stage(result, 'llm').issues[0]!.message).toMatch(/could not be reached/);
    expect(() => createQualityController({ llm: { url: 'ftp://x', model: '' } })).toThrow(ValidationError);
  });
});

describe('score properties', () => {
  const stageArb = fc.record({
    score: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
    weight: fc.double({ min: 0.001, max: 10, noNaN: true }),
  });

  it('the overall score stays within [0, 1]', () => {
    fc.assert(fc.property(fc.array(stageArb, { maxLength: 8 }), (stages) => {
      const s = calculateQualityScore(stages);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(1);
    }));
  });

  it('the overall score never falls when one stage scores higher', () => {
    fc.assert(fc.property(fc.array(stageArb, { minLength: 1, maxLength: 8 }), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), (stages, pick, raise) => {
      const i = pick % stages.length;
      const before = stages[i]!.score ?? 0;
      const higher = stages.map((s, j) => (j === i ? { ...s, score: before + (1 - before) * raise } : { ...s, score: s.score ?? 0 }));
      const base = stages.map((s) => ({ ...s, score: s.score ?? 0 }));
      expect(calculateQualityScore(higher)).toBeGreaterThanOrEqual(calculateQualityScore(base) - 1e-12);
    }));
  });
});
