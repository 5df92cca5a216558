/**
 * The requirements stage: each acceptance criterion is checked against the response and
 * the files, by one of these forms (matched in this order, prefixes case-sensitive):
 *
 *   file:<path> exists | file:<path>   the path exists in the workdir (file or directory)
 *   file:<path> absent                 it does not
 *   contains:<path>:<text>             the file's text includes <text> exactly (a path has no `:`)
 *   changed:<path>                     the output lists <path> as created or modified
 *   response:mentions <text>           the response includes <text>, ignoring case
 *   response:<text>                    the same
 *   anything else (free text)          keyword overlap: the share of the criterion's keywords
 *                                      (words of 3+ letters, stop words dropped, plural s folded)
 *                                      found in the response, the changed paths and the changed
 *                                      files' text; met at ≥ KEYWORD_THRESHOLD (0.6)
 *
 * A structured criterion scores 1 or 0 and an unmet one is an error; a free-text one scores
 * its overlap (1 when met) and an unmet one is a warning, since keyword matching can only
 * suggest. A free-text criterion without keywords cannot be checked: an info, not counted.
 * Score: the mean over the criteria that count; skipped when there are none.
 */
import { stat } from 'node:fs/promises';
import { readText, resolveInside } from './files.js';
import { clip, keywordOverlap, round, words } from './text.js';
import type { JsonValue } from '../json.js';
import type { Validator, ValidatorInput, ValidatorOutcome } from './types.js';

export const REQUIREMENTS_WEIGHT = 0.3;
/** Share of a free-text criterion's keywords that must be found. */
export const KEYWORD_THRESHOLD = 0.6;

type Found = ValidatorOutcome['issues'][number];

export interface CriterionResult {
  criterion: string;
  form: 'file-exists' | 'file-absent' | 'contains' | 'changed' | 'response' | 'free-text';
  met: boolean;
  /** 0..1; null when it could not be checked. */
  score: number | null;
  why: string;
}

export function requirementsValidator(options: { weight?: number; threshold?: number } = {}): Validator {
  const threshold = options.threshold ?? KEYWORD_THRESHOLD;
  return {
    name: 'requirements',
    weight: options.weight ?? REQUIREMENTS_WEIGHT,
    async validate(input) {
      const criteria = (input.task.acceptanceCriteria ?? []).filter((c) => c.trim() !== '');
      if (criteria.length === 0) return { score: 1, issues: [], skipped: true, details: { reason: 'the task has no acceptance criteria' } };
      const haystack = new Set(words([input.output.response ?? '', ...input.files.map((f) => `${f.path}\n${f.content ?? ''}`)].join('\n')));
      const results: CriterionResult[] = [];
      for (const criterion of criteria) results.push(await checkCriterion(criterion.trim(), input, haystack, threshold));
      const counted = results.filter((r) => r.score !== null);
      const issues: Found[] = results
        .filter((r) => !r.met)
        .map((r) => ({
          severity: r.score === null ? 'info' : r.form === 'free-text' ? 'warning' : 'error',
          code: r.score === null ? 'requirement-unchecked' : 'requirement',
          message: `${r.score === null ? 'cannot check' : 'not met'}: "${clip(r.criterion, 120)}" (${r.why})`,
        }));
      const details = { criteria: results as unknown as JsonValue, threshold };
      if (counted.length === 0) return { score: 1, issues, skipped: true, details };
      return { score: counted.reduce((s, r) => s + r.score!, 0) / counted.length, issues, details };
    },
  };
}

export async function checkCriterion(criterion: string, input: ValidatorInput, haystack: ReadonlySet<string>, threshold = KEYWORD_THRESHOLD): Promise<CriterionResult> {
  const { workdir } = input.output;
  const result = (form: CriterionResult['form'], met: boolean, why: string): CriterionResult => ({ criterion, form, met, score: met ? 1 : 0, why });

  const file = /^file:(.+?)(?:\s+(exists|absent))?$/.exec(criterion);
  if (file) {
    const path = file[1]!.trim();
    const wantAbsent = file[2] === 'absent';
    const form = wantAbsent ? 'file-absent' : 'file-exists';
    const abs = resolveInside(workdir, path);
    if (abs === null) return result(form, false, `${path} is outside the workdir`);
    const exists = await stat(abs).then(() => true, () => false);
    return result(form, exists !== wantAbsent, `${path} ${exists ? 'exists' : 'does not exist'}`);
  }

  const contains = /^contains:([^:]+):([\s\S]+)$/.exec(criterion);
  if (contains) {
    const path = contains[1]!.trim();
    const needle = contains[2]!;
    const abs = resolveInside(workdir, path);
    if (abs === null) return result('contains', false, `${path} is outside the workdir`);
    const read = await readText(abs);
    if (!('content' in read)) return result('contains', false, `${path} cannot be read (${read.unreadable})`);
    return result('contains', read.content.includes(needle), `${path} ${read.content.includes(needle) ? 'contains' : 'does not contain'} "${clip(needle, 60)}"`);
  }

  const changed = /^changed:(.+)$/.exec(criterion);
  if (changed) {
    const path = changed[1]!.trim();
    const abs = resolveInside(workdir, path);
    const hit = input.files.some((f) => f.kind !== 'deleted' && f.absPath === abs);
    return result('changed', hit, hit ? `${path} was changed` : `${path} is not among the changed files`);
  }

  const response = /^response:(?:\s*mentions\s+)?([\s\S]+)$/.exec(criterion);
  if (response) {
    const needle = response[1]!.trim();
    const hit = (input.output.response ?? '').toLowerCase().includes(needle.toLowerCase());
    return result('response', hit, hit ? `the response mentions "${clip(needle, 60)}"` : `the response does not mention "${clip(needle, 60)}"`);
  }

  const { overlap, missing, keywords } = keywordOverlap(criterion, haystack);
  if (overlap === null) return { criterion, form: 'free-text', met: false, score: null, why: 'it has no keywords to look for' };
  const met = overlap >= threshold;
  const found = keywords.length - missing.length;
  return {
    criterion,
    form: 'free-text',
    met,
    score: met ? 1 : round(overlap, 3),
    why: `${found}/${keywords.length} keywords found (need ${Math.round(threshold * 100)}%)${missing.length ? `; missing: ${missing.slice(0, 8).join(', ')}` : ''}`,
  };
}
