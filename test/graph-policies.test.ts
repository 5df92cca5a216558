/**
 * Dependency-graph policies: `topologicalOrder` and `findCycle` (pure) and
 * `overseer.resolveDependencies`, checked as properties over random graphs with
 * fast-check, plus a 100,000-node chain to show that nothing recurses per node.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createOverseer, DependencyCycleError, findCycle, findCycles, topologicalOrder, ValidationError } from '../runtime/index.js';

interface Graph {
  /** Node ids in a random order. */
  ids: string[];
  deps: Map<string, string[]>;
}
const depsOf = (g: Graph) => (id: string) => g.deps.get(id) ?? [];

/**
 * Random DAGs: an edge may only point from a node to a lower-numbered one, so no
 * cycle can arise; the ids are then shuffled so input order reveals nothing.
 */
const dagArb = fc.integer({ min: 1, max: 30 }).chain((n) =>
  fc
    .record({
      edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 3 * n }),
      order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
    })
    .map(({ edges, order }) => {
      const sets = new Map<string, Set<string>>(order.map((i) => [`n${i}`, new Set()]));
      for (const [x, y] of edges) if (x !== y) sets.get(`n${Math.max(x, y)}`)!.add(`n${Math.min(x, y)}`);
      return toGraph(order.map((i) => `n${i}`), sets);
    }),
);

/** A DAG plus a planted cycle over k ≥ 1 of its nodes (k = 1 is a self-dependency). */
const cyclicArb = dagArb.chain((g) =>
  fc.shuffledSubarray(g.ids, { minLength: 1, maxLength: g.ids.length }).map((ring) => {
    const sets = new Map([...g.deps].map(([id, deps]) => [id, new Set(deps)]));
    ring.forEach((id, i) => sets.get(id)!.add(ring[(i + 1) % ring.length]!));
    return { graph: toGraph(g.ids, sets), ring };
  }),
);

function toGraph(ids: string[], sets: Map<string, Set<string>>): Graph {
  return { ids, deps: new Map([...sets].map(([id, s]) => [id, [...s]])) };
}

/** Every dependency (inside `order`) comes before its dependent; `order` is a permutation of `ids`. */
function expectDependencyOrder(order: string[], ids: string[], dependenciesOf: (id: string) => readonly string[]) {
  expect([...order].sort()).toEqual([...ids].sort());
  const position = new Map(order.map((id, i) => [id, i]));
  for (const id of order) {
    for (const dep of dependenciesOf(id)) {
      if (position.has(dep)) expect(position.get(dep)!, `${dep} before ${id}`).toBeLessThan(position.get(id)!);
    }
  }
}

/** A cycle is a closed path along real dependency edges: each element depends on the next. */
function expectRealCycle(cycle: readonly string[], dependenciesOf: (id: string) => readonly string[]) {
  expect(cycle.length).toBeGreaterThanOrEqual(2);
  expect(cycle[cycle.length - 1]).toBe(cycle[0]);
  expect(new Set(cycle.slice(0, -1)).size).toBe(cycle.length - 1); // simple: no node twice
  // One assertion for the whole path: cheap even for a 100,000-node cycle.
  const missingEdge = cycle.slice(0, -1).findIndex((id, i) => !dependenciesOf(id).includes(cycle[i + 1]!));
  expect(missingEdge === -1 ? null : `${cycle[missingEdge]} -> ${cycle[missingEdge + 1]}`).toBeNull();
}

function cycleOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DependencyCycleError);
    return (error as DependencyCycleError).cycle;
  }
  throw new Error('expected a DependencyCycleError');
}

describe('topologicalOrder and findCycle (pure)', () => {
  it('orders every random DAG with each dependency first, and finds no cycle in it', () => {
    fc.assert(
      fc.property(dagArb, (g) => {
        expectDependencyOrder(topologicalOrder(g.ids, depsOf(g)), g.ids, depsOf(g));
        expect(findCycle(g.ids, depsOf(g))).toBeNull();
      }),
    );
  });

  it('reports a real cycle for every graph with a planted one', () => {
    fc.assert(
      fc.property(cyclicArb, ({ graph }) => {
        expectRealCycle(cycleOf(() => topologicalOrder(graph.ids, depsOf(graph))), depsOf(graph));
        expectRealCycle(findCycle(graph.ids, depsOf(graph))!, depsOf(graph));
      }),
    );
  });

  it('findCycles reports one real cycle for each group of tasks that wait on each other, and no more', () => {
    // Any graph, cycles and self-dependencies allowed; the groups computed the slow way, by reachability.
    const anyGraph = fc.integer({ min: 1, max: 10 }).chain((n) =>
      fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 2 * n }).map((edges) => {
        const sets = new Map<string, Set<string>>(Array.from({ length: n }, (_, i) => [`n${i}`, new Set<string>()]));
        for (const [x, y] of edges) sets.get(`n${x}`)!.add(`n${y}`);
        return toGraph([...sets.keys()], sets);
      }),
    );
    fc.assert(
      fc.property(anyGraph, (g) => {
        const reach = new Map(g.ids.map((id) => [id, new Set<string>()]));
        const visit = (from: string, id: string) => {
          for (const d of depsOf(g)(id)) if (!reach.get(from)!.has(d)) (reach.get(from)!.add(d), visit(from, d));
        };
        for (const id of g.ids) visit(id, id);
        const groupOf = (id: string) => g.ids.filter((o) => o === id || (reach.get(id)!.has(o) && reach.get(o)!.has(id))).join(',');
        const cyclic = new Set(g.ids.filter((id) => reach.get(id)!.has(id)).map(groupOf));
        const cycles = findCycles(g.ids, depsOf(g));
        for (const cycle of cycles) expectRealCycle(cycle, depsOf(g));
        expect(new Set(cycles.map((c) => groupOf(c[0]!)))).toEqual(cyclic); // one per group
        expect(cycles).toHaveLength(cyclic.size);
        expect(cycles.length === 0).toBe(findCycle(g.ids, depsOf(g)) === null);
      }),
    );
  });

  it('is deterministic: the earliest-listed free task always goes next', () => {
    // Without edges the input order is kept as it is.
    expect(topologicalOrder(['c', 'a', 'b'], () => [])).toEqual(['c', 'a', 'b']);
    // 'a' waits for 'b'; once 'b' is out, 'a' (listed before 'd') goes before 'd'.
    const deps: Record<string, string[]> = { c: [], a: ['b'], b: [], d: [] };
    expect(topologicalOrder(['c', 'a', 'b', 'd'], (id) => deps[id]!)).toEqual(['c', 'b', 'a', 'd']);
  });

  it('ignores dependencies outside the given ids, so any subset can be ordered', () => {
    const deps: Record<string, string[]> = { a: ['outside'], b: ['a', 'also-outside'] };
    expect(topologicalOrder(['b', 'a'], (id) => deps[id]!)).toEqual(['a', 'b']);
    expect(findCycle(['b', 'a'], (id) => deps[id]!)).toBeNull();
  });

  it('reports a self-dependency as a cycle of one', () => {
    expect(cycleOf(() => topologicalOrder(['a'], () => ['a']))).toEqual(['a', 'a']);
  });
});

