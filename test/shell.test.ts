import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runShell, shellExecutor } from '../actors/shell.js';
import { isGone, recordingContext, rejection } from './helpers/processes.js';

const context = (signal: AbortSignal = new AbortController().signal) => recordingContext({ signal });
import type { TaskView } from '../runtime/view.js';

const dir = mkdtempSync(join(tmpdir(), 'overseer-shell-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe('shell executor', () => {
  it('runs through /bin/sh with cwd and env merged over process.env, keeping stdout/stderr and logging lines', async () => {
    const { ctx, lines } = context();
    const run = shellExecutor({ command: 'pwd; echo "$OVERSEER_VAR"; echo "$PATH"; echo oops >&2', cwd: dir, env: { OVERSEER_VAR: 'hello world' } });
    const result = await run({ id: 't1' } as TaskView, ctx);
    expect(result).toMatchObject({
      exitCode: 0,
      stdout: `${realpathSync(dir)}\nhello world\n${process.env.PATH}\n`,
      stderr: 'oops\n',
    });
    expect(typeof (result as { durationMs: unknown }).durationMs).toBe('number');
    expect(lines).toContain('hello world');
    expect(lines).toContain('[stderr] oops');
  });

  it('turns a non-zero exit into a retryable ExecutionError naming the code and quoting the output', async () => {
    const err = await rejection(runShell({ command: 'echo partial; echo "boom: disk full" >&2; exit 3' }, context().ctx));
    expect(err).toMatchObject({ kind: 'exit', retryable: true, exitCode: 3 });
    expect(err.message).toMatch(/exited with code 3/);
    expect(err.message).toContain('boom: disk full');
    expect(err.message).toContain('partial');
    expect(err.output).toContain('boom: disk full');
  });

  it('keeps only the last tailBytes of each stream and bounds the log', async () => {
    const { ctx, lines } = context();
    const command = "head -c 102400 /dev/zero | tr '\\0' x; head -c 102400 /dev/zero | tr '\\0' y >&2; echo; seq 1 5000";
    const result = await runShell({ command }, ctx, { tailBytes: 1000, maxLogLines: 50 });
    expect(result.stdout.length).toBeLessThanOrEqual(1000);
    expect(result.stdout.endsWith('4999\n5000\n')).toBe(true);
    expect(result.stderr).toBe('y'.repeat(1000));
    expect(lines).toHaveLength(51);
    expect(lines[50]).toMatch(/not logged/);
    // The 100 KB line without a newline is logged clipped, not whole.
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(1100);
  });

  it('reports a missing working directory as a spawn error', async () => {
    const cwd = join(dir, 'no-such-dir');
    const err = await rejection(runShell({ command: 'true', cwd }, context().ctx));
    expect(err).toMatchObject({ kind: 'spawn', retryable: false });
    expect(err.message).toContain(`working directory ${cwd} does not exist`);
  });

  it('on cancel kills the whole process tree, not just the shell', async () => {
    const controller = new AbortController();
    const { ctx, waitFor } = context(controller.signal);
    const run = runShell({ command: 'sleep 30 & echo "pids $$ $!"; wait' }, ctx);
    const [shellPid, grandchildPid] = (await waitFor(/^pids /)).split(' ').slice(1).map(Number) as [number, number];
    expect(isGone(grandchildPid)).toBe(false);
    controller.abort('user cancelled');
    const err = await rejection(run);
    expect(err).toMatchObject({ kind: 'cancelled', retryable: false });
    expect(err.message).toMatch(/was cancelled \(user cancelled\): stopped with SIGTERM/);
    expect(isGone(shellPid)).toBe(true);
    expect(isGone(grandchildPid)).toBe(true);
  });

  it('SIGKILLs a tree that ignores SIGTERM once the grace period is over', async () => {
    const controller = new AbortController();
    const { ctx, waitFor } = context(controller.signal);
    // The ignored TERM is inherited by the sleep, so only SIGKILL ends either of them.
    const run = runShell({ command: 'trap "" TERM; sleep 30 & echo "pids $$ $!"; wait; wait' }, ctx, { killGraceMs: 200 });
    const [shellPid, grandchildPid] = (await waitFor(/^pids /)).split(' ').slice(1).map(Number) as [number, number];
    controller.abort('stop');
    const err = await rejection(run);
    expect(err.kind).toBe('cancelled');
    expect(err.message).toMatch(/SIGKILL after ignoring SIGTERM for 200 ms/);
    expect(isGone(shellPid)).toBe(true);
    expect(isGone(grandchildPid)).toBe(true);
  });

  it('reports an abort whose reason is a TimeoutError as a retryable timeout', async () => {
    const controller = new AbortController();
    const { ctx, waitFor } = context(controller.signal);
    const run = runShell({ command: 'echo started; sleep 30' }, ctx);
    await waitFor(/^started$/);
    controller.abort(Object.assign(new Error('attempt took longer than 5 s'), { name: 'TimeoutError' }));
    const err = await rejection(run);
    expect(err).toMatchObject({ kind: 'timeout', retryable: true });
    expect(err.message).toContain('timed out (attempt took longer than 5 s)');
    expect(err.output).toContain('started');
  });

  it('does not start when the signal is already aborted', async () => {
    const marker = join(dir, 'marker');
    const err = await rejection(runShell({ command: `touch ${marker}` }, context(AbortSignal.abort('too late')).ctx));
    expect(err).toMatchObject({ kind: 'cancelled', retryable: false });
    expect(err.message).toMatch(/not started/);
    const timedOut = await rejection(runShell({ command: `touch ${marker}` }, context(AbortSignal.abort(new DOMException('late', 'TimeoutError'))).ctx));
    expect(timedOut.kind).toBe('timeout');
    expect(existsSync(marker)).toBe(false);
  });

  it('stops background jobs the command leaves behind when it exits', async () => {
    const { ctx } = context();
    const result = await runShell({ command: 'sleep 30 & echo "$!"' }, ctx);
    expect(isGone(Number(result.stdout.trim()))).toBe(true);
  });
});
