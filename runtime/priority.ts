/**
 * Pure priority boosting. The effective priority is the user's priority plus boosts
 * that follow from facts the scheduler knows, each with a reason a person can read:
 *   +2 when the deadline is within 1 hour (or has passed),
 *   +1 when other tasks depend on this one,
 *   −1 once the task has been retried.
 */
export const DEADLINE_BOOST_WINDOW_MS = 3_600_000;

export type BoostReason = 'deadline_within_1h' | 'has_dependents' | 'retried';

export interface PriorityFacts {
  priority: number;
  deadline: number | null;
  dependents: number;
  retries: number;
}

export interface EffectivePriority {
  value: number;
  reasons: BoostReason[];
}

export function effectivePriority(facts: PriorityFacts, now: number): EffectivePriority {
  let value = facts.priority;
  const reasons: BoostReason[] = [];
  if (facts.deadline !== null && facts.deadline - now <= DEADLINE_BOOST_WINDOW_MS) {
    value += 2;
    reasons.push('deadline_within_1h');
  }
  if (facts.dependents > 0) {
    value += 1;
    reasons.push('has_dependents');
  }
  if (facts.retries > 0) {
    value -= 1;
    reasons.push('retried');
  }
  return { value, reasons };
}

/** When the deadline boost starts to apply, or null when it never will (no deadline). */
export function deadlineBoostAt(deadline: number | null): number | null {
  return deadline === null ? null : deadline - DEADLINE_BOOST_WINDOW_MS;
}
