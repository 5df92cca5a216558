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

/**
 * Every independent dependency cycle among `ids`: one per strongly connected component that
 * has one (Tarjan's algorithm, iterative), as `findCycle` writes it, in the order of `ids`.
 * A plan with two separate cycles is told both at once, not the second after the first is fixed.
 */
export function findCycles(ids: readonly string[], dependenciesOf: DependenciesOf): string[][] {
  const inSet = new Set(ids);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of ids) {
    if (index.has(root)) continue;
    const path: string[] = [root];
    const cursors: number[] = [0];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (path.length > 0) {
      const node = path[path.length - 1]!;
      const deps = dependenciesOf(node);
      const cursor = cursors[cursors.length - 1]!;
      if (cursor < deps.length) {
        cursors[cursors.length - 1] = cursor + 1;
        const dep = deps[cursor]!;
        if (!inSet.has(dep)) continue;
        if (!index.has(dep)) {
          index.set(dep, next);
          low.set(dep, next++);
          stack.push(dep);
          onStack.add(dep);
          path.push(dep);
          cursors.push(0);
        } else if (onStack.has(dep)) low.set(node, Math.min(low.get(node)!, index.get(dep)!));
        continue;
      }
      path.pop();
      cursors.pop();
      const parent = path[path.length - 1];
      if (parent !== undefined) low.set(parent, Math.min(low.get(parent)!, low.get(node)!));
      if (low.get(node) === index.get(node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        if (component.length > 1 || dependenciesOf(node).includes(node)) components.push(component);
      }
    }
  }
  const position = new Map(ids.map((id, i) => [id, i]));
  return components
    .map((component) => {
      const members = new Set(component);
      const ordered = component.sort((a, b) => position.get(a)! - position.get(b)!);
      return findCycle(ordered, (id) => dependenciesOf(id).filter((d) => members.has(d)))!;
    })
    .sort((a, b) => position.get(a[0]!)! - position.get(b[0]!)!);
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
