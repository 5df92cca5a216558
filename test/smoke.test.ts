import { describe, expect, it } from 'vitest';
import { getInitialSnapshot } from 'xstate';
import { taskMachine, type TaskInput } from '../machines/task.js';
import { TaskHost } from '../runtime/task-host.js';

const input: TaskInput = {
  id: 'a', projectId: 'p', title: 'A', priority: 5, dependencies: ['x'], deadline: null,
  onDependencyFailure: 'block', maxRetries: 3, retryBaseMs: 1000, metadata: { k: 1 }, at: 42,
};

describe('TaskHost', () => {
  it('creates exactly the snapshot the machine itself starts with', () => {
    const viaMachine = getInitialSnapshot(taskMachine, input);
    const viaHost = new TaskHost().create(input);
    expect(viaHost.value).toBe(viaMachine.value);
    expect(viaHost.context).toEqual(viaMachine.context);
  });
});
