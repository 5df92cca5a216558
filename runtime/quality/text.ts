/**
 * Plain-text helpers shared by the requirements stage and the decision engine. All of them
 * are deterministic and dictionary-free on purpose: the same text always scores the same.
 */

const STOP_WORDS = new Set(
  ('the and for are but not you all any can had her was one our out has have with this that from they ' +
    'will would should could into than then them there these those been being its it\'s also each which ' +
    'when where what who whom how why use used using must shall may should make made file files code ' +
    'function functions add adds added new does done just only some such very more most other')
    .split(/\s+/),
);

/** Lowercase alphanumeric words of 3+ characters, a trailing plural `s` dropped (`tests` ~ `test`). */
export function words(text: string, dropStopWords = false): string[] {
  const out: string[] = [];
  for (const raw of text.toLowerCase().split(/[^a-z0-9]+/)) {
    if (raw.length < 3 || (dropStopWords && STOP_WORDS.has(raw))) continue;
    out.push(raw.length > 3 && raw.endsWith('s') && !raw.endsWith('ss') ? raw.slice(0, -1) : raw);
  }
  return out;
}

/** The distinct words of `text` that carry meaning (stop words dropped). */
export function keywords(text: string): string[] {
  return [...new Set(words(text, true))];
}

/**
 * Share of `text`'s keywords found in `haystack` (0..1), plus which were missing.
 * A text without keywords has nothing to match: overlap null.
 */
export function keywordOverlap(text: string, haystack: ReadonlySet<string>): { overlap: number | null; missing: string[]; keywords: string[] } {
  const wanted = keywords(text);
  if (wanted.length === 0) return { overlap: null, missing: [], keywords: wanted };
  const missing = wanted.filter((w) => !haystack.has(w));
  return { overlap: (wanted.length - missing.length) / wanted.length, missing, keywords: wanted };
}

/** Phrases by which a writer says they are unsure. Matched case-insensitively on word boundaries. */
export const HEDGES: readonly string[] = [
  'i think',
  'i believe',
  'i guess',
  'i assume',
  'not sure',
  'unsure',
  'not certain',
  'uncertain',
  'might',
  'maybe',
  'perhaps',
  'possibly',
  'probably',
  'may not',
  'could be',
  'seems to',
  'unclear',
  "haven't tested",
  'have not tested',
  'untested',
];

const HEDGE_PATTERNS = HEDGES.map((h) => new RegExp(`(?<![a-z])${h.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s+')}(?![a-z])`, 'gi'));

/** Every hedge found in `text`, with how often. */
export function findHedges(text: string): Array<{ phrase: string; count: number }> {
  const found: Array<{ phrase: string; count: number }> = [];
  HEDGE_PATTERNS.forEach((re, i) => {
    const count = text.match(re)?.length ?? 0;
    if (count > 0) found.push({ phrase: HEDGES[i]!, count });
  });
  return found;
}

export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function clamp01(x: number): number {
  if (Number.isNaN(x)) return 0;
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Rounds for display and stored JSON (scores with 15 digits help nobody). */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
