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

import { prng } from '../runtime/random.js';

export { prng };

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
