/**
 * Pure dependency-graph policies: topological order (Kahn) and cycle finding.
 * A graph is given as node ids plus a function from an id to the ids it depends on;
 * dependencies outside the node set are ignored, so callers can order any subset.
 */
import { DependencyCycleError } from './errors.js';

export type DependenciesOf = (id: string) => readonly string[];

/**
 * Kahn's algorithm. Among nodes that are free at the same time, input order wins,
 * so the result is deterministic. Throws `DependencyCycleError` with one cycle's path.
 */
export function topologicalOrder(ids: readonly string[], dependenciesOf: DependenciesOf): string[] {
  const index = new Map<string, number>();
  ids.forEach((id, i) => index.set(id, i));
  const waitingOn = new Int32Array(ids.length);
  const dependents: number[][] = ids.map(() => []);
  ids.forEach((id, i) => {
    for (const dep of dependenciesOf(id)) {
      const d = index.get(dep);
      if (d === undefined || d === i) {
        if (d === i) waitingOn[i]! += 1; // a self-dependency is a cycle of one
        continue;
      }
      waitingOn[i]! += 1;
      dependents[d]!.push(i);
    }
  });
  // A min-heap of indices keeps "input order among the free ones" in O(log n).
  const free = new MinIntHeap();
  for (let i = 0; i < ids.length; i++) if (waitingOn[i] === 0) free.push(i);
  const order: string[] = [];
  while (free.size > 0) {
    const i = free.pop();
    order.push(ids[i]!);
    for (const j of dependents[i]!) if (--waitingOn[j]! === 0) free.push(j);
  }
  if (order.length < ids.length) {
    const rest = ids.filter((_, i) => waitingOn[i]! > 0);
    throw new DependencyCycleError(findCycle(rest, dependenciesOf) ?? rest);
  }
  return order;
}

/**
 * One dependency cycle among `ids`, as a path that starts and ends with the same id
 * (`a -> b -> a` means a depends on b, which depends on a), or null. Iterative DFS,
 * so deep chains do not overflow the stack.
 */
export function findCycle(ids: readonly string[], dependenciesOf: DependenciesOf): string[] | null {
  const inSet = new Set(ids);
  const color = new Map<string, 1 | 2>(); // 1 = on the current path, 2 = done
  for (const start of ids) {
    if (color.has(start)) continue;
    const path: string[] = [start];
    const cursors: number[] = [0];
    color.set(start, 1);
    while (path.length > 0) {
      const node = path[path.length - 1]!;
      const deps = dependenciesOf(node);
      const cursor = cursors[cursors.length - 1]!;
      if (cursor >= deps.length) {
        color.set(node, 2);
        path.pop();
        cursors.pop();
        continue;
      }
      cursors[cursors.length - 1] = cursor + 1;
      const dep = deps[cursor]!;
      if (!inSet.has(dep)) continue;
      const c = color.get(dep);
      if (c === 1) return [...path.slice(path.indexOf(dep)), dep];
      if (c === undefined) {
        color.set(dep, 1);
        path.push(dep);
        cursors.push(0);
      }
    }
  }
  return null;
}

class MinIntHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(value: number): void {
    const a = this.items;
    let i = a.length;
    a.push(value);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= value) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = value;
  }
  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
