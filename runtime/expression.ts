/**
 * Safe condition expressions for breakpoint rules written by users in config files, e.g.
 * `confidence < 0.6 && task.attempts >= 2` or `matches(changes.paths, "src/core/**")`.
 *
 * The source is parsed by a small recursive-descent (Pratt) parser (expression-syntax.ts) into a tree that is then
 * walked; nothing is ever handed to `eval` or `new Function`. The only things an expression can
 * reach are the own data properties of the plain objects and arrays in the context it is given,
 * and the only things it can call are the pure built-ins in `FUNCTIONS`. Getters are never
 * invoked, functions found in the data are never called, and there is no assignment, so an
 * expression can neither leak globals nor change anything. Input size, nesting and node count
 * are bounded so a hostile rule cannot exhaust the stack or the CPU. (The context itself is trusted
 * to be data: a Proxy placed in it by the host would still have its traps run.)
 *
 * Semantics a rule author should know:
 * - A missing path is `undefined`, not an error. Comparisons with `undefined`/`null` are false,
 *   arithmetic on them yields `undefined`, and `len()` of them is 0, so `x.y > 3` is false.
 * - `==`/`!=` are strict; arrays compare element-wise. `<`… need two numbers or two strings.
 * - `&&`/`and`, `||`/`or` return booleans; truthiness is JavaScript's.
 * - `!` binds tightly like JavaScript; `not` binds looser than comparisons like Python, so
 *   `not "a" in xs` means `not ("a" in xs)`. `x not in xs` is also accepted.
 * - Type errors (`"a" * 2`, `1 < "2"`) make `evaluate()` and `test()` throw `ExpressionError`.
 */
import { EXPRESSION_LIMITS, ExpressionError, FORBIDDEN, parse, type ExpressionNode, type Literal } from './expression-syntax.js';

export { EXPRESSION_LIMITS, ExpressionError, type ExpressionNode } from './expression-syntax.js';

export interface CompiledExpression {
  readonly source: string;
  /** The expression's value. Throws `ExpressionError` on a type error. */
  evaluate(context: unknown): unknown;
  /** Truthiness of `evaluate(context)`; throws like `evaluate` (a broken rule must be visible). */
  test(context: unknown): boolean;
  /** The dotted identifier paths it reads (`['confidence', 'task.attempts']`), sorted, unique. */
  readonly fields: readonly string[];
  /**
   * The values `path` must equal for the expression to be true, read from `path == literal`
   * tests joined by `&&` and `||`; null when no such test constrains it. A caller can skip an
   * expression whose `path` has none of these values without evaluating it.
   */
  valuesRequiredOf(path: string): readonly Literal[] | null;
  /**
   * Top-level names of which at least one must be present for the expression to be true:
   * when none of them is an own data property of the context, it is false (or throws). Read
   * from comparisons and `== literal` tests on dotted paths, joined by `&&` and `||`; null
   * when there is no such guarantee (`!x`, `x == null ? …`). A caller can skip the expression
   * for a context that has none of them.
   */
  readonly rootsRequired: readonly string[] | null;
}


// ---- evaluation -------------------------------------------------------------------------------