describe('the scheduler refuses cyclic batches', () => {
  it('throws DependencyCycleError with a real cycle and schedules nothing', () => {
    fc.assert(
      // A self-dependency is refused as its own problem; rings of 2+ are cycles proper.
      fc.property(cyclicArb.filter(({ ring }) => ring.length >= 2), ({ graph }) => {
        const overseer = createOverseer({ clock: new SimulatedClock() });
        const specs = graph.ids.map((id) => ({ id, dependencies: depsOf(graph)(id) as string[] }));
        expectRealCycle(cycleOf(() => overseer.scheduleTasks(specs)), depsOf(graph));
        expect(overseer.getCounts().total).toBe(0);
      }),
      { numRuns: 50 },
    );
  });
});

describe('resolveDependencies', () => {
  it('orders any subset of scheduled tasks with dependencies first', () => {
    const withSubset = dagArb.chain((g) =>
      fc.record({ g: fc.constant(g), subset: fc.shuffledSubarray(g.ids, { minLength: 0, maxLength: g.ids.length }) }),
    );
    fc.assert(
      fc.property(withSubset, ({ g, subset }) => {
        const overseer = createOverseer({ clock: new SimulatedClock() });
        overseer.scheduleTasks(g.ids.map((id) => ({ id, dependencies: depsOf(g)(id) as string[] })));
        expectDependencyOrder(overseer.resolveDependencies(subset), subset, depsOf(g));
      }),
      { numRuns: 50 },
    );
  });

  it('names every problem with the ids it is given', () => {
    const overseer = createOverseer({ clock: new SimulatedClock() });
    overseer.scheduleTask({ id: 'a' });
    let error: any;
    try {
      overseer.resolveDependencies(['a', 'ghost', 'a', '', 42 as never]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.problems).toEqual([
      'taskIds[1]: unknown task "ghost"',
      'taskIds[2]: "a" is listed twice',
      'taskIds[3]: must not be empty',
      'taskIds[4]: must be a string, got 42',
    ]);
    expect(() => overseer.resolveDependencies('a' as never)).toThrow(/taskIds: must be an array/);
  });
});

describe('a 100,000-node chain (no recursion per node)', () => {
  const N = 100_000;
  const id = (i: number) => `n${i}`;
  // n(i) depends on n(i-1); listed last-first, the worst order for the input.
  const reversed = Array.from({ length: N }, (_, k) => id(N - 1 - k));
  const chain = (x: string) => {
    const i = Number(x.slice(1));
    return i > 0 ? [id(i - 1)] : [];
  };

  it('orders it and finds no cycle', () => {
    const order = topologicalOrder(reversed, chain);
    expect(order).toHaveLength(N);
    expect(order[0]).toBe('n0');
    expect(order[N - 1]).toBe(id(N - 1));
    expect(findCycle(reversed, chain)).toBeNull();
  });

  it('reports the whole path when the chain is closed into a cycle', () => {
    const closed = (x: string) => (x === 'n0' ? [id(N - 1)] : chain(x));
    const cycle = cycleOf(() => topologicalOrder(reversed, closed));
    expect(cycle).toHaveLength(N + 1);
    expectRealCycle(cycle, closed);
  });

  it('schedules and resolves it through the overseer', () => {
    const overseer = createOverseer({ clock: new SimulatedClock() });
    overseer.scheduleTasks(reversed.map((x) => ({ id: x, dependencies: chain(x) })));
    expect(overseer.getCounts()).toMatchObject({ total: N, ready: 1, pending: N - 1 });
    const order = overseer.resolveDependencies(reversed);
    expect(order[0]).toBe('n0');
    expect(order[N - 1]).toBe(id(N - 1));
  });
});
