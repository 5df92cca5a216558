import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { agentExecutor, DEPENDENCY_RESULT_CHARS, renderPrompt, type AgentResult } from '../actors/agent.js';
import type { AgentSpec } from '../actors/types.js';
import type { JsonValue } from '../runtime/json.js';
import type { TaskView } from '../runtime/view.js';
import { isGone, recordingContext, rejection } from './helpers/processes.js';

const FAKE_AGENT = fileURLToPath(new URL('./fixtures/fake-agent.mjs', import.meta.url));

function task(fields: { id?: string; title?: string; dependencies?: string[]; metadata?: JsonValue } = {}): TaskView {
  return { id: 't1', title: 'Build it', dependencies: [], metadata: null, ...fields } as unknown as TaskView;
}

const context = recordingContext;


function fakeAgent(prompt: string, extra: Partial<AgentSpec> = {}) {
  return agentExecutor({ prompt, command: process.execPath, args: [FAKE_AGENT], ...extra });
}

describe('renderPrompt', () => {
  it('fills every placeholder from the task and the attempt', () => {
    const template = 'Task {{id}}: {{ title }} (attempt {{attempt}}, team {{metadata.team}}, size {{metadata.spec.size}}, missing "{{metadata.nope}}")\n'
      + 'Inputs:\n{{dependencies}}\nFeedback:\n{{feedback}}';
    const text = renderPrompt(template, task({ dependencies: ['a', 'b'], metadata: { team: 'core', spec: { size: 3 } } }), {
      attempt: 3,
      dependencyResults: { a: { exitCode: 0, files: ['x.ts'] }, b: null },
      feedback: ['tests failed', 'lint failed:\nline 2'],
    });
    expect(text).toBe('Task t1: Build it (attempt 3, team core, size 3, missing "")\n'
      + 'Inputs:\n- a: {"exitCode":0,"files":["x.ts"]}\n- b: (no result)\n'
      + 'Feedback:\n1. tests failed\n2. lint failed:\n   line 2');
  });

  it('keeps the end of a large dependency result, so a prompt stays a size an agent can be started with', () => {
    const response = `${'x'.repeat(3_000_000)}CONCLUSION`;
    const text = renderPrompt('{{dependencies}}', task({ dependencies: ['big'] }), { attempt: 1, dependencyResults: { big: { response } }, feedback: [] });
    expect(text.length).toBeLessThan(DEPENDENCY_RESULT_CHARS + 100);
    expect(text).toMatch(/^- big: …\(\d+ earlier characters left out\) x+CONCLUSION"\}$/);
  });

  it('renders no feedback as an empty string and appends feedback the template does not ask for', () => {
    expect(renderPrompt('Do {{title}}.{{feedback}}', task(), { attempt: 1, dependencyResults: {}, feedback: [] })).toBe('Do Build it.');
    expect(renderPrompt('Do {{title}}.', task(), { attempt: 1, dependencyResults: {}, feedback: [] })).toBe('Do Build it.');
    expect(renderPrompt('Do {{title}}.', task(), { attempt: 2, dependencyResults: {}, feedback: ['it broke'] }))
      .toBe('Do Build it.\n\nFeedback from earlier attempts:\n1. it broke\n');
  });

  it('leaves unknown placeholders as written and never evaluates anything', () => {
    const template = '{{constructor}} {{__proto__}} ${process.exit()} {{toString}} {{metadata.constructor}}|{{metadata.__proto__}}|{{metadata.toString}} {{unknown}}';
    const text = renderPrompt(template, task({ metadata: { a: 1 } }), { attempt: 1, dependencyResults: {}, feedback: [] });
    expect(text).toBe('{{constructor}} {{__proto__}} ${process.exit()} {{toString}} || {{unknown}}');
  });

  it('inserts values literally in one pass: no re-expansion, no $& patterns', () => {
    const text = renderPrompt('{{title}} / {{feedback}}', task({ title: 'uses {{feedback}} and $& and $1' }), {
      attempt: 1, dependencyResults: {}, feedback: ['price is $5 {{id}}'],
    });
    expect(text).toBe('uses {{feedback}} and $& and $1 / 1. price is $5 {{id}}');
  });
});

describe('agent executor', () => {
  it('sends the prompt on stdin by default and resolves with the trimmed response', async () => {
    const result = await fakeAgent('Work on {{id}}: {{title}}')(task(), context().ctx) as AgentResult;
    expect(result).toMatchObject({ response: 'fake-agent via stdin\nWork on t1: Build it', stderr: '', exitCode: 0 });
  });

  it('can pass the prompt as the last argument', async () => {
    const run = fakeAgent('Work on {{id}}', { args: [FAKE_AGENT, '--prompt-arg'], promptVia: 'argument' });
    const result = await run(task({ id: 'arg-task' }), context().ctx) as AgentResult;
    expect(result.response).toBe('fake-agent via argument\nWork on arg-task');
  });

  it('fails without feedback and succeeds once the retry carries the earlier error', async () => {
    const run = fakeAgent('FAIL_FIRST {{id}}');
    const first = await rejection(run(task(), context().ctx));
    expect(first).toMatchObject({ kind: 'exit', retryable: true, exitCode: 1 });
    expect(first.message).toContain('needs feedback');
    const second = await run(task(), context({ attempt: 2, feedback: [first.message] }).ctx) as AgentResult;
    expect(second.response).toContain('Feedback from earlier attempts:\n1. agent');
  });

  it('turns the RATE_LIMIT line into a retryable rate_limit error with retryAfterMs', async () => {
    const err = await rejection(fakeAgent('RATE_LIMIT please')(task(), context().ctx));
    expect(err).toMatchObject({ kind: 'rate_limit', retryable: true, retryAfterMs: 7000, exitCode: 3 });
  });

  it('carries the confidence an agent reports on a CONFIDENCE line of stderr, and only a number from 0 to 1', async () => {
    const sure = (await fakeAgent('CONFIDENCE=0.35 work')(task(), context().ctx)) as AgentResult;
    expect(sure).toMatchObject({ confidence: 0.35, exitCode: 0 });
    expect(sure.stderr).toContain('CONFIDENCE 0.35');
    for (const odd of ['1.5', 'high', '-0.2']) {
      const result = (await fakeAgent(`CONFIDENCE=${odd} work`)(task(), context().ctx)) as AgentResult;
      expect(result).not.toHaveProperty('confidence');
    }
    expect(await fakeAgent('plain work')(task(), context().ctx)).not.toHaveProperty('confidence');
  });

  it('reports an agent that cannot be found as a spawn error', async () => {
    const err = await rejection(agentExecutor({ prompt: 'hi', command: '/nonexistent/agent' })(task(), context().ctx));
    expect(err).toMatchObject({ kind: 'spawn', retryable: false });
    expect(err.message).toContain('/nonexistent/agent was not found');
  });

  it('on cancel kills the agent and the process it started', async () => {
    const controller = new AbortController();
    const { ctx, waitFor } = context({ signal: controller.signal });
    const run = fakeAgent('SLEEP')(task(), ctx);
    const line = await waitFor(/^PIDS /);
    const [, agentPid, grandchildPid] = /agent=(\d+) grandchild=(\d+)/.exec(line)!.map(Number) as [number, number, number];
    expect(isGone(grandchildPid)).toBe(false);
    controller.abort(new Error('user cancelled'));
    const err = await rejection(run);
    expect(err).toMatchObject({ kind: 'cancelled', retryable: false });
    expect(isGone(agentPid)).toBe(true);
    expect(isGone(grandchildPid)).toBe(true);
  });
});