const missing = (v: unknown): v is undefined | null => v === undefined || v === null;
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
function isPlain(v: unknown): v is object {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
const lookupGetter = (Object.prototype as { __lookupGetter__(key: string): unknown }).__lookupGetter__;
/** An own *data* property's value: an accessor is never run (it reads as undefined), and neither are functions. */
export function dataValue(obj: object, key: string): unknown {
  if (!Object.hasOwn(obj, key)) return undefined;
  // An own accessor is never run. `__lookupGetter__` finds the own property first and gives its
  // getter (undefined for a data property, and for a setter-only accessor, which reads as
  // undefined anyway) without building a descriptor object: rules read facts at every
  // completion, and descriptors were ~1.4 KB of garbage per task at 100,000 tasks.
  if (lookupGetter.call(obj, key) !== undefined) return undefined;
  const value = (obj as Record<string, unknown>)[key];
  return typeof value === 'function' ? undefined : value;
}
/** The only way an expression reads data: own data properties of plain objects, and array indexes / `length`. */
function get(obj: unknown, key: unknown, fail: (problem: string) => never): unknown {
  if (typeof key === 'string' && FORBIDDEN.has(key)) fail(`property "${key}" is not accessible`);
  if (typeof key !== 'string' && typeof key !== 'number') return undefined; // no implicit ToString of arrays/objects
  if (Array.isArray(obj)) {
    if (key === 'length') return obj.length;
    const i = typeof key === 'number' ? key : /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : NaN;
    return Number.isInteger(i) && i >= 0 ? dataValue(obj, String(i)) : undefined;
  }
  return isPlain(obj) ? dataValue(obj, String(key)) : undefined;
}
function equal(a: unknown, b: unknown, fail: (problem: string) => never, depth = 0): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  if (depth > EXPRESSION_LIMITS.maxDepth) fail('arrays nested too deeply to compare');
  for (let i = 0; i < a.length; i++) if (!equal(dataValue(a, String(i)), dataValue(b, String(i)), fail, depth + 1)) return false;
  return true;
}
/** `needle in hay`: element of an array, substring of a string, or own key of a plain object. */
function member(needle: unknown, hay: unknown, fail: (problem: string) => never): boolean {
  if (missing(hay)) return false;
  if (Array.isArray(hay)) {
    for (let i = 0; i < hay.length; i++) if (equal(needle, dataValue(hay, String(i)), fail)) return true;
    return false;
  }
  if (typeof hay === 'string' && typeof needle === 'string') return hay.includes(needle);
  if (isPlain(hay) && (typeof needle === 'string' || typeof needle === 'number')) return Object.hasOwn(hay, String(needle));
  if (typeof hay === 'string' && missing(needle)) return false;
  return fail(`cannot look for ${typeName(needle)} in ${typeName(hay)}`);
}

/**
 * `items` against `pattern`, where a pattern element equal to `star` matches any run of items and any
 * other element must `fit` exactly one item. Bottom-up dynamic programming in O(|items|·|pattern|),
 * so no pattern can backtrack catastrophically.
 */
function wildcard<T>(items: readonly T[], pattern: readonly T[], star: T, fit: (item: T, p: T) => boolean): boolean {
  let next = items.map(() => false).concat(true); // the empty pattern matches only the empty rest
  for (let i = pattern.length - 1; i >= 0; i--) {
    const cur = next.map(() => false);
    for (let j = items.length; j >= 0; j--) {
      cur[j] = pattern[i] === star ? next[j]! || (j < items.length && cur[j + 1]!) : j < items.length && next[j + 1]! && fit(items[j]!, pattern[i]!);
    }
    next = cur;
  }
  return next[0]!;
}
/**
 * Glob over `/`-separated paths: a `**` segment matches zero or more segments, `*` any run of characters
 * within a segment, `?` one character; everything else is literal. No RegExp is built from user text.
 */
export function globMatch(path: string, glob: string): boolean {
  return wildcard(path.split('/'), glob.split('/'), '**', (seg, p) => wildcard([...seg], [...p], '*', (c, pc) => pc === '?' || pc === c));
}

type Fn = { min: number; max: number; call(args: unknown[], fail: (problem: string) => never): unknown };
const str = (v: unknown, fn: string, fail: (problem: string) => never): string => (typeof v === 'string' ? v : fail(`${fn}() needs a string, got ${typeName(v)}`));
const num = (v: unknown, fn: string, fail: (problem: string) => never): number => (typeof v === 'number' ? v : fail(`${fn}() needs a number, got ${typeName(v)}`));
/** The whole callable surface. All are pure; missing (`undefined`/`null`) inputs give a neutral answer rather than an error. */
const FUNCTIONS = new Map<string, Fn>([
  ['len', { min: 1, max: 1, call: ([x], fail) => (missing(x) ? 0 : typeof x === 'string' || Array.isArray(x) ? x.length : isPlain(x) ? Object.keys(x).length : fail(`len() needs a string, array or object, got ${typeName(x)}`)) }],
  ['lower', { min: 1, max: 1, call: ([s], fail) => (missing(s) ? undefined : str(s, 'lower', fail).toLowerCase()) }],
  ['upper', { min: 1, max: 1, call: ([s], fail) => (missing(s) ? undefined : str(s, 'upper', fail).toUpperCase()) }],
  ['contains', { min: 2, max: 2, call: ([hay, needle], fail) => member(needle, hay, fail) }],
  ['startsWith', { min: 2, max: 2, call: ([s, x], fail) => !missing(s) && str(s, 'startsWith', fail).startsWith(str(x, 'startsWith', fail)) }],
  ['endsWith', { min: 2, max: 2, call: ([s, x], fail) => !missing(s) && str(s, 'endsWith', fail).endsWith(str(x, 'endsWith', fail)) }],
  ['min', { min: 1, max: Infinity, call: (xs, fail) => (xs.some(missing) ? undefined : Math.min(...xs.map((x) => num(x, 'min', fail)))) }],
  ['max', { min: 1, max: Infinity, call: (xs, fail) => (xs.some(missing) ? undefined : Math.max(...xs.map((x) => num(x, 'max', fail)))) }],
  ['abs', { min: 1, max: 1, call: ([x], fail) => (missing(x) ? undefined : Math.abs(num(x, 'abs', fail))) }],
  // matches(path, glob); a path array matches when any of its string elements does.
  ['matches', { min: 2, max: 2, call: ([path, glob], fail) => {
    const g = str(glob, 'matches', fail);
    if (g.length > EXPRESSION_LIMITS.maxGlobLength) fail(`glob longer than ${EXPRESSION_LIMITS.maxGlobLength} characters`);
    if (missing(path)) return false;
    if (!Array.isArray(path)) return globMatch(str(path, 'matches', fail), g);
    for (let i = 0; i < path.length; i++) { const e = dataValue(path, String(i)); if (typeof e === 'string' && globMatch(e, g)) return true; }
    return false;
  } }],
]);

