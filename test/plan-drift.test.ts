/**
 * `run`/`resume` keep the store's version of a task the plan changed, and name each difference:
 * planDrift, on tasks scheduled from one plan and compared with an edited copy of it.
 */
import { describe, expect, it } from 'vitest';
import { createOverseer } from '../runtime/index.js';
import { checkPlan } from '../runtime/plan.js';
import { planDrift } from '../runtime/plan-drift.js';

const BASE = {
  tasks: [
    {
      id: 'build',
      command: 'npm run build',
      priority: 7,
      retries: 2,
      retryDelay: '30s',
      timeout: '10m',
      deadline: '2030-01-01T00:00:00Z',
      onChange: ['src/**'],
      quality: { gate: { minScore: 0.8 } },
    },
    { id: 'test', command: 'npm test', dependsOn: ['build'] },
  ],
};

/** The stored tasks of BASE, and the specs of the plan after `edit`. */
function drift(edit: (plan: typeof BASE) => void, options: Parameters<typeof planDrift>[2] = {}): Record<string, string[]> {
  const o = createOverseer();
  o.scheduleTasks(checkPlan(structuredClone(BASE), 'plan.yaml', '/work').tasks);
  const edited = structuredClone(BASE);
  edit(edited);
  const out: Record<string, string[]> = {};
  for (const spec of checkPlan(edited, 'plan.yaml', '/work').tasks) out[spec.id] = planDrift(o.getTaskStatus(spec.id)!, spec, options);
  return out;
}

describe('planDrift', () => {
  it('finds nothing in the same plan, nor in one whose tasks were only reordered', () => {
    expect(drift(() => {})).toEqual({ build: [], test: [] });
    // Reordered: each task's `source` (its place in the file) changes, not what it does.
    expect(drift((p) => p.tasks.reverse())).toEqual({ build: [], test: [] });
  });

  it('names every field the plan changed, in the plan’s words', () => {
    const found = drift((p) => {
      const build = p.tasks[0]!;
      build.command = 'make';
      build.priority = 9;
      build.retries = 5;
      build.retryDelay = '2m';
      build.timeout = '1h';
      build.deadline = '2031-01-01T00:00:00Z';
      build.onChange = ['lib/**'];
      build.quality = { gate: { minScore: 0.5 } };
      Object.assign(build, { title: 'Build it', onDependencyFailure: 'ignore' });
      p.tasks[1]!.dependsOn = [];
    });
    expect(found.build!.sort()).toEqual(
      ['command', 'priority', 'retries', 'retryDelay', 'timeout', 'deadline', 'onChange', 'quality', 'title', 'onDependencyFailure'].sort(),
    );
    expect(found.test).toEqual(['dependsOn']);
  });

  it('the same deadline written another way is the same deadline', () => {
    expect(drift((p) => void (p.tasks[0]!.deadline = '2030-01-01T01:00:00+01:00')).build).toEqual([]);
  });

  it('a field added or removed counts as changed', () => {
    expect(drift((p) => void delete (p.tasks[0] as { onChange?: string[] }).onChange).build).toEqual(['onChange']);
    expect(drift((p) => Object.assign(p.tasks[1]!, { milestone: true })).test).toEqual(['milestone']);
  });

  it('names what changed in how a task runs, field by field; an empty env is none, and the order of onChange globs does not count', () => {
    expect(drift((p) => Object.assign(p.tasks[0]!, { cwd: 'sub', env: { CI: '1' } })).build!.sort()).toEqual(['cwd', 'env']);
    expect(drift((p) => Object.assign(p.tasks[0]!, { prompt: 'build it', agent: { command: 'claude' } })).build).toEqual(['executor']);
    expect(drift((p) => Object.assign(p.tasks[1]!, { env: {} })).test).toEqual([]);
    expect(drift((p) => void (p.tasks[0]!.onChange = ['src/**', 'src/**'])).build).toEqual([]);
    expect(drift((p) => void (p.tasks[0]!.onChange = ['lib/**', 'src/**'])).build).toEqual(['onChange']);
  });

  it('a working directory is compared as a folder when the caller says how (the CLI resolves symbolic links)', () => {
    const moved = (p: typeof BASE) => Object.assign(p.tasks[0]!, { cwd: 'link' });
    expect(drift(moved).build).toEqual(['cwd']);
    expect(drift(moved, { samePath: (a, b) => a.replace('/link', '') === b.replace('/link', '') }).build).toEqual([]);
  });
});
