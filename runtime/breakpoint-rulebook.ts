/**
 * The breakpoint rules a runtime holds: one per type (the defaults, replaced or added to), the
 * types switched off, and which of them fire on given facts. No journaling and no breakpoints
 * here: the BreakpointManager records what changes and raises what fires.
 */
import { ValidationError } from './errors.js';
import { activeRules, checkRule, defaultRules, mayHoldOn, ruleDefinition, type Rule, type RuleDefinition } from './breakpoint-rules.js';
import { describe } from './describe.js';

export class RuleBook {
  private rules: Rule[] = defaultRules();
  private readonly disabledTypes = new Set<string>();
  /** The enabled rules, most urgent first; null when rules or switched-off types changed since. */
  private active: Rule[] | null = null;
  /** Rules whose condition failed to evaluate at least once (reported the first time). */
  private readonly unevaluable = new WeakSet<Rule>();

  /** `onError` hears, once per rule, of a condition that could not be evaluated. */
  constructor(private readonly onError: (error: unknown, source: string) => void) {}

  /** Enabled rules, most urgent first, whose condition holds for `facts`. A rule that cannot be evaluated on them does not fire. */
  firing(facts: Record<string, unknown>): Rule[] {
    const out: Rule[] = [];
    let mayHold: (rule: Rule) => boolean;
    try {
      mayHold = mayHoldOn(facts);
    } catch {
      mayHold = () => true; // facts that cannot be read (a proxy that throws): each rule is tried, and fails alone
    }
    for (const rule of (this.active ??= activeRules(this.rules, this.disabledTypes))) {
      try {
        // Not when it is about another event or facts not there: it cannot hold.
        if (mayHold(rule) && rule.compiled.test(facts)) out.push(rule);
      } catch (error) {
        // It does not fire. Said once per rule: a condition that can never be evaluated must not fail unseen.
        if (!this.unevaluable.has(rule)) {
          this.unevaluable.add(rule);
          this.onError(error, `breakpoint rule "${rule.type}" (${rule.condition}): its condition could not be evaluated, so it did not fire; later failures of this rule are not reported`);
        }
      }
    }
    return out;
  }

  /** Checks a definition; `caller` names the API call in the error. */
  check(definition: RuleDefinition, caller: string): Rule {
    const rule = checkRule(definition);
    if (Array.isArray(rule)) throw new ValidationError(caller, rule);
    return rule;
  }

  /** One rule per type: a rule of a type that exists (a default one too) replaces it, so the type fires once, as defined last. */
  put(rule: Rule): void {
    this.rules = [...this.rules.filter((r) => r.type !== rule.type), rule];
    this.active = null;
  }

  /** Switches a type on or off; refuses a type no rule raises (`caller` names the API call). */
  setEnabled(type: string, enabled: boolean, caller: string): void {
    if (!this.rules.some((r) => r.type === type)) throw new ValidationError(caller, [`type: no rule raises ${describe(type)} (known: ${this.types().join(', ')})`]);
    if (enabled) this.disabledTypes.delete(type);
    else this.disabledTypes.add(type);
    this.active = null;
  }

  find(type: string): Rule | undefined {
    return this.rules.find((r) => r.type === type);
  }

  types(): string[] {
    return [...new Set(this.rules.map((r) => r.type))];
  }

  /** Whether a breakpoint of this type reaches notification callbacks at all. */
  notifies(type: string): boolean {
    if (this.disabledTypes.has(type)) return false;
    const rules = this.rules.filter((r) => r.type === type && r.enabled);
    return rules.length > 0 && rules.some((r) => r.notify !== 'none');
  }

  list(): RuleDefinition[] {
    return this.rules.map((r) => ({ ...ruleDefinition(r), enabled: r.enabled && !this.disabledTypes.has(r.type) }));
  }

  /** Restored rules and switched-off types. */
  load(rules: RuleDefinition[], disabledTypes: string[]): void {
    for (const def of rules) {
      const rule = checkRule(def);
      if (!Array.isArray(rule)) this.put(rule);
    }
    for (const t of disabledTypes) this.disabledTypes.add(t);
    this.active = null;
  }

  /** What a snapshot keeps: the rules added to the defaults, and the types switched off. */
  stored(): { rules: RuleDefinition[]; disabledTypes: string[] } {
    return { rules: this.rules.filter((r) => !r.builtIn).map(ruleDefinition), disabledTypes: [...this.disabledTypes] };
  }
}