type Evaluator = (ctx: unknown) => unknown;

/**
 * The node as a function of the context, built once at compile time: a closure per node
 * (its `fail` included), so evaluating allocates nothing but results. Rules are evaluated
 * on every task event; the tree walker this replaces built two closures per node per
 * evaluation. Operands are evaluated left to right, as written.
 */
function compileNode(n: ExpressionNode, src: string): Evaluator {
  const fail = (problem: string): never => {
    throw new ExpressionError(problem, src, n.pos);
  };
  switch (n.k) {
    case 'lit': {
      const value = n.value;
      return () => value;
    }
    case 'arr': {
      const items = n.items.map((x) => compileNode(x, src));
      return (ctx) => items.map((item) => item(ctx));
    }
    case 'id': {
      const name = n.name;
      return (ctx) => get(ctx, name, fail);
    }
    case 'member': {
      const obj = compileNode(n.obj, src);
      const key = compileNode(n.key, src);
      return (ctx) => get(obj(ctx), key(ctx), fail);
    }
    case 'cond': {
      const c = compileNode(n.c, src);
      const t = compileNode(n.t, src);
      const f = compileNode(n.f, src);
      return (ctx) => (c(ctx) ? t(ctx) : f(ctx));
    }
    case 'call': {
      const fn = FUNCTIONS.get(n.fn)!;
      const args = n.args.map((x) => compileNode(x, src));
      return (ctx) => fn.call(args.map((arg) => arg(ctx)), fail);
    }
    case 'un': {
      const x = compileNode(n.x, src);
      if (n.op === '!') return (ctx) => !x(ctx);
      return (ctx) => {
        const v = x(ctx);
        return missing(v) ? undefined : typeof v === 'number' ? -v : fail(`cannot negate ${typeName(v)}`);
      };
    }
    case 'bin': {
      const a = compileNode(n.a, src);
      const b = compileNode(n.b, src);
      const op = n.op;
      switch (op) {
        case '&&': return (ctx) => Boolean(a(ctx)) && Boolean(b(ctx));
        case '||': return (ctx) => Boolean(a(ctx)) || Boolean(b(ctx));
        case '==': return (ctx) => equal(a(ctx), b(ctx), fail);
        case '!=': return (ctx) => !equal(a(ctx), b(ctx), fail);
        case 'in': return (ctx) => member(a(ctx), b(ctx), fail);
        case 'not in': return (ctx) => !member(a(ctx), b(ctx), fail);
        case '<': case '<=': case '>': case '>=':
          return (ctx) => {
            const x = a(ctx), y = b(ctx);
            if (missing(x) || missing(y)) return false;
            if (typeof x !== typeof y || (typeof x !== 'number' && typeof x !== 'string')) return fail(`cannot compare ${typeName(x)} with ${typeName(y)}`);
            const p = x as number, q = y as number; // both numbers or both strings, checked above
            return op === '<' ? p < q : op === '<=' ? p <= q : op === '>' ? p > q : p >= q;
          };
      }
      return (ctx) => {
        const x = a(ctx), y = b(ctx);
        if (missing(x) || missing(y)) return undefined;
        if (op === '+' && typeof x === 'string' && typeof y === 'string') return x + y;
        if (typeof x !== 'number' || typeof y !== 'number') return fail(`cannot apply "${op}" to ${typeName(x)} and ${typeName(y)}`);
        return op === '+' ? x + y : op === '-' ? x - y : op === '*' ? x * y : op === '/' ? x / y : x % y;
      };
    }
  }
}

