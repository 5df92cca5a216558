/**
 * Model-based path tests for a user's own breakpoint rules (`overseer/testing`).
 *
 * A rule is configuration, but what it does is behaviour: which facts raise it, what it
 * pauses, whether it resolves itself, when it expires, what each answer does to the work.
 * `rulePaths(rule, { facts })` walks the breakpoint statechart from `triggered` with only
 * the events this rule can lead to (the runtime's own: AWAIT or AUTO_RESOLVE when it is
 * raised, then approve/reject by a person, the auto-resolution timer, the expiry timer),
 * and turns every path into a test case that drives a real runtime on a simulated clock:
 *
 *   for (const path of rulePaths(myRule, { facts })) it(path.name, () => path.run());
 *
 * Each case checks that the facts raise exactly this rule's breakpoint, that the work is
 * held while it is open (the task blocked, or the project paused), that every step lands
 * in the state the machine predicts, and that the answer lets the work go as it says
 * (continue/retry: ready again; skip: completed; cancel, rejection, expiry: cancelled).
 */
import { SimulatedClock } from 'xstate';
import { getSimplePaths } from 'xstate/graph';
import { breakpointMachine, type BreakpointEvent, type BreakpointInput, type BreakpointState, type ResolutionAction } from '../machines/breakpoint.js';
import { checkRule, DEFAULT_BREAKPOINT_TYPES, readPath, ruleDefinition, type RuleDefinition } from './breakpoint-rules.js';
import { ValidationError } from './errors.js';
import type { JsonValue } from './json.js';
import { createOverseer, type Overseer } from './overseer.js';
import { describe, isPlainObject } from './validate.js';

export type RuleFacts = Record<string, JsonValue> & { project: { id: string } & Record<string, JsonValue>; task?: ({ id: string } & Record<string, JsonValue>) | null };

export interface RulePathOptions {
  /** Facts that must raise the rule (for a task-scoped rule they name the task: `task.id`). */
  facts: RuleFacts;
  /** Facts that must not raise it; each is checked in every path. */
  notFacts?: RuleFacts[];
  /** Keep the default rules of other types enabled (default false: the rule is tested alone). */
  withDefaultRules?: boolean;
}

/** One step of a path, in what a person or the clock does. */
export type RuleStep =
  | { kind: 'raise' }
  | { kind: 'approve'; action: ResolutionAction }
  | { kind: 'reject' }
  | { kind: 'wait'; ms: number; for: 'auto-resolution' | 'expiry' };

export interface RulePath {
  /** e.g. `deploy_gate: triggered → awaiting → resolved (approve: retry)` */
  name: string;
  /** The breakpoint's states along the path, from `triggered`. */
  states: BreakpointState[];
  steps: RuleStep[];
  /** Drives a fresh runtime along the path; throws an Error naming the path and step when the runtime disagrees. */
  run(): void;
}

const PERSON = 'overseer/testing';

/** Every lifecycle path a breakpoint raised by `rule` can take, each a runnable test case. */
export function rulePaths(rule: RuleDefinition, options: RulePathOptions): RulePath[] {
  const checked = checkRule(rule);
  const problems = Array.isArray(checked) ? [...checked] : [];
  if (!isPlainObject(options)) problems.push(`options: must be an object with facts, got ${describe(options)}`);
  else {
    if (!isPlainObject(options.facts) || !isPlainObject(options.facts.project) || typeof options.facts.project.id !== 'string') {
      problems.push(`options.facts: must be an object with project.id, got ${describe(options.facts)}`);
    } else if (rule.scope !== 'project' && (!isPlainObject(options.facts.task) || typeof options.facts.task.id !== 'string')) {
      problems.push('options.facts.task.id: a task-scoped rule pauses a task: name it in the facts');
    }
    if (options.notFacts !== undefined && !Array.isArray(options.notFacts)) problems.push('options.notFacts: must be an array of facts');
  }
  if (problems.length || Array.isArray(checked)) throw new ValidationError('rulePaths', problems);
  const definition = ruleDefinition(checked);
  const auto = definition.autoResolve ?? null;
  const autoWait = auto ? autoResolveWait(auto, options.facts) : 0;
  const input: BreakpointInput = {
    id: 'bp-model',
    type: definition.type,
    priority: definition.priority ?? 'medium',
    projectId: options.facts.project.id,
    taskId: definition.scope === 'project' ? null : options.facts.task!.id,
    message: definition.type,
    data: options.facts,
    expiresAt: definition.expiresAfterMs === undefined ? null : definition.expiresAfterMs,
    at: 0,
  };
  const actions: ResolutionAction[] = definition.scope === 'project' ? ['continue', 'cancel'] : ['continue', 'retry', 'skip', 'cancel'];
  const events: BreakpointEvent[] = [
    auto ? { type: 'AUTO_RESOLVE', at: 0, resolveAt: autoWait, action: auto.action } : { type: 'AWAIT', at: 0 },
    ...(auto ? [{ type: 'AUTO_RESOLVED', at: autoWait } as const] : []),
    ...actions.map((action) => ({ type: 'RESOLVE', at: 0, action, by: PERSON, note: null }) as const),
    { type: 'REJECT', at: 0, action: 'cancel', by: PERSON, note: null },
    ...(definition.expiresAfterMs !== undefined ? [{ type: 'EXPIRE', at: definition.expiresAfterMs } as const] : []),
  ];
  // A state is its value and the answer that closed it, so every answer is a path of its own.
  const serializeState = (s: { value: unknown; context: { resolution: { action: string; auto: boolean } | null } }) =>
    `${String(s.value)}|${s.context.resolution ? `${s.context.resolution.auto}:${s.context.resolution.action}` : ''}`;
  const graphPaths = getSimplePaths(breakpointMachine, { input, events, serializeState } as never);
  return graphPaths
    .filter((p) => ['resolved', 'rejected', 'expired'].includes(String(p.state.value)))
    .map((p) => {
      const machineEvents = p.steps.slice(1).map((s) => s.event as BreakpointEvent);
      const states = ['triggered' as BreakpointState, ...p.steps.slice(1).map((s) => s.state.value as BreakpointState)];
      const steps: RuleStep[] = [{ kind: 'raise' }, ...machineEvents.slice(1).map((e) => stepFor(e, autoWait, definition.expiresAfterMs ?? 0))];
      const name = `${definition.type}: ${states.join(' → ')} (${steps.slice(1).map(describeStep).join(', ')})`;
      return { name, states, steps, run: () => runPath(definition, options, name, states, steps) };
    });
}

