/**
 * The syntax of breakpoint condition expressions (runtime/expression.ts): the tokens, the
 * recursive-descent (Pratt) parser that turns a source into a tree, and the limits it
 * enforces on length, nesting and size. Nothing here evaluates anything.
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

export type Literal = string | number | boolean | null;
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
export const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);
/** JavaScript words that only make sense as code; refused so a rule cannot look like it does something it doesn't. */
const RESERVED = new Set(['this', 'new', 'function', 'typeof', 'instanceof', 'void', 'delete', 'import', 'export', 'return', 'class', 'super', 'yield', 'await', 'var', 'let', 'const']);
/** Maps, never plain objects, for every lookup keyed by user text: `ESCAPES["constructor"]` must not find anything. */
const ESCAPES = new Map([['\\', '\\'], ['"', '"'], ["'", "'"], ['n', '\n'], ['t', '\t'], ['r', '\r']]);
const BINARY = new Map([['||', 1], ['&&', 2], ['==', 3], ['!=', 3], ['<', 4], ['<=', 4], ['>', 4], ['>=', 4], ['+', 5], ['-', 5], ['*', 6], ['/', 6], ['%', 6]]);
const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '!', '?', ':', '(', ')', '[', ']', ',', '.'];
const WORDS = new Map([['and', '&&'], ['or', '||'], ['in', 'in']]);

interface Token { t: 'num' | 'str' | 'name' | 'op' | 'eof'; v: string; pos: number; value?: Literal }
export type Fail = (problem: string, position: number) => never;

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

/** How many arguments each callable function takes (the evaluator's table). */
export type Arities = ReadonlyMap<string, { min: number; max: number }>;

/** Parses `src` into a tree, enforcing the limits and the functions' arities; `fail` throws. */
export function parse(src: string, fail: Fail, functions: Arities): ExpressionNode {
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
        return fail(`only built-in functions can be called (${[...functions.keys()].join(', ')})`, t.pos);
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
      const fn = functions.get(t.v);
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
