/**
 * The syntax stage: parses every changed file whose type it knows and reports where it
 * breaks. JSON with JSON.parse (the position found by a small scanner, since V8's messages
 * often omit it), YAML with the `yaml` package, JS/MJS/CJS with `node --check` in a child
 * process (so Node's own parser decides, ESM or CommonJS as Node would run it; a `.js` module is
 * checked as a module too, see checkNode), TS/TSX/JSX
 * with the TypeScript compiler's syntactic diagnostics, loaded lazily because `typescript`
 * is optional at run time. Score: the share of checked files that parse.
 */
import { execFile } from 'node:child_process';
import { extname } from 'node:path';
import type TS from 'typescript';
import YAML from 'yaml';
import type { FileSnapshot, Validator, ValidatorOutcome } from './types.js';

type Found = ValidatorOutcome['issues'][number];
type Checker = (file: FileSnapshot & { content: string }, signal: AbortSignal) => Promise<Found[]>;

export const SYNTAX_WEIGHT = 0.25;
/** How long one `node --check` may take. */
const NODE_CHECK_TIMEOUT_MS = 30_000;

const CHECKERS: Record<string, Checker> = {
  '.json': async (f) => checkJson(f.path, f.content),
  '.yaml': async (f) => checkYaml(f.path, f.content),
  '.yml': async (f) => checkYaml(f.path, f.content),
  '.js': checkNode,
  '.mjs': checkNode,
  '.cjs': checkNode,
  '.ts': checkTypeScript,
  '.mts': checkTypeScript,
  '.cts': checkTypeScript,
  '.tsx': checkTypeScript,
  '.jsx': checkTypeScript,
};

/** The file types the syntax stage checks. */
export const SYNTAX_EXTENSIONS: readonly string[] = Object.keys(CHECKERS);

export function syntaxValidator(options: { weight?: number } = {}): Validator {
  return {
    name: 'syntax',
    weight: options.weight ?? SYNTAX_WEIGHT,
    async validate({ files, signal }): Promise<ValidatorOutcome> {
      const issues: Found[] = [];
      const checked: string[] = [];
      const broken: string[] = [];
      for (const file of files) {
        const checker = CHECKERS[extname(file.path).toLowerCase()];
        if (!checker || file.content === null) continue;
        checked.push(file.path);
        const found = await checker(file as FileSnapshot & { content: string }, signal);
        issues.push(...found);
        if (found.some((i) => i.severity === 'error')) broken.push(file.path);
      }
      if (checked.length === 0) return { score: 1, issues: [], skipped: true, details: { reason: 'no changed file of a type it parses' } };
      return { score: (checked.length - broken.length) / checked.length, issues, details: { checked, broken } };
    },
  };
}

export function checkJson(file: string, text: string): Found[] {
  try {
    JSON.parse(text);
    return [];
  } catch (err) {
    const at = jsonErrorOffset(text);
    const where = at === null ? {} : lineColumn(text, at);
    return [{ severity: 'error', code: 'syntax', file, ...where, message: `invalid JSON: ${(err as Error).message.split('\n')[0]}` }];
  }
}

export function checkYaml(file: string, text: string): Found[] {
  const out: Found[] = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    for (const [severity, list] of [['error', doc.errors], ['warning', doc.warnings]] as const) {
      for (const e of list) {
        const pos = e.linePos?.[0];
        out.push({
          severity,
          code: 'syntax',
          file,
          ...(pos ? { line: pos.line, column: pos.col } : {}),
          message: `invalid YAML: ${e.message.split('\n')[0]}`,
        });
      }
    }
  }
  return out;
}

/**
 * `node --check` exits 1 and prints `path:line`, the source line, a caret, and the error.
 *
 * A `.js` file outside a `"type": "module"` package is checked as CommonJS, and Node 20.19+
 * then retries one that does not parse as CommonJS as a module (syntax detection) without
 * reporting the module's own errors: a broken file with `import` or `export` passed. So when
 * `node --check` passes a `.js` file, it is checked again from stdin, as CommonJS and, if that
 * fails, as a module, and a file that is neither is reported with the module's error.
 */
