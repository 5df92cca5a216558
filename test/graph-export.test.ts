/** Pictures come from the machine definitions: they must say exactly what the machines do. */
import { describe, expect, it } from 'vitest';
import { breakpointMachine } from '../machines/breakpoint.js';
import { LEGAL_TRANSITIONS, TASK_STATES, taskMachine } from '../machines/task.js';
import { describeMachine, machineGraph, planGraph } from '../runtime/graph-export.js';

describe('machine graphs', () => {
  it('the task graph has exactly the lifecycle’s legal transitions', () => {
    const g = describeMachine(taskMachine);
    expect(g.initial).toBe('pending');
    expect([...g.states].sort()).toEqual([...TASK_STATES].sort());
    expect([...g.final].sort()).toEqual(['cancelled', 'completed']);
    const fromGraph = new Set(g.edges.map((e) => `${e.from}->${e.to}`));
    const fromTable = new Set(TASK_STATES.flatMap((s) => LEGAL_TRANSITIONS[s].map((t) => `${s}->${t}`)));
    expect(fromGraph).toEqual(fromTable);
  });

  it('renders Mermaid and DOT with every edge, and JSON that parses', () => {
    const g = describeMachine(breakpointMachine);
    const mermaid = machineGraph(breakpointMachine, 'mermaid');
    const dot = machineGraph(breakpointMachine, 'dot');
    expect(mermaid.split('\n')[0]).toBe('stateDiagram-v2');
    expect(mermaid).toContain('[*] --> triggered');
    for (const e of g.edges) {
      expect(mermaid).toContain(`${e.from} --> ${e.to} : ${e.event}`);
      expect(dot).toContain(`"${e.from}" -> "${e.to}" [label="${e.event}"]`);
    }
    for (const f of g.final) expect(dot).toContain(`"${f}" [shape=doublecircle]`);
    expect(JSON.parse(machineGraph(breakpointMachine, 'json'))).toEqual(g);
  });
});

describe('plan graphs', () => {
  const tasks = [
    { id: 'build', title: 'Build "app"', projectId: 'web', dependencies: [], state: 'completed' },
    { id: 'test', title: 'Test', projectId: 'web', dependencies: ['build'], state: 'running' },
    { id: 'docs', title: 'Docs', projectId: 'site', dependencies: ['build'] },
  ];

  it('draws each task in its project, each dependency as an arrow, states as colours', () => {
    const mermaid = planGraph(tasks, 'mermaid');
    expect(mermaid).toContain('build --> test');
    expect(mermaid).toContain('build --> docs');
    expect(mermaid).toContain('test["Test (running)"]:::running');
    expect(mermaid).toMatch(/subgraph project_site/);
    const dot = planGraph(tasks, 'dot');
    expect(dot).toContain('"build" -> "test";');
    expect(dot).toContain('label="Build \\"app\\" (completed)"'); // quotes escaped
    expect(dot.match(/subgraph cluster_/g)).toHaveLength(2);
  });
});
