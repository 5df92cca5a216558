/**
 * The decision engine: what it decides in the cases that matter, how it explains itself,
 * the helpers around it, learning, and properties (determinism, monotonic confidence,
 * weights within bounds).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULES } from '../runtime/breakpoint-rules.js';
import {
  ACTIONS, assessConfidence, createDecisionEngine, DEFAULT_WEIGHTS, determineFollowUp, evaluateResponseQuality, isInfrastructureFailure,
  shouldTriggerBreakpoint, type DecisionContext,
} from '../runtime/decision.js';
import { ValidationError } from '../runtime/errors.js';
import { compileExpression } from '../runtime/expression.js';
import type { Issue, QualityResult } from '../runtime/quality/types.js';

const issue = (severity: Issue['severity'], message: string, extra: Partial<Issue> = {}): Issue => ({ stage: 'testing', severity, code: 'x', message, ...extra });
const validation = (score: number, issues: Issue[] = []): Pick<QualityResult, 'score' | 'issues'> => ({ score, issues });
const ctx = (extra: Partial<DecisionContext> = {}): DecisionContext => ({ attempt: 1, maxAttempts: 3, ...extra });

describe('decideNextAction', () => {
  const engine = createDecisionEngine();

  it('proceeds on good, confident work, and checkpoints instead at a milestone', () => {
    const d = engine.decideNextAction(ctx({ validation: validation(0.92), confidence: 0.9 }));
    expect(d).toMatchObject({ action: 'proceed', qualityRetryUsed: false, infrastructure: false, forced: false });
    expect(d.rejected.map((r) => r.action).sort()).toEqual(['checkpoint', 'clarify', 'escalate', 'retry']);
    expect(d.rejected.find((r) => r.action === 'checkpoint')!.why).toBe('this is not a milestone');
    // The criteria are the chosen action's score, term by term.
    expect(d.criteria.reduce((s, c) => s + c.contribution, 0)).toBeCloseTo(d.scores.proceed, 5);
    expect(d.criteria.map((c) => c.name)).toEqual(Object.keys(DEFAULT_WEIGHTS));
    expect(engine.decideNextAction(ctx({ validation: validation(0.92), confidence: 0.9, milestone: true })).action).toBe('checkpoint');
  });

  it('retries poor work while attempts remain, counting it as a quality retry, then escalates', () => {
    const poor = validation(0.3, [issue('error', 'test failed: mean'), issue('error', 'test failed: median')]);
    const retry = engine.decideNextAction(ctx({ validation: poor }));
    expect(retry).toMatchObject({ action: 'retry', qualityRetryUsed: true });
    expect(retry.rejected.find((r) => r.action === 'proceed')!.why).toBe('quality 0.3 is below the 0.7 needed');
    const last = engine.decideNextAction(ctx({ validation: poor, attempt: 3 }));
    expect(last).toMatchObject({ action: 'escalate', forced: true, confidence: 1, qualityRetryUsed: false });
    expect(last.rejected.find((r) => r.action === 'retry')!.why).toBe('no attempt is left (3 of 3 used)');
  });

  it('asks for clarification when plausible work comes with low confidence or validators disagree', () => {
    expect(engine.decideNextAction(ctx({ validation: validation(0.8), confidence: 0.3 })).action).toBe('clarify');
    expect(engine.decideNextAction(ctx({ validation: validation(0.65), confidence: 0.65, disagreement: 0.6 })).action).toBe('clarify');
  });

  it('does not proceed while an error-level issue remains, whatever the score', () => {
    const d = engine.decideNextAction(ctx({ validation: validation(0.95, [issue('error', 'a hard-coded password')]), confidence: 0.95 }));
    expect(d.action).not.toBe('proceed');
    expect(d.rejected.find((r) => r.action === 'proceed')!.why).toBe('1 error-level issue remains');
  });

  it('retries infrastructure failures without spending a quality attempt, even after the last one', () => {
    for (const failure of [{ kind: 'timeout', retryable: true }, { kind: 'spawn', retryable: true }, { kind: 'rate_limit', retryable: true }, { kind: 'interrupted', retryable: true }, { kind: 'exit', retryable: true, exitCode: 137 }, { kind: 'exit', retryable: true, exitCode: null }]) {
      const d = engine.decideNextAction(ctx({ failure, attempt: 3 }));
      expect(d, failure.kind).toMatchObject({ action: 'retry', qualityRetryUsed: false, infrastructure: true, forced: true });
    }
    expect(engine.decideNextAction(ctx({ failure: { kind: 'spawn', retryable: false } })).action).toBe('escalate');
    // An ordinary non-zero exit is the work failing: a quality retry, and none after the last attempt.
    expect(engine.decideNextAction(ctx({ failure: { kind: 'exit', retryable: true, exitCode: 1 } }))).toMatchObject({ action: 'retry', qualityRetryUsed: true, infrastructure: false });
    expect(engine.decideNextAction(ctx({ failure: { kind: 'failed', retryable: true }, attempt: 3 })).action).toBe('escalate');
    expect(engine.decideNextAction(ctx({ failure: { kind: 'validation', retryable: false } })).action).toBe('escalate');
    expect(isInfrastructureFailure({ kind: 'exit', exitCode: 2 })).toBe(false);
  });

  it('explains itself in a paragraph: why this action, and why not the others', () => {
    const d = engine.decideNextAction(ctx({ validation: validation(0.3, [issue('error', 'x')]) }));
    expect(d.explanation).toBe(engine.explainDecision(d));
    expect(d.explanation).toMatch(/^Next: retry \(confidence 0\.\d+\), given quality 0\.3, confidence 0\.3, 1 error, attempt 1 of 3\./);
    expect(d.explanation).toMatch(/most of it from quality 0\.3 \(weight 0\.35\)/);
    expect(d.explanation).toContain('This uses up one of the quality attempts.');
    expect(d.explanation).toMatch(/Not chosen: proceed \([\d.]+\), because quality 0\.3 is below the 0\.7 needed; checkpoint \([\d.]+\), because this is not a milestone; /);
    expect(d.explanation).toMatch(/escalate \(0\.485\), because scored 0\.485 against 0\.595 for retry; retry leads most on attempts left \(0\.67\)\.$/);
    const infra = engine.decideNextAction(ctx({ failure: { kind: 'timeout', retryable: true } }));
    expect(infra.explanation).toContain('The rules left no other choice.');
    expect(infra.explanation).toMatch(/Not chosen: proceed \([\d.]+\), checkpoint \([\d.]+\), clarify \([\d.]+\), escalate \([\d.]+\), because the attempt failed for a reason outside the work \(timeout\): it is retried, and the retry does not count as a quality attempt\.$/);
    expect(infra.explanation).toContain('does not use up a quality attempt');
  });

  it('rejects a malformed context naming every problem', () => {
    const err = (() => {
      try {
        engine.decideNextAction({ attempt: -1, maxAttempts: 0, confidence: 2, failure: { kind: 1 } } as unknown as DecisionContext);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems).toHaveLength(4);
  });
});

describe('confidence, response quality, follow-ups and breakpoints', () => {
  it('lowers confidence for hedging, 10% a hedge and at most half', () => {
    expect(assessConfidence('Implemented and verified.', validation(0.8))).toBeCloseTo(0.8);
    expect(assessConfidence('I think this works, but I am not sure.', validation(0.8))).toBeCloseTo(0.8 * 0.8);
    expect(assessConfidence('maybe '.repeat(20), validation(0.8))).toBeCloseTo(0.4);
    expect(assessConfidence('done')).toBe(0.5);
    expect(assessConfidence('Mighty fine.', validation(1))).toBe(1); // whole words only
  });

  it('scores a response with its reasons', () => {
    const task = { title: 'Add a mean function', acceptanceCriteria: ['handles empty arrays'] };
    const good = evaluateResponseQuality('Added the mean function in src/math.js; it handles empty arrays by returning 0. Tests pass.', task);
    expect(good.score).toBe(1);
    expect(good.reasons).toEqual(['mentions 100% of the task\'s keywords']);
    const poor = evaluateResponseQuality('I think maybe. Error: failed to build', task);
    expect(poor.score).toBeCloseTo(1 - 0.1 - 0.4 - 0.2);
    expect(poor.reasons).toHaveLength(3);
    expect(evaluateResponseQuality('   ', task)).toEqual({ score: 0, reasons: ['the response is empty'] });
    expect(evaluateResponseQuality('ok', task).reasons[0]).toMatch(/very short/);
  });

  it('writes a follow-up listing the issues to fix, errors first', () => {
    const text = determineFollowUp('I think it is fine', validation(0.42, [
      issue('warning', 'TODO left', { file: 'src/a.js', line: 2, stage: 'quality' }),
      issue('error', 'test failed: mean'),
      issue('info', 'not checked'),
    ]));
    expect(text).toBe([
      'Your last attempt scored 0.42 of 1 in validation and needs changes before it can be accepted.',
      '',
      'Fix these issues:',
      '1. [error, testing] test failed: mean',
      '2. [warning, quality] src/a.js:2 — TODO left',
      '',
      'You wrote "i think": check the point you were unsure about and say plainly what you verified and how.',
      '',
      'Then reply with a short summary of what you changed and how you checked it.',
    ].join('\n'));
  });

  it('names the breakpoint the context calls for, most pressing first', () => {
    expect(shouldTriggerBreakpoint({ confidence: 0.9 })).toEqual({ type: null, reason: 'nothing calls for a person' });
    expect(shouldTriggerBreakpoint({ confidence: 0.5 }).type).toBe('confidence_too_low');
    expect(shouldTriggerBreakpoint({ validation: validation(0.4) }).type).toBe('confidence_too_low');
    expect(shouldTriggerBreakpoint({ confidence: 0.9, disagreement: 0.31 }).type).toBe('conflicting_solutions');
    expect(shouldTriggerBreakpoint({ confidence: 0.1, disagreement: 0.9, consecutiveFailures: 3 })).toEqual({ type: 'consecutive_failures', reason: '3 failures in a row (the limit is 3)' });
  });

  it('agrees with the default breakpoint rules on their thresholds', () => {
    const rule = (type: string) => compileExpression(DEFAULT_RULES.find((r) => r.type === type)!.condition);
    fc.assert(fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (confidence, disagreement) => {
      expect(shouldTriggerBreakpoint({ confidence: 1, disagreement }).type === 'conflicting_solutions').toBe(rule('conflicting_solutions').test({ validation: { disagreement } }));
      expect(shouldTriggerBreakpoint({ confidence }).type === 'confidence_too_low').toBe(rule('confidence_too_low').test({ confidence }));
    }));
  });
});

describe('learning', () => {
  const good = ctx({ validation: validation(0.9), confidence: 0.85 });

  it('moves weights by a small step toward what worked, and logs each change', () => {
    let clock = 100;
    const engine = createDecisionEngine({ now: () => clock++ });
    const d = engine.decideNextAction(good);
    const changes = engine.learnFromOutcome(d, { success: true });
    const byName = Object.fromEntries(changes.map((c) => [c.criterion, c]));
    // quality argued for proceeding with support 0.9: +0.05 × 0.8
    expect(byName.quality).toEqual({ at: 100, criterion: 'quality', from: 0.35, to: 0.39, action: 'proceed', success: true });
    expect(byName.attemptsLeft).toBeUndefined(); // neutral for proceed: unchanged
    expect(engine.weightLog()).toEqual(changes);
    const failed = engine.learnFromOutcome(d, { success: false });
    expect(failed.find((c) => c.criterion === 'quality')).toMatchObject({ from: 0.39, to: 0.35 });
    expect(engine.weightLog()).toHaveLength(changes.length + failed.length);
  });

  it('learns nothing from a decision a rule forced', () => {
    const engine = createDecisionEngine();
    const forced = engine.decideNextAction(ctx({ failure: { kind: 'timeout', retryable: true } }));
    expect(engine.learnFromOutcome(forced, { success: false })).toEqual([]);
    expect(engine.weights()).toEqual(DEFAULT_WEIGHTS);
  });

  it('persists as plain JSON and picks up where it left off', () => {
    const engine = createDecisionEngine();
    for (let i = 0; i < 5; i++) engine.learnFromOutcome(engine.decideNextAction(good), { success: i % 2 === 0 });
    const saved = JSON.parse(JSON.stringify(engine.state()));
    const restored = createDecisionEngine({ history: saved });
    expect(restored.state()).toEqual(engine.state());
    expect(restored.decideNextAction(good)).toEqual(engine.decideNextAction(good));
  });

  it('checks its options', () => {
    expect(() => createDecisionEngine({ weights: { quality: 0.99, nope: 0.5 } as never, bounds: { min: 0.05, max: 0.95 } })).toThrow(ValidationError);
    expect(() => createDecisionEngine({ bounds: { min: 0.5, max: 0.1 } })).toThrow(/bounds/);
    expect(() => createDecisionEngine({ history: { version: 2 } as never })).toThrow(/history/);
    expect(createDecisionEngine({ bounds: { min: 0.1, max: 0.3 } }).weights().quality).toBe(0.3);
  });
});

describe('properties', () => {
  const issueArb = fc.constantFrom<Issue['severity']>('error', 'warning', 'info').map((s) => issue(s, s));
  const contextArb: fc.Arbitrary<DecisionContext> = fc
    .record({
      maxAttempts: fc.integer({ min: 1, max: 6 }),
      attemptOffset: fc.integer({ min: 0, max: 6 }),
      validation: fc.option(fc.record({ score: fc.double({ min: 0, max: 1, noNaN: true }), issues: fc.array(issueArb, { maxLength: 5 }) }), { nil: undefined }),
      confidence: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      failure: fc.option(fc.record({ kind: fc.constantFrom('timeout', 'spawn', 'rate_limit', 'interrupted', 'exit', 'failed', 'validation'), retryable: fc.boolean(), exitCode: fc.constantFrom(0, 1, 137, null) }), { nil: undefined }),
      breakpointsOpen: fc.option(fc.nat(5), { nil: undefined }),
      milestone: fc.option(fc.boolean(), { nil: undefined }),
      disagreement: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    })
    .map(({ attemptOffset, maxAttempts, ...rest }) => {
      const c: DecisionContext = { attempt: Math.min(maxAttempts, 1 + attemptOffset), maxAttempts };
      for (const [k, v] of Object.entries(rest)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
      return c;
    });

  it('decideNextAction is deterministic, and its numbers stay within [0, 1]', () => {
    const engine = createDecisionEngine();
    fc.assert(fc.property(contextArb, (c) => {
      const d = engine.decideNextAction(c);
      expect(engine.decideNextAction(structuredClone(c))).toEqual(d);
      expect(createDecisionEngine().decideNextAction(c)).toEqual(d);
      expect(ACTIONS).toContain(d.action);
      expect(d.confidence).toBeGreaterThanOrEqual(0.5);
      expect(d.confidence).toBeLessThanOrEqual(1);
      for (const a of ACTIONS) expect(d.scores[a]).toBeGreaterThanOrEqual(0), expect(d.scores[a]).toBeLessThanOrEqual(1);
      expect(d.rejected).toHaveLength(ACTIONS.length - 1);
      if (d.infrastructure) expect(d.qualityRetryUsed).toBe(false);
      if (c.failure) expect(['retry', 'clarify', 'escalate']).toContain(d.action);
    }));
  });

  it('confidence never falls when the validation score rises', () => {
    fc.assert(fc.property(fc.string(), fc.constantFrom('', 'I think', 'maybe not sure, perhaps'), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (text, hedge, a, b) => {
      const response = `${text} ${hedge}`;
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const low = assessConfidence(response, validation(lo));
      expect(low).toBeLessThanOrEqual(assessConfidence(response, validation(hi)));
      expect(low).toBeGreaterThanOrEqual(0);
    }));
  });

  it('learned weights stay within bounds after any sequence of outcomes', () => {
    fc.assert(fc.property(
      fc.record({ min: fc.double({ min: 0.01, max: 0.5, noNaN: true }), span: fc.double({ min: 0, max: 0.49, noNaN: true }) }),
      fc.double({ min: 0.001, max: 0.5, noNaN: true }),
      fc.array(fc.tuple(contextArb, fc.boolean()), { maxLength: 40 }),
      ({ min, span }, step, outcomes) => {
        const bounds = { min, max: min + span };
        const engine = createDecisionEngine({ bounds, step });
        for (const [c, success] of outcomes) {
          engine.learnFromOutcome(engine.decideNextAction(c), { success });
          for (const w of Object.values(engine.weights())) {
            expect(w).toBeGreaterThanOrEqual(bounds.min);
            expect(w).toBeLessThanOrEqual(bounds.max);
          }
        }
        for (const change of engine.weightLog()) expect(Math.abs(change.to - change.from)).toBeLessThanOrEqual(step + 1e-6); // weights keep 6 digits
      },
    ));
  });
});
