/**
 * The testing stage: runs the task's `testCommand` in the workdir (through runShell, so the
 * whole process tree is stopped on timeout or cancel) and reads the runner's summary.
 * Score: passed / (passed + failed). Summaries are tried in this order (ANSI colours removed):
 *
 *   node:test   `# pass N` / `# fail N` (+ `# cancelled N`) from the TAP reporter, or `ℹ pass N`… (spec)
 *   vitest/jest `Tests  2 failed | 3 passed (5)` / `Tests:  1 failed, 2 passed, 3 total`
 *   TAP         counting `ok N` / `not ok N` lines
 *   plain       a line with `N passed` and/or `N failed` in either order (pytest's summary too)
 *   exit code   0 → 1, otherwise 0
 *
 * A non-zero exit while the summary shows no failure counts as one more failure (the run
 * broke outside the tests: a crash, a coverage threshold…). Names come from TAP `ok`/`not ok`
 * lines, spec ✔/✖ lines, vitest/jest ✓/×/✕ lines and pytest's PASSED/FAILED lines.
 */
import { runShell } from '../../actors/shell.js';
import { ExecutionError } from '../../actors/types.js';
import type { TestReport, Validator, ValidatorOutcome } from './types.js';

export const TESTING_WEIGHT = 0.25;
export const DEFAULT_TEST_TIMEOUT_MS = 10 * 60_000;
/** How much of the output is kept for parsing: summaries come last, names need more. */
const OUTPUT_BYTES = 512 * 1024;
/** One issue per failed test up to this many; the rest are summed up in one. */
const MAX_NAMED_FAILURES = 20;

type Found = ValidatorOutcome['issues'][number];

export interface ParsedTests {
  format: 'node-test' | 'vitest-jest' | 'tap' | 'plain' | 'exit-code';
  passed: number;
  failed: number;
  /** Names, when the output gave them. */
  names: TestReport | null;
}