/** `a.b.c` for a chain of dotted names rooted at an identifier, else undefined. */
function pathOf(n: ExpressionNode): string | undefined {
  if (n.k === 'id') return n.name;
  if (n.k !== 'member' || !n.dotted || n.key.k !== 'lit') return undefined;
  const base = pathOf(n.obj);
  return base === undefined ? undefined : `${base}.${String(n.key.value)}`;
}
function collectFields(n: ExpressionNode, out: Set<string>): void {
  const path = pathOf(n);
  if (path !== undefined) return void out.add(path);
  const children = n.k === 'arr' ? n.items : n.k === 'call' ? n.args : n.k === 'member' ? [n.obj, n.key] : n.k === 'un' ? [n.x] : n.k === 'bin' ? [n.a, n.b] : n.k === 'cond' ? [n.c, n.t, n.f] : [];
  for (const c of children) collectFields(c, out);
}

/** See `CompiledExpression.valuesRequiredOf`: true only if ⇒ `path` is one of the result. */
function valuesRequired(n: ExpressionNode, path: string): Literal[] | null {
  if (n.k !== 'bin') return null;
  if (n.op === '&&') {
    const a = valuesRequired(n.a, path), b = valuesRequired(n.b, path);
    return a === null ? b : b === null ? a : a.filter((x) => b.includes(x));
  }
  if (n.op === '||') {
    const a = valuesRequired(n.a, path), b = valuesRequired(n.b, path);
    return a === null || b === null ? null : [...new Set([...a, ...b])];
  }
  // `==` is strict equality for anything but arrays, and a literal is never an array.
  if (n.op === '==' && pathOf(n.a) === path && n.b.k === 'lit') return [n.b.value];
  if (n.op === '==' && pathOf(n.b) === path && n.a.k === 'lit') return [n.a.value];
  return null;
}

/**
 * See `CompiledExpression.rootsRequired`. A dotted path whose root is absent reads as
 * undefined (or throws, for a forbidden key), so a comparison with it is false and so is
 * `==` with a literal (never undefined). `&&` is false when either side is; `||` when both are.
 */
function rootsRequired(n: ExpressionNode): string[] | null {
  if (n.k !== 'bin') return null;
  if (n.op === '&&') {
    const a = rootsRequired(n.a), b = rootsRequired(n.b);
    return a === null ? b : b === null ? a : a.length <= b.length ? a : b;
  }
  if (n.op === '||') {
    const a = rootsRequired(n.a), b = rootsRequired(n.b);
    return a === null || b === null ? null : [...new Set([...a, ...b])];
  }
  const compares = n.op === '<' || n.op === '<=' || n.op === '>' || n.op === '>=';
  if (!compares && n.op !== '==') return null;
  for (const [side, other] of [[n.a, n.b], [n.b, n.a]] as const) {
    const path = pathOf(side);
    if (path !== undefined && (compares || other.k === 'lit')) return [path.split('.')[0]!];
  }
  return null;
}

/** Parses and checks `source`; throws `ExpressionError` naming the problem and its position. */
export function compileExpression(source: string): CompiledExpression {
  if (typeof source !== 'string') throw new ExpressionError('expression must be a string', String(source), 0);
  const ast = parse(source, (problem, position) => { throw new ExpressionError(problem, source, position); }, FUNCTIONS);
  const fields = new Set<string>();
  collectFields(ast, fields);
  const evaluate: Evaluator = compileNode(ast, source);
  return Object.freeze({
    source,
    fields: Object.freeze([...fields].sort()),
    evaluate,
    test: (context: unknown) => Boolean(evaluate(context)),
    rootsRequired: freezeOrNull(rootsRequired(ast)),
    valuesRequiredOf: (path: string) => {
      const values = valuesRequired(ast, path);
      return values && Object.freeze(values);
    },
  });
}

const freezeOrNull = <T>(list: T[] | null): readonly T[] | null => list && Object.freeze(list);

/** Compiles and evaluates in one step (compile once and reuse the result for hot paths). */
export function evaluateExpression(source: string, context: unknown): unknown {
  return compileExpression(source).evaluate(context);
}
