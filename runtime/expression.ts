/**
 * Safe condition expressions for breakpoint rules written by users in config files, e.g.
 * `confidence < 0.6 && task.attempts >= 2` or `matches(changes.paths, "src/core/**")`.
 *
 * The source is parsed by a small recursive-descent (Pratt) parser into a tree that is then
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
import { OverseerError } from './errors.js';

/** Bounds on what `compileExpression` accepts. */
export const EXPRESSION_LIMITS = Object.freeze({ maxLength: 2000, maxDepth: 64, maxNodes: 1000, maxGlobLength: 1000 });

/** A parse, limit or evaluation problem; `position` is the 0-based index in `source`. */
export class ExpressionError extends OverseerError {
  override name = 'ExpressionError';
  constructor(
    readonly problem: string,
    readonly source: string,
    readonly position: number,
  ) {
    super(`${problem} at ${position}`);
  }
}

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
}

type Literal = string | number | boolean | null;
/** The syntax tree. `pos` is where the node (or its operator) starts in the source. */
export type ExpressionNode =
  | { k: 'lit'; pos: number; value: Literal }
  | { k: 'arr'; pos: number; items: ExpressionNode[] }
  | { k: 'id'; pos: number; name: string }
  | { k: 'member'; pos: number; obj: ExpressionNode; key: ExpressionNode; dotted: boolean }
  | { k: 'un'; pos: number; op: '!' | '-'; x: ExpressionNode }
  | { k: 'bin'; pos: number; op: string; a: ExpressionNode; b: ExpressionNode }
  | { k: 'cond'; pos: number; c: ExpressionNode; t: ExpressionNode; f: ExpressionNode }
  | { k: 'call'; pos: number; fn: string; args: ExpressionNode[] };

/** Names that lead from data to prototypes and constructors, refused at compile time (and at run time for computed keys). */
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);
/** JavaScript words that only make sense as code; refused so a rule cannot look like it does something it doesn't. */
const RESERVED = new Set(['this', 'new', 'function', 'typeof', 'instanceof', 'void', 'delete', 'import', 'export', 'return', 'class', 'super', 'yield', 'await', 'var', 'let', 'const']);
/** Maps, never plain objects, for every lookup keyed by user text: `ESCAPES["constructor"]` must not find anything. */
const ESCAPES = new Map([['\\', '\\'], ['"', '"'], ["'", "'"], ['n', '\n'], ['t', '\t'], ['r', '\r']]);
const BINARY = new Map([['||', 1], ['&&', 2], ['==', 3], ['!=', 3], ['<', 4], ['<=', 4], ['>', 4], ['>=', 4], ['+', 5], ['-', 5], ['*', 6], ['/', 6], ['%', 6]]);
const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '!', '?', ':', '(', ')', '[', ']', ',', '.'];
const WORDS = new Map([['and', '&&'], ['or', '||'], ['in', 'in']]);

interface Token { t: 'num' | 'str' | 'name' | 'op' | 'eof'; v: string; pos: number; value?: Literal }
type Fail = (problem: string, position: number) => never;

/** Sticky patterns: each matches only at `lastIndex`, and none can backtrack more than linearly. */
const SPACE = /[ \t\r\n]+/y, NUMBER = /[0-9]+(\.[0-9]+)?/y, NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

