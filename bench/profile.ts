/**
 * Where the time goes: runs one benchmark child under `node --cpu-prof` and sums the
 * samples' self time by function and by part (xstate, runtime, store, GC, ...).
 * Usage: node dist/bench/profile.js <w1-child.js|micro.js> [its arguments...]
 *   e.g. node dist/bench/profile.js w1-child.js overseer+jsonFileStore 100000
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  parts: { part: string; ms: number }[];
  functions: { name: string; where: string; part: string; ms: number }[];
}

function partOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)' || name === '(program)') return name.slice(1, -1);
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url) ?? /dist\/([^/]+)\//.exec(url);
  if (m) return m[1]!;
  return url.startsWith('node:') ? 'node internals' : 'other';
}

const sourceMaps = new Map<string, SourceMap | null>();

/** This project's code as its TypeScript source line (through dist/'s source maps), a package's as `xstate/dist/….js:line`. */
function where(url: string, line: number, column: number): string {
  const at = url.lastIndexOf('/node_modules/');
  if (at >= 0) return `${url.slice(at + '/node_modules/'.length)}:${line + 1}`;
  if (!url.startsWith('file:')) return `${url}:${line + 1}`;
  const file = fileURLToPath(url);
  if (!sourceMaps.has(file)) sourceMaps.set(file, existsSync(`${file}.map`) ? new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))) : null);
  const entry = sourceMaps.get(file)?.findEntry(line, column) as { originalSource?: string; originalLine?: number } | undefined;
  if (entry?.originalSource === undefined) return `${file.replace(/^.*?\/dist\//, 'dist/')}:${line + 1}`;
  return `${entry.originalSource.replace(/^(\.\.\/)+/, '')}:${entry.originalLine! + 1}`;
}

export function summarize(profile: CpuProfile, top = 15): ProfileSummary {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const fns = new Map<string, { name: string; where: string; part: string; ms: number }>();
  const parts = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frame = byNode.get(id)!;
    const part = partOf(frame.url, frame.functionName);
    const at = frame.url ? where(frame.url, frame.lineNumber, frame.columnNumber) : '';
    const key = `${frame.functionName}@${at}`;
    const f = fns.get(key) ?? { name: frame.functionName || '(anonymous)', where: at, part, ms: 0 };
    f.ms += ms;
    fns.set(key, f);
    parts.set(part, (parts.get(part) ?? 0) + ms);
    total += ms;
  });
  const sorted = <T extends { ms: number }>(xs: Iterable<T>) => [...xs].sort((a, b) => b.ms - a.ms);
  return {
    totalMs: total,
    parts: sorted([...parts].map(([part, ms]) => ({ part, ms }))),
    functions: sorted(fns.values()).slice(0, top),
  };
}

export function profileChild(script: string, args: string[]): ProfileSummary {
  const dir = mkdtempSync(join(tmpdir(), 'overseer-prof-'));
  try {
    const child = fileURLToPath(new URL(`./${script}`, import.meta.url));
    execFileSync(process.execPath, ['--expose-gc', '--cpu-prof', `--cpu-prof-dir=${dir}`, child, ...args], { stdio: 'ignore' });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
    return summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('profile.js')) {
  const [script = 'w1-child.js', ...args] = process.argv.slice(2);
  const s = profileChild(script, args.length ? args : ['overseer+jsonFileStore', '100000']);
  console.log(`total ${Math.round(s.totalMs)} ms`);
  for (const p of s.parts) console.log(`${p.part.padEnd(24)} ${Math.round(p.ms).toString().padStart(6)} ms ${((100 * p.ms) / s.totalMs).toFixed(1)}%`);
  for (const f of s.functions) console.log(`${Math.round(f.ms).toString().padStart(6)} ms  ${f.name}  ${f.where}`);
}