async function checkNode(file: FileSnapshot & { content: string }, signal: AbortSignal): Promise<Found[]> {
  const found = await nodeCheck(file, signal, ['--check', file.absPath], file.absPath);
  if (found.length > 0 || extname(file.path).toLowerCase() !== '.js') return found;
  if ((await nodeCheck(file, signal, ['--check', '--input-type=commonjs'], '[stdin]')).length === 0) return [];
  return nodeCheck(file, signal, ['--check', '--input-type=module'], '[stdin]');
}

/** One `node` syntax check: of the file named in `args`, or of its content on stdin (`located` is how node names it). */
function nodeCheck(file: FileSnapshot & { content: string }, signal: AbortSignal, args: string[], located: string): Promise<Found[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { signal, timeout: NODE_CHECK_TIMEOUT_MS, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve([]);
      if (signal.aborted) return reject(err);
      // Killed by our time limit, or node could not start: the file was not judged.
      if (typeof err.code !== 'number') return resolve([{ severity: 'warning', code: 'unchecked', file: file.path, message: `node --check could not check ${file.path}: ${err.killed ? `no answer within ${NODE_CHECK_TIMEOUT_MS} ms` : err.message}` }]);
      const line = new RegExp(`^${escapeRegExp(located)}:(\\d+)`, 'm').exec(stderr);
      const message = /^(\w*Error: .*)$/m.exec(stderr)?.[1] ?? (stderr.trim().split('\n')[0] || err.message);
      resolve([{ severity: 'error', code: 'syntax', file: file.path, ...(line ? { line: Number(line[1]) } : {}), message: `node --check: ${message}` }]);
    });
    if (!args.includes(file.absPath)) {
      child.stdin?.on('error', () => {}); // EPIPE if node exits before reading it all
      child.stdin?.end(file.content);
    }
  });
}

let typescript: Promise<typeof TS | null> | undefined;
/** `typescript` is a devDependency: without it TS files are reported unchecked, not failed. */
function loadTypeScript(): Promise<typeof TS | null> {
  typescript ??= import('typescript').then(
    (m) => ((m as { default?: typeof TS }).default ?? (m as unknown as typeof TS)),
    () => null,
  );
  return typescript;
}

async function checkTypeScript(file: FileSnapshot & { content: string }): Promise<Found[]> {
  const ts = await loadTypeScript();
  if (!ts) return [{ severity: 'info', code: 'unchecked', file: file.path, message: 'not syntax-checked: the `typescript` package is not installed' }];
  // transpileModule reports syntactic diagnostics only: no type checking, no imports resolved.
  const { diagnostics = [] } = ts.transpileModule(file.content, {
    fileName: file.path,
    reportDiagnostics: true,
    compilerOptions: { target: ts.ScriptTarget.ESNext, jsx: ts.JsxEmit.Preserve, allowJs: true },
  });
  return diagnostics
    .filter((d) => d.file !== undefined && d.category === ts.DiagnosticCategory.Error)
    .map((d) => {
      const pos = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      return {
        severity: 'error' as const,
        code: 'syntax',
        file: file.path,
        line: pos.line + 1,
        column: pos.character + 1,
        message: `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
      };
    });
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The offset where a JSON text stops being JSON, or null if this scanner finds none (it
 * follows RFC 8259; JSON.parse has the final word on validity, this only locates).
 */
export function jsonErrorOffset(text: string): number | null {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const string = () => {
    i++; // the opening quote
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 34) return void i++;
      if (c < 32) fail();
      if (c === 92) {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 5;
        } else if ('"\\/bfnrt'.includes(text[i] ?? 'x')) i++;
        else fail();
      } else i++;
    }
    fail();
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const number = () => {
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail();
    i = NUMBER.lastIndex;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return container('}', true);
    if (c === '[') return container(']', false);
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    number();
  };
  const container = (close: string, object: boolean): void => {
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      if (object) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
      }
      value();
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === close) return void i++;
      else fail();
    }
  };
  try {
    value();
    ws();
    return i < text.length ? i : null;
  } catch (at) {
    // A RangeError means nesting deeper than the stack: leave the position unknown.
    return typeof at === 'number' ? Math.min(at, text.length) : null;
  }
}