function lex(src: string, fail: Fail): Token[] {
  const toks: Token[] = [];
  const at = (re: RegExp, i: number): string | undefined => ((re.lastIndex = i), re.exec(src)?.[0]);
  for (let i = 0; i < src.length; ) {
    const c = src[i]!, start = i, space = at(SPACE, i), number = at(NUMBER, i), name = at(NAME, i);
    if (space !== undefined) i += space.length;
    else if (number !== undefined) {
      i += number.length;
      if (/[A-Za-z0-9_$.]/.test(src[i] ?? '')) fail('invalid number', start); // 0x1, 1e5, 1.2.3, 1.x
      toks.push({ t: 'num', v: number, pos: start, value: Number(number) });
    } else if (name !== undefined) {
      i += name.length;
      toks.push({ t: 'name', v: name, pos: start });
    } else if (c === '"' || c === "'") {
      let out = '';
      for (i++; src[i] !== c; ) {
        if (i >= src.length) fail('unterminated string', start);
        if (src[i] !== '\\') { out += src[i++]; continue; }
        const e = src[i + 1] ?? '', hex = src.slice(i + 2, i + 6), esc = ESCAPES.get(e);
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(hex)) { out += String.fromCharCode(parseInt(hex, 16)); i += 6; continue; }
        if (esc === undefined) fail(`invalid escape "\\${e}"`, i);
        out += esc; i += 2;
      }
      toks.push({ t: 'str', v: src.slice(start, ++i), pos: start, value: out });
    } else {
      const op = OPERATORS.find((o) => src.startsWith(o, i));
      if (op === undefined) {
        // `\u005f` in a name, `=`, `;`, backticks, braces, `@`, `#`… none is part of the language.
        if (c === '=') fail(src[i + 1] === '>' ? 'arrow functions are not allowed' : 'assignment "=" is not allowed', i);
        fail(c === '`' ? 'template literals are not allowed' : `unexpected "${c}"`, i);
      }
      toks.push({ t: 'op', v: op, pos: i });
      i += op.length;
    }
  }
  toks.push({ t: 'eof', v: '', pos: src.length });
  return toks;
}

/** Parses `src` into a tree, enforcing the limits; throws `ExpressionError`. */
function parse(src: string, fail: Fail): ExpressionNode {
  if (src.length > EXPRESSION_LIMITS.maxLength) fail(`expression longer than ${EXPRESSION_LIMITS.maxLength} characters`, EXPRESSION_LIMITS.maxLength);
  const toks = lex(src, fail);
  let p = 0, depth = 0, nodes = 0;
  const peek = (): Token => toks[p]!;
  const is = (v: string, t: Token = peek()): boolean => (t.t === 'op' || t.t === 'name') && t.v === v;
  const unexpected = (t: Token): never => fail(t.t === 'eof' ? 'unexpected end of input' : `unexpected ${t.t === 'str' ? 'string' : `"${t.v}"`}`, t.pos);
  const expect = (v: string): void => void (is(v) ? p++ : unexpected(peek()));
  const mk = <N extends ExpressionNode>(n: N): N => (++nodes > EXPRESSION_LIMITS.maxNodes ? fail(`expression has more than ${EXPRESSION_LIMITS.maxNodes} nodes`, n.pos) : n);
  // Every construct that recurses (brackets, calls, unary operators, ternaries) goes through here, so
  // no input can exhaust the parser's stack; with the node limit that also bounds the evaluator's.
  const nest = <T>(pos: number, f: () => T): T => {
    if (++depth > EXPRESSION_LIMITS.maxDepth) fail(`nesting deeper than ${EXPRESSION_LIMITS.maxDepth}`, pos);
    const r = f();
    return depth--, r;
  };
  const checkKey = (n: ExpressionNode): void => {
    if (n.k === 'lit' && typeof n.value === 'string' && FORBIDDEN.has(n.value)) fail(`property "${n.value}" is not accessible`, n.pos);
  };
  const list = (close: string): ExpressionNode[] => {
    const items: ExpressionNode[] = [];
    for (; !is(close); is(close) || expect(',')) items.push(expr());
    return p++, items;
  };

  function expr(): ExpressionNode {
    const c = binary(1);
    if (!is('?')) return c;
    const pos = toks[p++]!.pos;
    return nest(pos, () => mk({ k: 'cond', pos, c, t: expr(), f: (expect(':'), expr()) }));
  }
  function binary(min: number): ExpressionNode {
    let a = unary();
    for (;;) {
      const t = peek();
      let op = t.t === 'op' ? t.v : t.t === 'name' ? WORDS.get(t.v) : undefined;
      let width = 1;
      if (t.t === 'name' && t.v === 'not' && is('in', toks[p + 1])) [op, width] = ['not in', 2];
      const prec = op === 'in' || op === 'not in' ? 4 : op === undefined ? undefined : BINARY.get(op);
      if (op === undefined || prec === undefined || prec < min) return a;
      p += width;
      a = mk({ k: 'bin', pos: t.pos, op, a, b: binary(prec + 1) });
    }
  }
  function unary(): ExpressionNode {
    const t = peek();
    if (is('!') || is('-')) {
      p++;
      return nest(t.pos, () => mk({ k: 'un', pos: t.pos, op: t.v as '!' | '-', x: unary() }));
    }
    // Python-style: `not` takes a whole comparison as its operand.
    if (is('not')) { p++; return nest(t.pos, () => mk({ k: 'un', pos: t.pos, op: '!', x: binary(3) })); }
    return postfix(primary());
  }
  function postfix(n: ExpressionNode): ExpressionNode {
    for (;;) {
      const t = peek();
      if (is('.')) {
        const name = toks[++p]!;
        if (name.t !== 'name') unexpected(name);
        p++;
        const key = mk({ k: 'lit', pos: name.pos, value: name.v });
        checkKey(key);
        n = mk({ k: 'member', pos: name.pos, obj: n, key, dotted: true });
      } else if (is('[')) {
        p++;
        const key = nest(t.pos, expr);
        expect(']'), checkKey(key);
        n = mk({ k: 'member', pos: t.pos, obj: n, key, dotted: false });
      } else if (is('(')) {
        return fail(`only built-in functions can be called (${[...FUNCTIONS.keys()].join(', ')})`, t.pos);
      } else return n;
    }
  }
  function primary(): ExpressionNode {
    const t = toks[p++]!;
    if (t.t === 'num' || t.t === 'str') return mk({ k: 'lit', pos: t.pos, value: t.value! });
    if (is('(', t)) return nest(t.pos, () => { const e = expr(); expect(')'); return e; });
    if (is('[', t)) return nest(t.pos, () => mk({ k: 'arr', pos: t.pos, items: list(']') }));
    if (t.t !== 'name' || WORDS.has(t.v) || t.v === 'not') return unexpected(t);
    if (t.v === 'true' || t.v === 'false') return mk({ k: 'lit', pos: t.pos, value: t.v === 'true' });
    if (t.v === 'null') return mk({ k: 'lit', pos: t.pos, value: null });
    if (RESERVED.has(t.v)) fail(`"${t.v}" is not allowed`, t.pos);
    if (is('(')) {
      const fn = FUNCTIONS.get(t.v);
      if (fn === undefined) fail(`unknown function "${t.v}"`, t.pos);
      p++;
      const args = nest(t.pos, () => list(')'));
      if (args.length < fn.min || args.length > fn.max) fail(`${t.v}() takes ${fn.max === Infinity ? `at least ${fn.min}` : fn.min} argument${fn.min === 1 ? '' : 's'}, got ${args.length}`, t.pos);
      return mk({ k: 'call', pos: t.pos, fn: t.v, args });
    }
    if (FORBIDDEN.has(t.v)) fail(`property "${t.v}" is not accessible`, t.pos);
    return mk({ k: 'id', pos: t.pos, name: t.v });
  }

  const root = expr();
  if (peek().t !== 'eof') unexpected(peek());
  return root;
}

