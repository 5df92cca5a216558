/**
 * zod's issues in the words the rest of the API uses (`must be at most 10, got 99`), and the
 * schema of a task's quality settings, which both plan files and `scheduleTask` check.
 */
import { z } from 'zod';
import { describe } from './describe.js';

/** A task's `quality` settings (metadata.quality; `quality:` in a plan). */
export const qualityConfig = z.strictObject({
  acceptanceCriteria: z.array(z.string().min(1)).optional(),
  testCommand: z.string().min(1).optional(),
  gate: z.strictObject({ minScore: z.number().min(0).max(1), maxErrors: z.number().int().min(0).optional() }).optional(),
  maxRetries: z.number().int().min(0).max(100).optional(),
});

/** The problems of `value` as quality settings, each named from `path`. */
export function qualityConfigProblems(value: unknown, path: string): string[] {
  const parsed = qualityConfig.safeParse(value);
  return parsed.success ? [] : formatIssues(parsed.error.issues, path);
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string[] {
  return issues.flatMap((issue) => {
    const at = [prefix, pathOf(issue.path)].filter(Boolean).join(prefix && issue.path.length && typeof issue.path[0] !== 'number' ? '.' : '');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${at ? `${at}.` : ''}${k}: unknown field`);
    return [`${at || '(top level)'}: ${issueMessage(issue)}`];
  });
}


/** How a type zod expected reads in a message. */
const EXPECTED: Record<string, string> = { int: 'a whole number', array: 'a list', object: 'a mapping (key: value)', boolean: 'true or false' };

/** zod's issues in the words the API uses (`must be at most 10, got 99`). */
function issueMessage(issue: z.core.$ZodIssue): string {
  const got = 'input' in issue ? `, got ${describe(issue.input)}` : '';
  switch (issue.code) {
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}${got}`;
    case 'too_small':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `must not be empty${got}`
        : `must be ${issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}${got}`;
    case 'invalid_type':
      return `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}${got}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}${got}`;
    default:
      return issue.message;
  }
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}
