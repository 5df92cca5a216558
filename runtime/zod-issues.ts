/**
 * zod's issues in the words the rest of the API uses (`must be at most 10, got 99`), and the
 * schema of a task's quality settings, which both plan files and `scheduleTask` check.
 */
import { z } from 'zod';
import { describe } from './describe.js';
import { nearest } from './nearest.js';

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
  return parsed.success ? [] : formatIssues(parsed.error.issues, path, qualityConfig);
}

/**
 * Each issue as `path: problem`. Given the `schema` that was checked, an unknown field is
 * told the known one it likely meant (`dependencies: unknown field; did you mean "dependsOn"?`).
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: string, schema?: z.ZodType): string[] {
  return issues.flatMap((issue) => {
    const at = [prefix, pathOf(issue.path)].filter(Boolean).join(prefix && issue.path.length && typeof issue.path[0] !== 'number' ? '.' : '');
    if (issue.code === 'unrecognized_keys') {
      // A field the object already has is not what was meant.
      const given = issue.input !== null && typeof issue.input === 'object' ? Object.keys(issue.input) : [];
      const known = (schema ? keysAt(schema, issue.path) : []).filter((k) => !given.includes(k));
      return issue.keys.map((k) => {
        const near = (ALIASES[k.toLowerCase()] ?? []).find((a) => known.includes(a)) ?? nearest(k, known);
        return `${at ? `${at}.` : ''}${k}: unknown field${near ? `; did you mean "${near}"?` : ''}`;
      });
    }
    return [`${at || '(top level)'}: ${issueMessage(issue)}`];
  });
}

/** Names other tools give a field (GitHub Actions' `needs`, a shell's `cd`…), by what they mean here (the first one the object has). */
const ALIASES: Readonly<Record<string, readonly string[]>> = {
  dependencies: ['dependsOn'], depends_on: ['dependsOn'], depends: ['dependsOn'], needs: ['dependsOn'], after: ['dependsOn'], requires: ['dependsOn'],
  cmd: ['command'], run: ['command'], script: ['command'], shell: ['command'],
  cd: ['cwd'], dir: ['cwd'], workdir: ['cwd'], working_directory: ['cwd'], directory: ['cwd'],
  maxretries: ['retries'], max_retries: ['retries'], retry: ['retries'],
  timeoutms: ['timeout'], timeout_ms: ['timeout'],
  name: ['title', 'id'], steps: ['tasks'], jobs: ['tasks'], parallelism: ['concurrency'],
};

/** The fields of the object `schema` holds at `path` (through optional, nullable, default, arrays and unions). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let here: z.core.$ZodType | undefined = schema;
  for (let i = 0; here !== undefined; ) {
    const def = here._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default' || def.type === 'prefault') here = def.innerType as z.core.$ZodType;
    else if (def.type === 'union') here = (def.options as z.core.$ZodType[]).find((o) => o._zod.def.type === 'object');
    else if (i === path.length) return def.type === 'object' ? Object.keys(def.shape as object) : [];
    else if (def.type === 'array' && typeof path[i] === 'number') (here = def.element as z.core.$ZodType), i++;
    else if (def.type === 'object' && typeof path[i] === 'string') (here = (def.shape as Record<string, z.core.$ZodType>)[path[i] as string]), i++;
    else return [];
  }
  return [];
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
