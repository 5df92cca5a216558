/**
 * Drawings for the inspector: the plan's dependency graph and the three statecharts, as SVG.
 *
 * Why Graphviz (@viz-js/viz, Graphviz compiled to WebAssembly, no dependencies) on the
 * server: graph-export.ts already writes DOT for plans and machines from the definitions
 * themselves, so the pictures cannot drift from the code; Graphviz's layered layout is the
 * well-kept answer to drawing DAGs, which a hand-written layout would only approximate; it
 * runs offline (nothing from a CDN — the page must work without a network); and it escapes
 * every label in its SVG output. Layout does not depend on task states, so a plan is drawn
 * once per shape and the page colours nodes by class (each node's <title> is its id).
 * The page still parses the SVG and keeps only known drawing elements (see page-script.ts).
 *
 * Plans beyond GRAPH_LIMIT tasks are not drawn (a Graphviz layout of thousands of nodes takes
 * seconds and helps nobody read it): the page shows counts and the table instead.
 */
import { instance } from '@viz-js/viz';
import type { AnyStateMachine } from 'xstate';
import { breakpointMachine } from '../../machines/breakpoint.js';
import { supervisorMachine } from '../../machines/supervisor.js';
import { taskMachine } from '../../machines/task.js';
import { machineGraph, planGraph, type PlanNode } from '../graph-export.js';

export const GRAPH_LIMIT = 300;

type Viz = Awaited<ReturnType<typeof instance>>;
let viz: Promise<Viz> | null = null;

async function render(dot: string): Promise<string> {
  viz ??= instance();
  const result = (await viz).render(dot, { format: 'svg' });
  if (result.status !== 'success') throw new Error(`graphviz could not draw the graph: ${result.errors.map((e) => e.message).join('; ')}`);
  return result.output;
}

export interface PlanDrawing {
  svg: string | null;
  /** Why there is no drawing. */
  reason?: string;
}

export async function drawPlan(tasks: readonly PlanNode[]): Promise<PlanDrawing> {
  if (tasks.length === 0) return { svg: null, reason: 'no tasks yet' };
  if (tasks.length > GRAPH_LIMIT) return { svg: null, reason: `${tasks.length} tasks: the graph is drawn up to ${GRAPH_LIMIT}; see the counts and the table` };
  // Dependencies outside the model (not seen yet) would become bare nodes: leave them out.
  const known = new Set(tasks.map((t) => t.id));
  const nodes = tasks.map((t) => ({ id: t.id, title: t.title, projectId: t.projectId, dependencies: t.dependencies.filter((d) => known.has(d)) }));
  return { svg: await render(planGraph(nodes, 'dot')) };
}

const MACHINES: Record<string, AnyStateMachine> = { task: taskMachine, breakpoint: breakpointMachine, supervisor: supervisorMachine };
let machines: Promise<Record<string, string>> | null = null;

/** The three statecharts as SVG (drawn once per process: they only change with the code). */
export function drawMachines(): Promise<Record<string, string>> {
  machines ??= (async () => {
    const out: Record<string, string> = {};
    for (const [name, machine] of Object.entries(MACHINES)) out[name] = await render(machineGraph(machine, 'dot'));
    return out;
  })();
  return machines;
}
