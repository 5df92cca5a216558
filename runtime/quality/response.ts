/** How good an agent's reply reads, apart from what it changed: a quick, deterministic screen. */
import { clamp01, findHedges, keywordOverlap, round, words } from './text.js';

const REFUSALS = [/\bi (?:can(?:no|')t|am unable|'m unable)\b/i, /\bas an ai\b/i, /\b(?:error|exception|traceback):/i, /\bfailed to\b/i];

/**
 * 0..1, with a reason for each deduction. From 1: empty → 0; under 20 characters −0.3; each
 * hedge −0.05 (at most −0.25); each kind of refusal or error report −0.2 (at most −0.4); under
 * 30% of the task's keywords (title and criteria) mentioned −0.2.
 */
export function evaluateResponseQuality(response: string, task: { title: string; acceptanceCriteria?: string[] }): { score: number; reasons: string[] } {
  const text = (response ?? '').trim();
  if (text === '') return { score: 0, reasons: ['the response is empty'] };
  let score = 1;
  const reasons: string[] = [];
  const deduct = (cost: number, why: string) => {
    score -= cost;
    reasons.push(`${why}: −${round(cost, 2)}`);
  };
  if (text.length < 20) deduct(0.3, `very short (${text.length} characters)`);
  const hedges = findHedges(text);
  if (hedges.length) deduct(Math.min(0.25, 0.05 * hedges.reduce((n, h) => n + h.count, 0)), `hedges (${hedges.map((h) => `"${h.phrase}"`).join(', ')})`);
  const refusals = REFUSALS.filter((re) => re.test(text)).length;
  if (refusals) deduct(Math.min(0.4, 0.2 * refusals), `reports being unable, or an error (${refusals})`);
  const { overlap } = keywordOverlap([task.title, ...(task.acceptanceCriteria ?? [])].join(' '), new Set(words(text)));
  if (overlap !== null && overlap < 0.3) deduct(0.2, `mentions ${Math.round(overlap * 100)}% of the task's keywords`);
  else if (overlap !== null) reasons.push(`mentions ${Math.round(overlap * 100)}% of the task's keywords`);
  return { score: round(clamp01(score), 6), reasons };
}