export function testingValidator(options: { weight?: number; timeoutMs?: number } = {}): Validator {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  return {
    name: 'testing',
    weight: options.weight ?? TESTING_WEIGHT,
    async validate({ task, output, signal, log }) {
      const command = task.testCommand?.trim();
      if (!command) return { score: 1, issues: [], skipped: true, details: { reason: 'the task has no test command' } };
      // Our own deadline for the tests, apart from the caller's signal: hitting it fails the tests, not the validation.
      const limit = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
      let exitCode: number | null = 0;
      let text: string;
      try {
        const run = await runShell({ command, cwd: output.workdir }, { signal: limit, log }, { tailBytes: OUTPUT_BYTES });
        text = `${run.stdout}\n${run.stderr}`;
      } catch (err) {
        if (signal.aborted || !(err instanceof ExecutionError)) throw err;
        if (err.kind !== 'exit') {
          const what = err.kind === 'timeout' ? `timed out after ${timeoutMs} ms` : `could not run (${err.kind})`;
          return { score: 0, issues: [{ severity: 'error', code: 'test-run', message: `test command \`${command}\` ${what}: ${err.message.split('\n')[0]}` }], details: { command, exitCode: null, error: err.kind } };
        }
        exitCode = err.exitCode ?? null;
        text = err.output ?? '';
      }
      const parsed = parseTestOutput(text, exitCode);
      let { passed, failed } = parsed;
      const issues: Found[] = [];
      if (exitCode !== 0 && failed === 0) {
        failed = 1; // see the header: the run itself failed
        issues.push({ severity: 'error', code: 'test-exit', message: `test command \`${command}\` exited with ${exitCode === null ? 'a signal' : `code ${exitCode}`} although no test was reported failing` });
      }
      const failedNames = parsed.names?.failed ?? [];
      for (const name of failedNames.slice(0, MAX_NAMED_FAILURES)) issues.push({ severity: 'error', code: 'test-failed', message: `test failed: ${name}` });
      const unnamed = parsed.failed - Math.min(failedNames.length, MAX_NAMED_FAILURES);
      if (unnamed > 0) issues.push({ severity: 'error', code: 'test-failed', message: `${unnamed} ${failedNames.length ? 'more ' : ''}test${unnamed === 1 ? '' : 's'} failed` });
      if (passed + failed === 0) issues.push({ severity: 'warning', code: 'no-tests', message: `test command \`${command}\` ran no test it reported` });
      const score = passed + failed === 0 ? (exitCode === 0 ? 1 : 0) : passed / (passed + failed);
      const outcome: ValidatorOutcome = { score, issues, details: { command, exitCode, format: parsed.format, passed: parsed.passed, failed: parsed.failed } };
      if (parsed.names) outcome.tests = parsed.names;
      return outcome;
    },
  };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

/** Reads a test runner's output; see the module header for the formats. */
export function parseTestOutput(raw: string, exitCode: number | null): ParsedTests {
  const text = raw.replace(ANSI, '').replace(/\r\n?/g, '\n');
  const names = testNames(text);

  const nodePass = lastNumber(text, /^[#ℹ] pass (\d+)\s*$/gmu);
  const nodeFail = lastNumber(text, /^[#ℹ] fail (\d+)\s*$/gmu);
  // A cancelled test (its timeout, a parent that failed first) did not pass.
  const nodeCancelled = lastNumber(text, /^[#ℹ] cancelled (\d+)\s*$/gmu) ?? 0;
  if (nodePass !== null || nodeFail !== null) return { format: 'node-test', passed: nodePass ?? 0, failed: (nodeFail ?? 0) + nodeCancelled, names };

  const summary = [...text.matchAll(/^\s*Tests:?\s+(.*\d+ (?:passed|failed).*)$/gm)].pop()?.[1];
  if (summary !== undefined) return { format: 'vitest-jest', passed: count(summary, 'passed'), failed: count(summary, 'failed'), names };

  const tapOk = [...text.matchAll(/^\s*ok \d+\b(?!.*#\s*(?:SKIP|TODO))/gim)].length;
  const tapNotOk = [...text.matchAll(/^\s*not ok \d+\b(?!.*#\s*(?:SKIP|TODO))/gim)].length;
  if (tapOk + tapNotOk > 0) return { format: 'tap', passed: tapOk, failed: tapNotOk, names };

  const plain = [...text.matchAll(/^.*\b\d+ (?:passed|failed)\b.*$/gm)].pop()?.[0];
  if (plain !== undefined) return { format: 'plain', passed: count(plain, 'passed'), failed: count(plain, 'failed'), names };

  return { format: 'exit-code', passed: exitCode === 0 ? 1 : 0, failed: exitCode === 0 ? 0 : 1, names: null };
}

function lastNumber(text: string, re: RegExp): number | null {
  const all = [...text.matchAll(re)];
  return all.length ? Number(all[all.length - 1]![1]) : null;
}

function count(line: string, word: 'passed' | 'failed'): number {
  const m = new RegExp(`(\\d+) ${word}\\b`).exec(line);
  return m ? Number(m[1]) : 0;
}

/** Test names, from whichever of the known line shapes the output has. Null when none. */
function testNames(text: string): TestReport | null {
  const passed = new Set<string>();
  const failed = new Set<string>();
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^\s*(not )?ok \d+(?: - )?(.*?)\s*(#\s*(SKIP|TODO).*)?$/i.exec(line))) {
      if (!m[3] && m[2]) (m[1] ? failed : passed).add(m[2]);
    } else if ((m = /^\s*([✔✓√])\s+(.+?)(?:\s+\(?\d+(?:\.\d+)?\s*m?s\)?)?$/u.exec(line))) {
      passed.add(m[2]!);
    } else if ((m = /^\s*([✖×✕])\s+(.+?)(?:\s+\(?\d+(?:\.\d+)?\s*m?s\)?)?$/u.exec(line))) {
      failed.add(m[2]!);
    } else if ((m = /^(PASSED|FAILED) (\S+)/.exec(line)) || (m = /^(\S+::\S+) (PASSED|FAILED)\b/.exec(line))) {
      const [status, name] = m[1] === 'PASSED' || m[1] === 'FAILED' ? [m[1], m[2]!] : [m[2], m[1]!];
      (status === 'PASSED' ? passed : failed).add(name);
    }
  }
  // A name seen failing anywhere (a retry, a summary list) is failing.
  for (const name of failed) passed.delete(name);
  return passed.size + failed.size ? { passed: [...passed], failed: [...failed] } : null;
}