// ---- evaluation -------------------------------------------------------------------------------

const missing = (v: unknown): v is undefined | null => v === undefined || v === null;
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
function isPlain(v: unknown): v is object {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
/** An own *data* property's value: the descriptor is read, so a getter is never run; functions read as undefined. */
export function dataValue(obj: object, key: string): unknown {
  if (!Object.hasOwn(obj, key)) return undefined; // most reads of facts miss: no descriptor to build
  const d = Object.getOwnPropertyDescriptor(obj, key);
  return d !== undefined && 'value' in d && typeof d.value !== 'function' ? d.value : undefined;
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
            const [p, q] = [x, y] as [number, number]; // both numbers or both strings, checked above
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

/** Parses and checks `source`; throws `ExpressionError` naming the problem and its position. */
export function compileExpression(source: string): CompiledExpression {
  if (typeof source !== 'string') throw new ExpressionError('expression must be a string', String(source), 0);
  const ast = parse(source, (problem, position) => { throw new ExpressionError(problem, source, position); });
  const fields = new Set<string>();
  collectFields(ast, fields);
  const evaluate: Evaluator = compileNode(ast, source);
  return Object.freeze({
    source,
    fields: Object.freeze([...fields].sort()),
    evaluate,
    test: (context: unknown) => Boolean(evaluate(context)),
    valuesRequiredOf: (path: string) => {
      const values = valuesRequired(ast, path);
      return values && Object.freeze(values);
    },
  });
}

/** Compiles and evaluates in one step (compile once and reuse the result for hot paths). */
export function evaluateExpression(source: string, context: unknown): unknown {
  return compileExpression(source).evaluate(context);
}
