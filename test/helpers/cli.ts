/**
 * What the command-line tests share: start `overseer` from source as a child process (as a
 * user runs the built bin), run it to its end, poll for a condition, and temporary folders —
 * all cleaned up after each test by `cleanUpClis()`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--import', 'tsx', 'runtime/cli.ts'];

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];

/** Starts `overseer <args>` from the repository root; stdout is not a terminal (plain output). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): CliRun {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs `overseer <args>` to its end. */
export async function runCli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Runs `overseer <args>` synchronously (for quick commands that never wait). */
export function runCliSync(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export { until } from './until.js';

/** A temporary folder, removed after the test. */
export function tempDir(prefix = 'overseer-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/**
 * For afterEach: a CLI still running gets Ctrl-C (so it stops its tasks' processes), then
 * SIGKILL after `graceMs`; then the temporary folders go.
 */
export async function cleanUpClis(graceMs = 4000): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await Promise.race([gone, new Promise((r) => setTimeout(r, graceMs))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
