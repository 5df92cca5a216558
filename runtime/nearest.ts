/**
 * "Did you mean …?": the known name nearest a misspelled one (a plan field, a rule's fact),
 * by edit distance, when it is near enough to be the likely intent.
 */

/** Levenshtein distance (names are short: the table is small). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The candidate nearest `word` (case aside), or null when none is within a third of its
 * length in edits: `task.attemps` → `task.attempts`, `dependson` → `dependsOn`; a short word
 * (`cd`, `if`) is too short to guess from.
 */
export function nearest(word: string, candidates: Iterable<string>): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.floor(word.length / 3) ? best : null;
}
