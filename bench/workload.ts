/**
 * W1, the benchmark workload: N tasks over 10 projects, priority 1..10, 0–3
 * dependencies on earlier tasks of the same project, no-op work. Seeded, so every
 * run and every contender sees the same tasks.
 */
/** Tasks in flight at once, for every contender. */
export const CONCURRENCY = 64;

export interface W1Task {
  id: string;
  projectId: string;
  priority: number;
  dependencies: string[];
}

/** mulberry32: small, fast, good enough for workloads. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function w1(n: number, seed = 1, projects = 10): W1Task[] {
  const random = prng(seed);
  const byProject: string[][] = Array.from({ length: projects }, () => []);
  const tasks: W1Task[] = [];
  for (let i = 0; i < n; i++) {
    const p = Math.floor(random() * projects);
    const earlier = byProject[p]!;
    const want = Math.min(earlier.length, Math.floor(random() * 4));
    const dependencies = new Set<string>();
    while (dependencies.size < want) dependencies.add(earlier[Math.floor(random() * earlier.length)]!);
    const id = `t${i}`;
    tasks.push({ id, projectId: `p${p}`, priority: 1 + Math.floor(random() * 10), dependencies: [...dependencies] });
    earlier.push(id);
  }
  return tasks;
}
