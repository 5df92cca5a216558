/**
 * `npm run bench`: W1 at 10,000 and 100,000 tasks for each contender, every run in a
 * fresh process, medians of RUNS runs. Prints a markdown table and writes it to
 * docs/benchmarks.md with the machine, Node version and date.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { W1Result } from './w1-child.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '10000,100000').split(',').map(Number);
const CONTENDERS = ['plain', 'overseer', 'overseer+memoryStore', 'overseer+jsonFileStore'];
const child = fileURLToPath(new URL('./w1-child.js', import.meta.url));

function once(contender: string, n: number, env: Record<string, string> = {}): W1Result & { store?: string } {
  const out = execFileSync(process.execPath, ['--expose-gc', child, contender, String(n)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 * 2 ** 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as W1Result & { store?: string };
}

function restoreOnce(path: string): { restoreMs: number; tasks: number } {
  const out = execFileSync(process.execPath, ['--expose-gc', child, 'restore', path], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { restoreMs: number; tasks: number };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const rows: string[] = [];
type Row = { tps: number; heap: number; rss: number; ms: number; flushMs?: number; closeMs?: number; snapshotBytes?: number };
const results: Record<string, Record<number, Row>> = {};
for (const n of SIZES) {
  for (const contender of CONTENDERS) {
    const runs = Array.from({ length: RUNS }, () => once(contender, n));
    (results[contender] ??= {})[n] = {
      tps: median(runs.map((r) => r.tasksPerSecond)),
      heap: median(runs.map((r) => r.heapBytesPerTask)),
      rss: median(runs.map((r) => r.peakRssMB)),
      ms: median(runs.map((r) => r.ms)),
      ...(runs[0]!.flushMs !== undefined ? { flushMs: median(runs.map((r) => r.flushMs!)) } : {}),
      ...(runs[0]!.closeMs !== undefined ? { closeMs: median(runs.map((r) => r.closeMs!)) } : {}),
      ...(runs[0]!.snapshotBytes !== undefined ? { snapshotBytes: runs[0]!.snapshotBytes } : {}),
    };
    process.stderr.write(`W1 n=${n} ${contender}: ${JSON.stringify(results[contender]![n])}\n`);
  }
}
for (const n of SIZES) {
  const plain = results.plain![n]!;
  for (const contender of CONTENDERS) {
    const r = results[contender]![n]!;
    rows.push(
      `| W1 | ${n.toLocaleString('en-US')} | ${contender} | ${r.ms.toLocaleString('en-US')} | ${r.tps.toLocaleString('en-US')} | ${(r.tps / plain.tps).toFixed(3)} | ${r.heap.toLocaleString('en-US')} | ${r.rss} |`,
    );
  }
}

// Persistence: a W1 store written once per size, then restored in fresh processes.
const persistence: string[] = [];
for (const n of SIZES) {
  const written = once('overseer+jsonFileStore', n, { KEEP_STORE: '1' });
  const restores = Array.from({ length: RUNS }, () => restoreOnce(written.store!));
  rmSync(dirname(written.store!), { recursive: true, force: true });
  const file = results['overseer+jsonFileStore']![n]!;
  const mem = results['overseer+memoryStore']![n]!;
  persistence.push(
    `| ${n.toLocaleString('en-US')} | ${(file.ms / mem.ms).toFixed(2)}× | ${file.flushMs} | ${file.closeMs?.toLocaleString('en-US')} | ${(file.snapshotBytes! / 2 ** 20).toFixed(1)} MB (${Math.round(file.snapshotBytes! / n)} B/task) | ${median(restores.map((r) => r.restoreMs)).toLocaleString('en-US')} |`,
  );
  process.stderr.write(`restore n=${n}: ${JSON.stringify(restores)}\n`);
}

const header = [
  '# Benchmarks',
  '',
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`,
  `Each figure is the median of ${RUNS} runs, each run in a fresh process (\`npm run bench\`).`,
  '',
  'W1: N tasks over 10 projects, priority 1..10, 0–3 dependencies on earlier tasks of the same project, no-op work,',
  'concurrency 64 (the oldest in-flight task completes next). Overseer runs every transition (ready, running, completed)',
  'through the XState task machine and emits a `task.transition` event for each; `plain` is a bare heap',
  'scheduler with dependency counting and nothing else: the limit. Heap bytes per task = retained heap after the run ÷ N.',
  '',
  '| workload | tasks | contender | ms | tasks/s | ratio to plain | heap bytes/task | peak RSS MB |',
  '|---|---:|---|---:|---:|---:|---:|---:|',
];
const persistenceHeader = [
  '',
  '## Persistence (jsonFileStore)',
  '',
  'File store vs memory store: W1 wall time ratio (both include the journal; the file store also writes and fsyncs it).',
  'Flush: time for the final `flush()` after the run (everything durable). Close: final compaction into the snapshot.',
  'Restore: `createOverseer({ store })` on the closed store in a fresh process (read, parse, rebuild indexes, re-arm timers).',
  '',
  '| tasks | file ÷ memory store | flush ms | close (compaction) ms | snapshot size | restore ms |',
  '|---:|---:|---:|---:|---:|---:|',
];
const table = [...header, ...rows, ...persistenceHeader, ...persistence, ''].join('\n');
console.log(table);
writeFileSync(new URL('../../docs/benchmarks.md', import.meta.url), table);