function autoResolveWait(auto: NonNullable<RuleDefinition['autoResolve']>, facts: RuleFacts): number {
  const from = auto.afterFrom ? readPath(facts, auto.afterFrom) : undefined;
  return typeof from === 'number' && from >= 0 ? from : (auto.afterMs ?? 0);
}

function stepFor(event: BreakpointEvent, autoWait: number, expiresAfterMs: number): RuleStep {
  switch (event.type) {
    case 'RESOLVE':
      return { kind: 'approve', action: event.action };
    case 'REJECT':
      return { kind: 'reject' };
    case 'AUTO_RESOLVED':
      return { kind: 'wait', ms: autoWait, for: 'auto-resolution' };
    case 'EXPIRE':
      return { kind: 'wait', ms: expiresAfterMs, for: 'expiry' };
    default:
      throw new Error(`no runtime step leads to ${event.type}`);
  }
}

function describeStep(step: RuleStep): string {
  if (step.kind === 'approve') return `approve: ${step.action}`;
  if (step.kind === 'wait') return `wait ${step.ms} ms for ${step.for}`;
  return step.kind;
}

function runPath(rule: RuleDefinition, options: RulePathOptions, name: string, states: BreakpointState[], steps: RuleStep[]): void {
  const fail = (message: string): never => {
    throw new Error(`${name}: ${message}`);
  };
  const clock = new SimulatedClock();
  const o = createOverseer({ clock });
  try {
    if (!options.withDefaultRules) for (const type of DEFAULT_BREAKPOINT_TYPES) if (type !== rule.type) o.disableBreakpointType(type);
    o.addCustomRule(rule);
    const projectId = options.facts.project.id;
    const named = options.facts.task?.id ?? null;
    const taskId = rule.scope === 'project' ? null : named!;
    // The work the breakpoint pauses: the named task, running as when the runtime raises it;
    // or, for a project rule, a task of the project waiting to be handed out (and the task the
    // facts name, which must exist for them to be raised).
    if (named !== null) o.scheduleTask({ id: named, projectId });
    if (taskId === null) o.scheduleTask({ id: named === 'work' ? 'other-work' : 'work', projectId });
    if (named !== null) o.getNextTask(projectId);
    for (const facts of options.notFacts ?? []) {
      if (o.evaluateBreakpointConditions(facts).some((r) => r.type === rule.type)) fail(`the rule fires on facts it must not: ${JSON.stringify(facts)}`);
    }
    const raised = o.raiseFromFacts(options.facts).filter((b) => b.type === rule.type);
    if (raised.length !== 1) fail(`the facts raised ${raised.length} breakpoints of type ${rule.type}, expected 1`);
    const id = raised[0]!.id;
    const work = taskId ?? 'work';
    const expectState = (i: number) => {
      const state = o.getBreakpoint(id)!.state;
      if (state !== states[i]) fail(`after step ${i} (${describeStep(steps[i]!)}) the breakpoint is ${state}, the machine says ${states[i]}`);
    };
    // Raising moves it on at once (to awaiting or autoResolving): the path's second state.
    const afterRaise = o.getBreakpoint(id)!.state;
    if (afterRaise !== states[1]) fail(`once raised the breakpoint is ${afterRaise}, the machine says ${states[1]}`);
    const held = () =>
      taskId === null ? o.isPaused(projectId) : o.getTaskStatus(work)!.state === 'blocked';
    if (!held()) fail(`while the breakpoint is open the ${taskId === null ? `project "${projectId}" must be paused` : `task "${work}" must be blocked, it is ${o.getTaskStatus(work)!.state}`}`);
    let action: ResolutionAction = 'continue';
    for (let i = 1; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.kind === 'approve') o.resolveBreakpoint(id, { decision: 'approve', action: (action = step.action), by: PERSON });
      else if (step.kind === 'reject') {
        o.resolveBreakpoint(id, { decision: 'reject', by: PERSON });
        action = 'cancel';
      }
      else if (step.kind === 'wait') {
        clock.increment(step.ms);
        action = step.for === 'expiry' ? 'cancel' : (rule.autoResolve?.action ?? 'continue');
      }
      expectState(i + 1);
    }
    const after = o.getTaskStatus(work)!.state;
    const expected = action === 'cancel' ? 'cancelled' : action === 'skip' ? 'completed' : 'ready';
    if (after !== expected) fail(`once closed with ${action}, task "${work}" is ${after}, expected ${expected}`);
    if (o.isPaused(projectId)) fail(`once closed, project "${projectId}" is still paused`);
  } finally {
    void o.close();
  }
}
