/**
 * Pictures of the machines and of plans, built from the definitions themselves
 * (`toDirectedGraph` from xstate/graph), so they cannot drift from the code.
 *
 *   machineGraph(taskMachine, 'mermaid')   stateDiagram-v2 text
 *   machineGraph(taskMachine, 'dot')       Graphviz
 *   machineGraph(taskMachine, 'json')      { id, states, initial, final, edges }
 *   planGraph(tasks, 'mermaid' | 'dot')    tasks, dependencies, states
 */
import type { AnyStateMachine } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';

export type GraphFormat = 'mermaid' | 'dot' | 'json';

export interface MachineGraph {
  id: string;
  initial: string;
  states: string[];
  final: string[];
  /** `event` is the event type; `guard` the named guard, if any. */
  edges: { from: string; to: string; event: string; guard?: string }[];
}

/** The machine's states and transitions (targetless transitions are not edges). */
export function describeMachine(machine: AnyStateMachine): MachineGraph {
  const root = toDirectedGraph(machine);
  const graph: MachineGraph = { id: machine.id, initial: String(machine.root.initial?.target[0]?.key ?? ''), states: [], final: [], edges: [] };
  const walk = (node: DirectedGraphNode) => {
    for (const child of node.children) {
      graph.states.push(child.stateNode.key);
      if (child.stateNode.type === 'final') graph.final.push(child.stateNode.key);
      walk(child);
    }
    for (const edge of node.edges) {
      const guard = (edge.transition as { guard?: { type?: string } | string }).guard;
      const e: MachineGraph['edges'][number] = { from: edge.source.key, to: edge.target.key, event: prettyEvent(edge.label.text) };
      if (guard) e.guard = typeof guard === 'string' ? guard : (guard.type ?? 'guard');
      if (e.from !== e.to) graph.edges.push(e);
    }
  };
  walk(root);
  return graph;
}

/** `xstate.after.backoff.task.retrying` → `after backoff`. */
function prettyEvent(text: string): string {
  const after = /^xstate\.after\.([^.]+)\./.exec(text);
  return after ? `after ${after[1]}` : text;
}

const id = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function machineGraph(machine: AnyStateMachine, format: GraphFormat): string {
  const g = describeMachine(machine);
  if (format === 'json') return JSON.stringify(g, null, 2);
  if (format === 'mermaid') {
    const lines = ['stateDiagram-v2', `  [*] --> ${id(g.initial)}`];
    for (const e of g.edges) lines.push(`  ${id(e.from)} --> ${id(e.to)} : ${e.event}${e.guard ? ` [${e.guard}]` : ''}`);
    for (const f of g.final) lines.push(`  ${id(f)} --> [*]`);
    return lines.join('\n');
  }
  const lines = [`digraph ${quote(g.id)} {`, '  rankdir=LR;', '  node [shape=box, style=rounded];', '  __start [shape=point];', `  __start -> ${quote(g.initial)};`];
  for (const f of g.final) lines.push(`  ${quote(f)} [shape=doublecircle];`);
  for (const e of g.edges) lines.push(`  ${quote(e.from)} -> ${quote(e.to)} [label=${quote(e.event + (e.guard ? ` [${e.guard}]` : ''))}];`);
  lines.push('}');
  return lines.join('\n');
}

export interface PlanNode {
  id: string;
  title: string;
  projectId: string;
  dependencies: readonly string[];
  /** A state, when the graph shows a run. */
  state?: string;
}

/** One colour per task state, shared by the exported pictures and the inspector page. */
export const STATE_COLOURS: Record<string, string> = {
  pending: '#e5e7eb',
  ready: '#bfdbfe',
  running: '#fde68a',
  blocked: '#fca5a5',
  completed: '#bbf7d0',
  failed: '#f87171',
  cancelled: '#d1d5db',
  retrying: '#fdba74',
};

/** Tasks and their dependencies (an arrow from a dependency to its dependent), grouped by project. */
export function planGraph(tasks: readonly PlanNode[], format: Exclude<GraphFormat, 'json'>): string {
  const projects = [...new Set(tasks.map((t) => t.projectId))];
  const label = (t: PlanNode) => `${t.title}${t.state ? ` (${t.state})` : ''}`;
  if (format === 'mermaid') {
    const lines = ['flowchart LR'];
    for (const p of projects) {
      lines.push(`  subgraph ${id(`project_${p}`)}[${quote(p)}]`);
      for (const t of tasks.filter((x) => x.projectId === p)) lines.push(`    ${id(t.id)}[${quote(label(t))}]${t.state ? `:::${t.state}` : ''}`);
      lines.push('  end');
    }
    for (const t of tasks) for (const d of t.dependencies) lines.push(`  ${id(d)} --> ${id(t.id)}`);
    for (const [state, colour] of Object.entries(STATE_COLOURS)) lines.push(`  classDef ${state} fill:${colour}`);
    return lines.join('\n');
  }
  const lines = ['digraph plan {', '  rankdir=LR;', '  node [shape=box, style="rounded,filled", fillcolor="#ffffff"];'];
  projects.forEach((p, i) => {
    lines.push(`  subgraph cluster_${i} {`, `    label=${quote(p)};`);
    for (const t of tasks.filter((x) => x.projectId === p)) {
      lines.push(`    ${quote(t.id)} [label=${quote(label(t))}${t.state ? `, fillcolor=${quote(STATE_COLOURS[t.state] ?? '#ffffff')}` : ''}];`);
    }
    lines.push('  }');
  });
  for (const t of tasks) for (const d of t.dependencies) lines.push(`  ${quote(d)} -> ${quote(t.id)};`);
  lines.push('}');
  return lines.join('\n');
}
