/**
 * A flat statechart's transition function, compiled from its own definition.
 *
 * XState's `machine.transition` is the general algorithm (microsteps, transition
 * domains, entry/exit sets, a full snapshot built and cloned per action): measured on
 * Node 20 with XState 5.33 it costs 5–9 µs and ~2 KB of garbage per step, which at
 * 100,000 tasks × 4 steps is a third of a run's time and much of its garbage collection.
 * The task and breakpoint machines use a small part of that language: one level of
 * states, event → target, named `assign` actions with static params, no guards, no
 * entry/exit, no delays, no invocations. For such a machine the algorithm reduces to a
 * table lookup and the assignments, which is what this compiles.
 *
 * The table is read from the machine (`StateNode.transitions`, the same definition
 * XState runs), and the assignments are the very functions the machine's named actions
 * wrap, so there is one definition of the lifecycle. Anything outside the subset makes
 * the compiler decline, with the reason, and the host keeps using `machine.transition`;
 * test/flat-machine.test.ts holds the compiled step equal to XState's on every state,
 * every event and random event sequences.
 */
import type { AnyStateMachine, EventObject } from 'xstate';

/**
 * A named action's context change: what `assign` is given. It receives the context and
 * the event (not XState's `spawn`/`self`/`system`: an action that needs them is not a
 * pure context update) and returns the keys that change.
 */
export type ContextUpdate<TContext, TEvent, TParams = undefined> = (args: { context: TContext; event: TEvent }, params: TParams) => Partial<TContext>;

/** The machine's step: the next state value and context, or null when the event is not accepted. */
export type FlatStep<TValue extends string, TContext, TEvent extends EventObject> = (
  value: TValue,
  context: TContext,
  event: TEvent,
) => { value: TValue; context: TContext } | null;

interface CompiledTransition {
  /** The target state, or null for a targetless transition (the state stays, actions run). */
  target: string | null;
  actions: { update: ContextUpdate<unknown, unknown, unknown>; params: unknown }[];
}

export type CompileResult<TValue extends string, TContext, TEvent extends EventObject> =
  | { ok: true; step: FlatStep<TValue, TContext, TEvent> }
  | { ok: false; reason: string };

/**
 * XState's assign as it merges: the same object as `Object.assign({}, context, changes)` (own
 * enumerable keys, same order), ~5× faster on an 18-key context. A machine may give its own
 * merge that makes the same object (the task machine builds it as one literal).
 */
const spread = <TContext>(context: TContext, changes: Partial<TContext>): TContext => ({ ...context, ...changes });

/**
 * Compiles `machine` with `updates`, the context change behind each of its named actions.
 * Declines (ok: false, with every reason) when the machine uses anything beyond the
 * flat subset described above. `merge` makes the context after an action (default: spread).
 */
export function compileFlatMachine<TValue extends string, TContext, TEvent extends EventObject>(
  machine: AnyStateMachine,
  updates: Readonly<Record<string, ContextUpdate<TContext, TEvent, never>>>,
  merge: (context: TContext, changes: Partial<TContext>) => TContext = spread,
): CompileResult<TValue, TContext, TEvent> {
  const problems: string[] = [];
  const root = machine.root;
  if (root.type !== 'compound') problems.push(`the root is ${root.type}, not compound`);
  if (root.entry.length || root.exit.length) problems.push('the root has entry or exit actions');
  if (root.transitions.size || root.always?.length) problems.push('the root has transitions of its own');
  if (root.invoke.length) problems.push('the root invokes actors');

  const table = new Map<string, Map<string, CompiledTransition>>();
  for (const [key, node] of Object.entries(root.states)) {
    const where = `state "${key}"`;
    if (node.type !== 'atomic' && node.type !== 'final') problems.push(`${where} is ${node.type}`);
    if (node.entry.length || node.exit.length) problems.push(`${where} has entry or exit actions`);
    if (node.always?.length) problems.push(`${where} has eventless transitions`);
    if (node.invoke.length) problems.push(`${where} invokes actors`);
    const byEvent = new Map<string, CompiledTransition>();
    for (const [eventType, transitions] of node.transitions) {
      const on = `${where} on ${eventType}`;
      if (eventType === '*' || eventType.endsWith('.*')) problems.push(`${on}: wildcard events`);
      if (eventType.startsWith('xstate.')) problems.push(`${on}: XState's own events (delays, actor results)`);
      if (transitions.length !== 1) problems.push(`${on}: ${transitions.length} candidate transitions`);
      const transition = transitions[0]!;
      if (transition.guard !== undefined) problems.push(`${on}: a guard`);
      const targets = transition.target ?? [];
      if (targets.length > 1 || targets.some((t) => t.parent !== root)) problems.push(`${on}: a target that is not a sibling state`);
      const actions: CompiledTransition['actions'] = [];
      for (const action of transition.actions) {
        const named = typeof action === 'string' ? { type: action, params: undefined } : (action as { type?: unknown; params?: unknown });
        if (typeof action === 'function' || typeof named.type !== 'string') {
          problems.push(`${on}: an inline action (only named actions are compiled)`);
          continue;
        }
        if (typeof named.params === 'function') problems.push(`${on}: action "${named.type}" has dynamic params`);
        const update = Object.hasOwn(updates, named.type) ? updates[named.type] : undefined;
        if (!update) problems.push(`${on}: action "${named.type}" is not a known context update`);
        else actions.push({ update: update as ContextUpdate<unknown, unknown, unknown>, params: named.params });
      }
      byEvent.set(eventType, { target: targets[0]?.key ?? null, actions });
    }
    table.set(key, byEvent);
  }
  for (const name of Object.keys(updates)) {
    if (!Object.hasOwn(machine.implementations.actions, name)) problems.push(`context update "${name}" is not an action of the machine`);
  }
  if (problems.length) return { ok: false, reason: problems.join('; ') };

  const step: FlatStep<TValue, TContext, TEvent> = (value, context, event) => {
    const transition = table.get(value)?.get(event.type);
    if (!transition) return null;
    let next = context;
    // As XState's assign (`Object.assign({}, context, changes)`): each action sees the
    // context the previous one left, and its changes are merged into a copy (`merge`).
    for (const { update, params } of transition.actions) next = merge(next, update({ context: next, event }, params) as Partial<TContext>);
    return { value: (transition.target ?? value) as TValue, context: next };
  };
  return { ok: true, step };
}
