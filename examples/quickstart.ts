/**
 * The embedded API in one file: schedule a small build pipeline with dependencies,
 * run each step as a real child process, and let Overseer order, retry and report.
 *
 *   npm run build && node dist/examples/quickstart.js
 *
 * One step is flaky on purpose: it fails on its first attempt and passes on retry.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createOverseer, type TaskView } from '../runtime/index.js';

const run = promisify(execFile);
const workdir = mkdtempSync(join(tmpdir(), 'overseer-quickstart-'));

/** Each step is a small Node program; `flaky` fails until its marker file exists. */
const steps: Record<string, string> = {
  install: `require('fs').writeFileSync('deps.txt', 'left-pad@1')`,
  generate: `require('fs').writeFileSync('schema.json', JSON.stringify({ version: 1 }))`,
  compile: `const fs = require('fs'); fs.writeFileSync('app.js', 'module.exports = () => ' + JSON.parse(fs.readFileSync('schema.json')).version)`,
  test: `const fs = require('fs'); if (!fs.existsSync('.tried')) { fs.writeFileSync('.tried', ''); console.error('flaky: port in use'); process.exit(1); } if (require(process.cwd() + '/app.js')() !== 1) process.exit(2)`,
  package: `require('fs').writeFileSync('app.tgz', 'packed')`,
};

// Retries wait 100 ms × 2^n here so the demo is quick; the default base is 60 s.
const overseer = createOverseer({ retry: { baseDelayMs: 100 } });
overseer.on('task.transition', (e) => {
  console.log(`${new Date(e.at).toISOString().slice(11, 23)}  ${e.taskId.padEnd(9)} ${String(e.from ?? '-').padEnd(9)} → ${e.to}${e.reason ? `  (${e.reason})` : ''}`);
});

overseer.scheduleTasks([
  { id: 'install', title: 'Install dependencies', priority: 8 },
  { id: 'generate', title: 'Generate schema', priority: 6 },
  { id: 'compile', title: 'Compile', dependencies: ['install', 'generate'] },
  { id: 'test', title: 'Run tests (flaky)', dependencies: ['compile'], maxRetries: 2 },
  { id: 'package', title: 'Package', dependencies: ['test'], priority: 3 },
]);

async function execute(task: TaskView): Promise<void> {
  try {
    const { stdout } = await run(process.execPath, ['-e', steps[task.id]!], { cwd: workdir, timeout: 30_000 });
    overseer.markComplete(task.id, { stdout: stdout.trim() });
  } catch (error) {
    const message = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    overseer.markFailed(task.id, message);
  }
}

/** A small runner loop: start what is ready (up to 2 at once), wait, repeat. */
const running = new Set<Promise<void>>();
for (;;) {
  while (running.size < 2) {
    const task = overseer.getNextTask();
    if (!task) break;
    const p: Promise<void> = execute(task).finally(() => running.delete(p));
    running.add(p);
  }
  const counts = overseer.getCounts();
  if (running.size === 0 && counts.retrying === 0) break;
  // Wait for a step to finish, or for the next retry to come due.
  await Promise.race([...running, new Promise((r) => setTimeout(r, 50))]);
}

const counts = overseer.getCounts();
console.log(`\n${counts.completed}/${counts.total} completed, ${counts.failed} failed, ${counts.blocked} blocked`);
console.log(`test took ${overseer.getTaskStatus('test')!.attempts} attempts`);
overseer.close();
rmSync(workdir, { recursive: true, force: true });
process.exitCode = counts.completed === counts.total ? 0 : 1;
