/**
 * The quality stage: cheap, line-by-line heuristics over the changed files. Each finding is
 * an issue with its file and line, and costs the score a fixed penalty (PENALTIES), so the
 * same files always score the same: score = max(0, 1 − Σ penalties).
 *
 *   secret        error    AWS access key ids (AKIA + 16), private key headers, `password = "…"`
 *   entropy       warning  a 32+ char hex or 40+ char base64 token with high Shannon entropy
 *                          (likely a credential; lockfiles are exempt, their hashes are expected)
 *   todo          warning  TODO / FIXME / XXX left in the change (their total penalty is capped)
 *   empty-file    warning  a created or modified file with nothing but whitespace
 *   large-change  warning  more than `maxLinesAdded` lines added in all (created files count
 *                          every line; modified ones their `linesAdded` when the caller gave it)
 */
import { basename } from 'node:path';
import type { Severity, Validator, ValidatorOutcome } from './types.js';

export const QUALITY_WEIGHT = 0.2;
export const DEFAULT_MAX_LINES_ADDED = 400;
export const PENALTIES = { secret: 0.4, entropy: 0.2, todo: 0.05, 'empty-file': 0.15, 'large-change': 0.1 } as const;
/** A change with fifty TODOs is bad, but not worse than a leaked key. */
export const MAX_TODO_PENALTY = 0.3;
/** Bits per character above which a token looks random. Hex tops out at 4, base64 at 6. */
export const ENTROPY_THRESHOLDS = { hex: 3.0, base64: 4.2 } as const;

type Found = ValidatorOutcome['issues'][number];

const SECRET_PATTERNS: Array<{ re: RegExp; what: string }> = [
  { re: /\b(AKIA[0-9A-Z]{16})\b/, what: 'an AWS access key id' },
  { re: /(-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----)/, what: 'a private key' },
  { re: /(password\s*[:=]\s*['"][^'"\s]+)/i, what: 'a hard-coded password' },
];
const HEX_TOKEN = /\b[0-9a-fA-F]{32,}\b/g;
const BASE64_TOKEN = /[A-Za-z0-9+/_-]{40,}={0,2}/g;
const TODO = /\b(TODO|FIXME|XXX)\b/;
const LOCKFILE = /(^|[.-])lock(\.json|\.ya?ml)?$|\.lock$/i;

export function qualityValidator(options: { weight?: number; maxLinesAdded?: number } = {}): Validator {
  const maxLinesAdded = options.maxLinesAdded ?? DEFAULT_MAX_LINES_ADDED;
  return {
    name: 'quality',
    weight: options.weight ?? QUALITY_WEIGHT,
    async validate({ files }): Promise<ValidatorOutcome> {
      const readable = files.filter((f) => f.content !== null);
      if (readable.length === 0) return { score: 1, issues: [], skipped: true, details: { reason: 'no changed file to read' } };
      const issues: Found[] = [];
      let linesAdded = 0;
      let unknownSize = 0;
      for (const file of readable) {
        const text = file.content!;
        const lines = text.split(/\r?\n/);
        if (file.kind === 'created') linesAdded += text === '' ? 0 : lines.length - (text.endsWith('\n') ? 1 : 0);
        else if (file.linesAdded !== undefined) linesAdded += file.linesAdded;
        else unknownSize++;
        if (text.trim() === '') {
          issues.push({ severity: 'warning', code: 'empty-file', file: file.path, message: `${file.path} is empty` });
          continue;
        }
        issues.push(...scanLines(file.path, lines));
      }
      if (linesAdded > maxLinesAdded) {
        issues.push({ severity: 'warning', code: 'large-change', message: `${linesAdded} lines added (more than ${maxLinesAdded}): hard to review; split the change` });
      }
      let todoPenalty = 0;
      let penalty = 0;
      for (const issue of issues) {
        const p = PENALTIES[issue.code as keyof typeof PENALTIES] ?? 0;
        if (issue.code === 'todo') todoPenalty += p;
        else penalty += p;
      }
      penalty += Math.min(MAX_TODO_PENALTY, todoPenalty);
      const counts: Record<string, number> = {};
      for (const issue of issues) counts[issue.code] = (counts[issue.code] ?? 0) + 1;
      return {
        score: Math.max(0, 1 - penalty),
        issues,
        details: { linesAdded, filesOfUnknownSize: unknownSize, maxLinesAdded, findings: counts },
      };
    },
  };
}

/** Secrets, random-looking tokens and TODOs, each with its 1-based line. */
export function scanLines(file: string, lines: readonly string[]): Found[] {
  const out: Found[] = [];
  const lockfile = LOCKFILE.test(basename(file));
  const push = (severity: Severity, code: string, line: number, message: string) => out.push({ severity, code, file, line, message });
  lines.forEach((text, i) => {
    const line = i + 1;
    let secret = false;
    for (const { re, what } of SECRET_PATTERNS) {
      const m = re.exec(text);
      if (m) {
        secret = true;
        push('error', 'secret', line, `${what} in ${file}:${line} (${redact(m[1]!)}): move it to the environment or a secret store`);
      }
    }
    if (!secret && !lockfile) {
      const token = randomToken(text);
      if (token) push('warning', 'entropy', line, `a random-looking ${token.kind} token in ${file}:${line} (${redact(token.value)}, ${token.bits.toFixed(1)} bits/char): a credential?`);
    }
    const todo = TODO.exec(text);
    if (todo) push('warning', 'todo', line, `${todo[1]} left in ${file}:${line}: ${text.trim().slice(0, 100)}`);
  });
  return out;
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

function randomToken(text: string): { kind: 'hex' | 'base64'; value: string; bits: number } | null {
  for (const m of text.matchAll(HEX_TOKEN)) {
    const bits = entropy(m[0]);
    if (bits >= ENTROPY_THRESHOLDS.hex) return { kind: 'hex', value: m[0], bits };
  }
  for (const m of text.matchAll(BASE64_TOKEN)) {
    // Paths and identifiers are long too; a credential mixes cases and digits.
    if (!/[a-z]/.test(m[0]) || !/[A-Z]/.test(m[0]) || !/\d/.test(m[0])) continue;
    const bits = entropy(m[0]);
    if (bits >= ENTROPY_THRESHOLDS.base64) return { kind: 'base64', value: m[0], bits };
  }
  return null;
}

/** Enough of a secret to find it, not enough to use it. */
function redact(s: string): string {
  return s.length <= 8 ? '****' : `${s.slice(0, 4)}…${'*'.repeat(4)}`;
}
