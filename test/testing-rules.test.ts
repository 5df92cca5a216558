import { describe, expect, it } from 'vitest';
import { ValidationError } from '../runtime/errors.js';
import { rulePaths, type RuleFacts } from '../runtime/testing.js';

const deployGate = {
  type: 'deploy_gate',
  priority: 'high' as const,
  condition: 'event == "task.completed" && task.env == "prod"',
  expiresAfterMs: 3_600_000,
};
const gateFacts: RuleFacts = { event: 'task.completed', project: { id: 'web' }, task: { id: 'deploy', env: 'prod' } };

describe('rulePaths: model-based path tests of a user rule', () => {
  it('walks every way a person-decided, expiring task rule can close, and each path holds on the real runtime', () => {
    const paths = rulePaths(deployGate, { facts: gateFacts, notFacts: [{ ...gateFacts, task: { id: 'deploy', env: 'staging' } }] });
    expect(paths.map((p) => p.name).sort()).toEqual(
      [
        'deploy_gate: triggered → awaiting → expired (wait 3600000 ms for expiry)',
        'deploy_gate: triggered → awaiting → rejected (reject)',
        'deploy_gate: triggered → awaiting → resolved (approve: cancel)',
        'deploy_gate: triggered → awaiting → resolved (approve: continue)',
        'deploy_gate: triggered → awaiting → resolved (approve: retry)',
        'deploy_gate: triggered → awaiting → resolved (approve: skip)',
      ].sort(),
    );
    for (const path of paths) path.run();
  });

  it('covers auto-resolution (with its wait read from the facts) and a person stepping in, for a project rule', () => {
    const quota = {
      type: 'quota_exhausted',
      scope: 'project' as const,
      condition: 'error.kind == "quota"',
      autoResolve: { action: 'continue' as const, afterFrom: 'error.resetInMs', afterMs: 60_000 },
    };
    const paths = rulePaths(quota, { facts: { project: { id: 'api' }, error: { kind: 'quota', resetInMs: 5_000 } } });
    const names = paths.map((p) => p.name);
    expect(names).toContain('quota_exhausted: triggered → autoResolving → resolved (wait 5000 ms for auto-resolution)');
    expect(names).toContain('quota_exhausted: triggered → autoResolving → rejected (reject)');
    // A project rule cannot skip one task: no such path is offered.
    expect(names.some((n) => n.includes('skip'))).toBe(false);
    for (const path of paths) path.run();
    // Facts that name a task, as the runtime's do, for a project rule too.
    for (const path of rulePaths(quota, { facts: { project: { id: 'api' }, task: { id: 'build' }, error: { kind: 'quota', resetInMs: 5_000 } } })) path.run();
  });

  it('fails a path, naming it, when the facts do not raise the rule', () => {
    const [path] = rulePaths(deployGate, { facts: { ...gateFacts, task: { id: 'deploy', env: 'dev' } } });
    expect(() => path!.run()).toThrow(/deploy_gate: triggered → awaiting .*raised 0 breakpoints of type deploy_gate/);
  });

  it('fails when the rule fires on facts it must not', () => {
    const [path] = rulePaths(deployGate, { facts: gateFacts, notFacts: [gateFacts] });
    expect(() => path!.run()).toThrow(/fires on facts it must not/);
  });

  it('an auto-resolving task rule whose facts give no usable wait falls back to afterMs, as the runtime does', () => {
    const slow = { type: 'slow_step', condition: 'attempt.ms > 10', autoResolve: { action: 'retry' as const, afterFrom: 'attempt.wait', afterMs: 250 } };
    const paths = rulePaths(slow, { facts: { project: { id: 'p' }, task: { id: 't' }, attempt: { ms: 20, wait: -1 } } });
    expect(paths.find((p) => p.states.at(-1) === 'resolved' && p.steps.some((s) => s.kind === 'wait'))!.steps.at(-1)).toEqual({ kind: 'wait', ms: 250, for: 'auto-resolution' });
    for (const path of paths) path.run();
  });

  it('rejects bad input, naming every problem', () => {
    expect(() => rulePaths({ type: 'Bad Type', condition: 'x >' } as never, { facts: { project: { id: 'p' } } })).toThrow(ValidationError);
    expect(() => rulePaths({ type: 'Bad Type', condition: 'x >' } as never, { facts: { project: { id: 'p' } } })).toThrow(
      /3 problems[\s\S]*rule\.type: must be snake_case[\s\S]*rule\.condition: unexpected end of input[\s\S]*options\.facts\.task\.id/,
    );
    expect(() => rulePaths({ type: 'ok_type', condition: 'x > 1' }, { facts: { project: { id: 'p' } } })).toThrow(/facts\.task\.id: a task-scoped rule pauses a task/);
  });
});
