/**
 * Breakpoint condition expressions: what they compute, which fields they read, how they
 * report mistakes, and — the point of the module — that no expression can reach beyond
 * the data it is given, call anything, change anything or exhaust the process.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import {
  compileExpression,
  evaluateExpression,
  EXPRESSION_LIMITS,
  ExpressionError,
  globMatch,
} from '../runtime/expression.js';

/** What a breakpoint rule sees when a task attempt finishes. */
function facts() {
  return {
    confidence: 0.55,
    task: { id: 'build-api', attempts: 2, labels: ['ci', 'flaky'], meta: { owner: 'ana', 'retry-after': 30 }, result: null },
    project: { name: 'overseer', consecutiveFailures: 3 },
    error: { kind: 'rate_limit', message: 'Too Many Requests', retryAfterMs: 30_000 },
    tests: { newlyFailing: ['auth.test.ts'], passed: 120, failed: 1, suites: [{ name: 'unit', ms: 1200 }] },
    changes: { paths: ['src/core/engine.ts', 'docs/readme.md'], linesAdded: 420, linesRemoved: 10 },
    empty: {},
  };
}

function compileError(source: string): ExpressionError {
  try {
    compileExpression(source);
  } catch (e) {
    expect(e).toBeInstanceOf(ExpressionError);
    return e as ExpressionError;
  }
  throw new Error(`expected ${JSON.stringify(source.slice(0, 60))} not to compile`);
}

describe('evaluation', () => {
  const cases: [string, unknown][] = [
    // literals
    ['42', 42],
    ['0.5', 0.5],
    ['"dq"', 'dq'],
    ["'sq'", 'sq'],
    ['"a\\"b\\\\c\\n"', 'a"b\\c\n'],
    ["'it\\'s'", "it's"],
    ['"\\u0041"', 'A'],
    ['true', true],
    ['false', false],
    ['null', null],
    ['[1, "a", [true]]', [1, 'a', [true]]],
    ['[]', []],
    // paths and indexes
    ['confidence', 0.55],
    ['task.attempts', 2],
    ['task.meta.owner', 'ana'],
    ['task.meta["retry-after"]', 30],
    ['task["meta"]["owner"]', 'ana'],
    ['task.labels[1]', 'flaky'],
    ['task.labels["0"]', 'ci'],
    ['task.labels.length', 2],
    ['task.labels[5]', undefined],
    ['task.labels[-1]', undefined],
    ['task.labels[0.5]', undefined],
    ['tests.suites[0].name', 'unit'],
    ['task.labels[task.attempts - 1]', 'flaky'],
    ['task.result', null],
    ['nope', undefined],
    ['nope.deeper.still', undefined],
    ['task.id.length', undefined], // strings have no properties; use len()
    ['[10, 20][1]', 20],
    // arithmetic
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['7 % 4', 3],
    ['9 / 2', 4.5],
    ['-task.attempts', -2],
    ['--3', 3],
    ['"ab" + "cd"', 'abcd'],
    ['nope + 1', undefined],
    ['changes.linesAdded + changes.linesRemoved > 400', true],
    // comparisons and equality
    ['confidence < 0.6', true],
    ['task.attempts >= 2', true],
    ['task.attempts > 2', false],
    ['task.attempts <= 2', true],
    ['"abc" < "abd"', true],
    ['error.kind == "rate_limit"', true],
    ['error.kind != "rate_limit"', false],
    ['1 == "1"', false],
    ['null == null', true],
    ['task.result == null', true],
    ['nope == null', false],
    ['[1, [2, 3]] == [1, [2, 3]]', true],
    ['[1, 2] == [1, 2, 3]', false],
    ['task.labels == ["ci", "flaky"]', true],
    ['task.meta == task.meta', true],
    ['x.y > 3', false],
    ['x.y < 3', false],
    ['null < 1', false],
    // in
    ['"ci" in task.labels', true],
    ['"src/core/engine.ts" in changes.paths', true],
    ['"src/core" in changes.paths', false], // element, not prefix: use matches()
    ['"Many" in error.message', true],
    ['"owner" in task.meta', true],
    ['"toString" in task.meta', false],
    ['"x" in nope', false],
    ['[2] in [[1], [2]]', true],
    ['"nightly" not in task.labels', true],
    ['"ci" not in task.labels', false],
    // logic
    ['confidence < 0.6 && task.attempts >= 2', true],
    ['confidence < 0.5 and task.attempts >= 2', false],
    ['confidence < 0.5 || project.consecutiveFailures >= 3', true],
    ['false or 0', false],
    ['"x" && 1', true],
    ['nope.a && nope.b', false],
    ['!true', false],
    ['!nope', true],
    ['!!task', true],
    ['not true', false],
    ['not "ci" in task.labels', false], // Python-style: not ("ci" in labels)
    ['not task.attempts == 2 or true', true],
    ['!task.attempts == false', true], // `!` binds tightly: (!2) == false
    ['task.attempts > 1 ? "retrying" : "first"', 'retrying'],
    ['nope ? 1 : 2', 2],
    ['a ? 1 : b ? 2 : 3', 3],
    ['true ? false ? 1 : 2 : 3', 2],
    // functions
    ['len(tests.newlyFailing) > 0', true],
    ['len("héllo")', 5],
    ['len(task.meta)', 2],
    ['len(nope)', 0],
    ['lower(error.message)', 'too many requests'],
    ['upper("abc")', 'ABC'],
    ['lower(nope)', undefined],
    ['contains(error.message, "Many")', true],
    ['contains(task.labels, "ci")', true],
    ['startsWith(task.id, "build")', true],
    ['endsWith(task.id, "api")', true],
    ['startsWith(nope, "x")', false],
    ['min(3, 1, 2)', 1],
    ['max(task.attempts, project.consecutiveFailures)', 3],
    ['max(1, nope)', undefined],
    ['abs(-2.5)', 2.5],
    ['matches("src/core/engine.ts", "src/**")', true],
    ['matches("src/core/engine.ts", "src/*.ts")', false],
    ['matches("src/core/engine.ts", "src/*/*.ts")', true],
    ['matches("src/core/engine.ts", "**/engine.?s")', true],
    ['matches(changes.paths, "src/core/**")', true],
    ['matches(changes.paths, "test/**")', false],
    ['matches(nope, "**")', false],
    ['len(changes.paths) > 1 && matches(changes.paths, "docs/*.md")', true],
  ];
  it.each(cases)('%s → %j', (source, expected) => {
    expect(compileExpression(source).evaluate(facts())).toEqual(expected);
    expect(evaluateExpression(source, facts())).toEqual(expected);
  });

  it('test() is the truthiness of the value', () => {
    expect(compileExpression('task.attempts').test(facts())).toBe(true);
    expect(compileExpression('nope').test(facts())).toBe(false);
    expect(compileExpression('error.kind == "rate_limit" && confidence < 0.6').test(facts())).toBe(true);
  });

  it('a context that is not a plain object has no fields', () => {
    for (const ctx of [undefined, null, 3, 'str', [1], new Map([['a', 1]]), new Date()]) {
      expect(compileExpression('a').evaluate(ctx)).toBeUndefined();
    }
    expect(compileExpression('a').evaluate(Object.assign(Object.create(null), { a: 1 }))).toBe(1);
    expect(compileExpression('m.size').evaluate({ m: new Map([[1, 2]]) })).toBeUndefined();
    expect(compileExpression('d.x').evaluate({ d: Object.assign(new (class Box {})(), { x: 1 }) })).toBeUndefined();
  });

  it('type errors throw ExpressionError at the operator, from evaluate() and test()', () => {
    const cases: [string, string, number][] = [
      ['"a" * 2', 'cannot apply "*" to string and number', 4],
      ['1 + "2"', 'cannot apply "+" to number and string', 2],
      ['task.attempts < "3"', 'cannot compare number with string', 14],
      ['true < false', 'cannot compare boolean with boolean', 5],
      ['-"x"', 'cannot negate string', 0],
      ['len(3)', 'len() needs a string, array or object, got number', 0],
      ['lower(1)', 'lower() needs a string, got number', 0],
      ['1 in "abc"', 'cannot look for number in string', 2],
      ['"a" in 3', 'cannot look for string in number', 4],
      ['matches("a", 1)', 'matches() needs a string, got number', 0],
      ['min(1, "2")', 'min() needs a number, got string', 0],
    ];
    for (const [source, problem, position] of cases) {
      const compiled = compileExpression(source);
      for (const run of [() => compiled.evaluate(facts()), () => compiled.test(facts())]) {
        expect(run).toThrow(ExpressionError);
        try {
          run();
        } catch (e) {
          expect(e).toMatchObject({ problem, position, source, message: `${problem} at ${position}` });
        }
      }
    }
  });

  it('short-circuits: the right side is not evaluated when the left decides', () => {
    expect(compileExpression('false && "a" * 2').evaluate({})).toBe(false);
    expect(compileExpression('true || "a" * 2').evaluate({})).toBe(true);
    expect(compileExpression('true ? 1 : "a" * 2').evaluate({})).toBe(1);
  });
});

describe('fields', () => {
  const cases: [string, string[]][] = [
    ['confidence < 0.6 && task.attempts >= 2', ['confidence', 'task.attempts']],
    ['task.attempts > 1 || task.attempts == 0', ['task.attempts']],
    ['len(tests.newlyFailing) > 0', ['tests.newlyFailing']],
    ['"src/core" in changes.paths', ['changes.paths']],
    ['tests.suites[0].name == "unit"', ['tests.suites']],
    ['task.labels[task.attempts]', ['task.attempts', 'task.labels']],
    ['task.meta["owner"]', ['task.meta']],
    ['z ? b.c : a', ['a', 'b.c', 'z']],
    ['[x, y.z]', ['x', 'y.z']],
    ['1 + 2', []],
    ['len("x")', []],
  ];
  it.each(cases)('%s reads %j', (source, fields) => {
    expect(compileExpression(source).fields).toEqual(fields);
  });
});

describe('valuesRequiredOf: the values a path must have for the expression to hold', () => {
  const cases: [string, (string | number)[] | null][] = [
    ['event == "task.completed" && task.milestone == true', ['task.completed']],
    ['(event == "a" && x > 1) || (event == "b" && len(y) > 0)', ['a', 'b']],
    ['"a" == event || event == "a"', ['a']],
    ['event == "a" && event == "b"', []],
    ['event == "a" || x > 1', null],
    ['event != "a"', null],
    ['!(event == "a")', null],
    ['event == "a" ? x : y', null],
    ['confidence < 0.6', null],
    ['event.kind == "a"', null],
    ['event == 5', [5]],
  ];
  it.each(cases)('%s: %j', (source, values) => {
    expect(compileExpression(source).valuesRequiredOf('event')).toEqual(values);
  });

  it('is sound: an expression that holds has its path among those values', () => {
    const sources = cases.map(([source]) => source);
    const facts = fc.record({
      event: fc.constantFrom('a', 'b', 'task.completed', 'c', 5, null),
      x: fc.integer({ min: 0, max: 3 }),
      y: fc.array(fc.integer(), { maxLength: 2 }),
      confidence: fc.double({ min: 0, max: 1, noNaN: true }),
      task: fc.record({ milestone: fc.boolean() }),
    });
    let held = 0;
    fc.assert(
      fc.property(fc.constantFrom(...sources), facts, (source, f) => {
        const compiled = compileExpression(source);
        const values = compiled.valuesRequiredOf('event');
        let holds = false;
        try {
          holds = compiled.test(f);
        } catch {
          return; // a type error is not "holds"
        }
        if (holds) held++;
        if (holds && values !== null) expect(values).toContain(f.event);
      }),
      { numRuns: 2_000, seed: 3 },
    );
    expect(held).toBeGreaterThan(200);
  });
});

describe('rootsRequired: top-level facts of which the expression needs one to hold', () => {
  const cases: [string, string[] | null][] = [
    ['tests.newlyFailingCount > 0', ['tests']],
    ['confidence < 0.6', ['confidence']],
    ['0.6 > confidence', ['confidence']],
    ['error.kind == "rate_limit"', ['error']],
    ['x == null', ['x']],
    ['event == "task.completed" && task.milestone == true', ['event']],
    ['x > 1 || y.z < 2', ['x', 'y']],
    ['x > 1 || !y', null],
    ['!x', null],
    ['x != 1', null],
    ['x == y', null],
    ['len(x) > 0', null],
    ['x ? y > 1 : false', null],
    ['x > 1 && y > 2', ['x']],
  ];
  it.each(cases)('%s: %j', (source, roots) => {
    expect(compileExpression(source).rootsRequired).toEqual(roots);
  });

  it('is sound: with none of those facts present, the expression does not hold', () => {
    const sources = [...cases.map(([source]) => source), '(x == 1 || y.z == "a") && confidence >= 0'];
    // Each fact present or absent, and present ones sometimes null, 0, false or the empty string.
    const value = fc.oneof(fc.constantFrom(null, 0, false, '', 1, 'a'), fc.integer(), fc.record({ z: fc.constantFrom('a', 1, null), newlyFailingCount: fc.integer({ min: 0, max: 2 }), kind: fc.constantFrom('rate_limit', 'x'), milestone: fc.boolean() }, { requiredKeys: [] }));
    const facts = fc.record({ x: value, y: value, tests: value, confidence: value, error: value, task: value, event: fc.constantFrom('task.completed', 'a') }, { requiredKeys: [] });
    let skipped = 0;
    fc.assert(
      fc.property(fc.constantFrom(...sources), facts, (source, f) => {
        const compiled = compileExpression(source);
        const roots = compiled.rootsRequired;
        if (roots === null || roots.some((root) => Object.hasOwn(f, root))) return;
        skipped++;
        let holds = false;
        try {
          holds = compiled.test(f);
        } catch {
          return; // a type error is not "holds"
        }
        expect(holds).toBe(false);
      }),
      { numRuns: 5_000, seed: 7 },
    );
    expect(skipped).toBeGreaterThan(300);
  });
});

describe('parse errors name the problem and its position', () => {
  const cases: [string, string][] = [
    ['(confidence < 1))', 'unexpected ")" at 16'],
    ['confidence <', 'unexpected end of input at 12'],
    ['', 'unexpected end of input at 0'],
    ['a b', 'unexpected "b" at 2'],
    ['a +* b', 'unexpected "*" at 3'],
    ['[1, 2', 'unexpected end of input at 5'],
    ['[1 2]', 'unexpected "2" at 3'],
    ['f(1)', 'unknown function "f" at 0'],
    ['len()', 'len() takes 1 argument, got 0 at 0'],
    ['contains("a")', 'contains() takes 2 arguments, got 1 at 0'],
    ['min()', 'min() takes at least 1 argument, got 0 at 0'],
    ['"abc', 'unterminated string at 0'],
    ['"a\\qb"', 'invalid escape "\\q" at 2'],
    ['a ? b', 'unexpected end of input at 5'],
    ['task.', 'unexpected end of input at 5'],
    ['task.1', 'unexpected "1" at 5'],
    ['1.2.3', 'invalid number at 0'],
    ['0x10', 'invalid number at 0'],
    ['1e3', 'invalid number at 0'],
    ['a === b', 'assignment "=" is not allowed at 4'],
    ['a & b', 'unexpected "&" at 2'],
    ['and', 'unexpected "and" at 0'],
    ['a in', 'unexpected end of input at 4'],
  ];
  it.each(cases)('%j → %s', (source, message) => {
    const e = compileError(source);
    expect(e.message).toBe(message);
    expect(e.source).toBe(source);
    expect(e.position).toBe(Number(message.split(' at ').pop()));
  });
});

describe('limits', () => {
  it('source length', () => {
    expect(() => compileExpression(`"${'a'.repeat(1996)}"`)).not.toThrow(); // 1998 chars
    expect(compileError('1 + '.repeat(600) + '1').message).toMatch(/^expression longer than 2000 characters at 2000$/);
    expect(compileError(`"${'a'.repeat(1_000_000)}"`).position).toBe(EXPRESSION_LIMITS.maxLength);
  });
  it('nesting depth', () => {
    const nested = (n: number) => '('.repeat(n) + '1' + ')'.repeat(n);
    expect(compileExpression(nested(64)).evaluate({})).toBe(1);
    expect(compileError(nested(65))).toMatchObject({ message: 'nesting deeper than 64 at 64', position: 64 });
    expect(compileError('!'.repeat(65) + 'a').problem).toBe('nesting deeper than 64');
    expect(compileError('['.repeat(65) + ']'.repeat(65)).problem).toBe('nesting deeper than 64');
    expect(compileError('len('.repeat(65) + '1' + ')'.repeat(65)).problem).toBe('nesting deeper than 64');
    expect(compileError('a?'.repeat(65) + '1' + ':1'.repeat(65)).problem).toBe('nesting deeper than 64');
  });
  it('node count', () => {
    expect(compileExpression('1+'.repeat(400) + '1').evaluate({})).toBe(401);
    expect(compileError('1+'.repeat(600) + '1').problem).toBe('expression has more than 1000 nodes');
    expect(compileError('a' + '.b'.repeat(600)).problem).toBe('expression has more than 1000 nodes');
  });
  it('globs are linear-time and bounded', () => {
    const start = performance.now();
    expect(globMatch('a'.repeat(3000), '*a'.repeat(400) + 'b')).toBe(false);
    expect(globMatch('a/'.repeat(500) + 'b', '**/'.repeat(200) + 'c')).toBe(false);
    expect(performance.now() - start).toBeLessThan(2_000);
    const long = compileExpression('matches("x", g)');
    expect(() => long.evaluate({ g: '*'.repeat(1001) })).toThrow('glob longer than 1000 characters at 0');
    expect(globMatch('a/b/c', '**')).toBe(true);
    expect(globMatch('a', 'a/**')).toBe(true);
    expect(globMatch('a.ts', '[a].ts')).toBe(false); // brackets are literal
    expect(globMatch('[a].ts', '[a].ts')).toBe(true);
    expect(globMatch('a+b(c)', 'a+b(c)')).toBe(true);
  });
});

describe('injection corpus', () => {
  type Outcome = 'compile' | 'runtime' | { value: unknown };
  const harmless = (value: unknown): Outcome => ({ value });
  const corpus: [string, Outcome][] = [
    // prototype and constructor access
    ['__proto__', 'compile'],
    ['constructor', 'compile'],
    ['prototype', 'compile'],
    ['task.__proto__', 'compile'],
    ['task.constructor', 'compile'],
    ['task["__proto__"]', 'compile'],
    ["task['constructor']", 'compile'],
    ['task["prototype"]', 'compile'],
    ['task["con" + "structor"]', 'runtime'],
    ['task[key]', 'runtime'], // the context's `key` is "__proto__"
    ['task[lower("CONSTRUCTOR")]', 'runtime'],
    ['task[["constructor"]]', harmless(undefined)], // no implicit ToString of an array key
    ['toString.constructor', 'compile'],
    ['toString', harmless(undefined)],
    ['task.toString', harmless(undefined)],
    ['task.hasOwnProperty', harmless(undefined)],
    ['task.__defineGetter__', harmless(undefined)],
    ['task.labels.map', harmless(undefined)],
    ['"abc".length', harmless(undefined)],
    ['"constructor" in task', harmless(false)],
    ['"__proto__" in task', harmless(false)],
    ['[].constructor.constructor("return process")()', 'compile'],
    ['[]["constructor"]["constructor"]("return process")()', 'compile'],
    ['task.hasOwnProperty("id")', 'compile'],
    ['Object.prototype.polluted', 'compile'],
    ['__proto__.polluted = 1', 'compile'],
    ['task.__proto__.polluted', 'compile'],
    ['task["__proto__"]["polluted"]', 'compile'],
    ['Object.assign(task.__proto__, {polluted: 1})', 'compile'],
    // globals
    ['process', harmless(undefined)],
    ['process.exit(1)', 'compile'],
    ['process.exitCode', harmless(undefined)],
    ['globalThis', harmless(undefined)],
    ['globalThis.process.exit(1)', 'compile'],
    ['global.process', harmless(undefined)],
    ['this', 'compile'],
    ['this.constructor', 'compile'],
    ['require("fs")', 'compile'],
    ['require', harmless(undefined)],
    ['Function("x")', 'compile'],
    ['eval("1")', 'compile'],
    ['import("fs")', 'compile'],
    ['import.meta', 'compile'],
    ['setTimeout("1", 0)', 'compile'],
    ['fetch("http://example.com")', 'compile'],
    ['(len)("abc")', 'compile'],
    ['len.call(null, "x")', 'compile'],
    ['arguments', harmless(undefined)],
    // syntax from JavaScript that is not part of the language
    ['`${process.exit(1)}`', 'compile'],
    ['`abc`', 'compile'],
    ['/abc/.test("abc")', 'compile'],
    ['a = 1', 'compile'],
    ['a += 1', 'compile'],
    ['a++', 'compile'],
    ['x => x', 'compile'],
    ['(x) => process', 'compile'],
    ['function () { return 1 }', 'compile'],
    ['new Function("return process")', 'compile'],
    ['new Date()', 'compile'],
    ['typeof process', 'compile'],
    ['delete task.id', 'compile'],
    ['void 0', 'compile'],
    ['1; process.exit(1)', 'compile'],
    ['true // comment', 'compile'],
    ['true /* comment */', 'compile'],
    ['# comment', 'compile'],
    ['{}.constructor', 'compile'],
    ['({}).polluted', 'compile'],
    ['task?.id', 'compile'],
    ['task ?? 1', 'compile'],
    ['[...task.labels]', 'compile'],
    ['1, process', 'compile'],
    ['task.id.at(0)', 'compile'],
    // escapes and look-alikes
    ['\\u005f_proto__', 'compile'],
    ['task.\\u0063onstructor', 'compile'],
    ['task["\\u005f_proto__"]', 'compile'],
    ['task["\\u0063onstructor"]', 'compile'],
    ['task["\\x63onstructor"]', 'compile'],
    ['task.ｃonstructor', 'compile'], // fullwidth letter
    ['task.constru\u200bctor', 'compile'], // zero-width space,
    ['$', 'compile'],
    // data that carries code
    ['fn', harmless(undefined)],
    ['fn()', 'compile'],
    ['ctx.fn', harmless(undefined)],
    ['ctx.fn()', 'compile'],
    ['len(ctx.fn)', harmless(0)],
    ['ctx.fn == ctx.fn', harmless(true)], // both undefined: never the function itself
    ['ctx.secret', harmless(undefined)], // a getter
    ['ctx.secret > 0', harmless(false)],
    ['ctx.sink', harmless(undefined)], // a setter without a getter
    ['len(ctx)', harmless(5)],
    ['"secret" in ctx', harmless(true)],
    ['ctx.list[0]', harmless(undefined)], // an index getter
    ['ctx.list == [1]', harmless(false)],
    ['1 in ctx.list', harmless(false)],
    ['matches(ctx.list, "*")', harmless(false)],
    ['ctx.instance.x', harmless(undefined)],
    // denial of service
    ['('.repeat(10_000) + '1' + ')'.repeat(10_000), 'compile'],
    ['('.repeat(500) + '1' + ')'.repeat(500), 'compile'],
    [`"${'a'.repeat(1_000_000)}"`, 'compile'],
    ['!'.repeat(1500) + 'x', 'compile'],
    ['-'.repeat(1999) + '1', 'compile'],
    ['1+'.repeat(999) + '1', 'compile'],
    ['matches("' + 'a'.repeat(900) + '", "' + '*a'.repeat(80) + 'b")', harmless(false)],
  ];

  let called = 0;
  let getterRan = false;
  const context = () => {
    const ctx = {
      fn: () => ++called,
      list: [] as unknown[],
      instance: Object.assign(new (class Thing {})(), { x: 1, fn: () => ++called }),
    };
    Object.defineProperty(ctx, 'secret', { enumerable: true, get: () => ((getterRan = true), 1) });
    Object.defineProperty(ctx, 'sink', { enumerable: true, set: () => void (getterRan = true) });
    Object.defineProperty(ctx.list, 0, { enumerable: true, get: () => ((getterRan = true), 1) });
    return { ...facts(), key: '__proto__', fn: () => ++called, ctx };
  };

  const exitCode = process.exitCode;
  const snapshot = () => ({
    globals: Object.getOwnPropertyNames(globalThis).sort(),
    object: Object.getOwnPropertyNames(Object.prototype).sort(),
    array: Object.getOwnPropertyNames(Array.prototype).sort(),
    fn: Object.getOwnPropertyNames(Function.prototype).sort(),
    string: Object.getOwnPropertyNames(String.prototype).sort(),
  });
  let before: ReturnType<typeof snapshot>;
  let exit: MockInstance<typeof process.exit>;
  beforeAll(() => {
    before = snapshot();
    exit = vi.spyOn(process, 'exit').mockImplementation(() => {
      throw new Error('process.exit reached');
    });
  });

  it('has at least 40 attempts', () => expect(corpus.length).toBeGreaterThanOrEqual(40));

  it.each(corpus.map(([source, outcome]) => [source.length > 60 ? `${source.slice(0, 40)}… (${source.length} chars)` : source, source, outcome] as const))(
    '%s',
    (_label, source, outcome) => {
      if (outcome === 'compile') {
        compileError(source);
        return;
      }
      const compiled = compileExpression(source);
      if (outcome === 'runtime') {
        expect(() => compiled.evaluate(context())).toThrow(/not accessible/);
        return;
      }
      expect(compiled.evaluate(context())).toEqual(outcome.value);
    },
  );

  it('fuzz: any source compiles or throws ExpressionError, and evaluation touches nothing', () => {
    const pieces = ['task', 'ctx', 'fn', 'secret', 'list', '__proto__', 'constructor', 'prototype', 'process', 'this', 'len', 'matches', 'min',
      '"__proto__"', '"con"', '"structor"', "'x'", '0', '1', '2.5', 'true', 'null', '.', '[', ']', '(', ')', ',', '+', '-', '*', '/', '%',
      '!', 'not', 'in', 'and', 'or', '&&', '||', '==', '!=', '<', '>=', '?', ':', '=', ';', '`', '\\', ' '];
    const source = fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.constantFrom(...pieces), { maxLength: 30 }).map((xs) => xs.join(' ')));
    fc.assert(
      fc.property(source, (src) => {
        let compiled;
        try {
          compiled = compileExpression(src);
        } catch (e) {
          expect(e).toBeInstanceOf(ExpressionError);
          return;
        }
        try {
          compiled.evaluate(context());
        } catch (e) {
          expect(e).toBeInstanceOf(ExpressionError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('refused names are named in the error', () => {
    expect(compileError('task.constructor')).toMatchObject({ message: 'property "constructor" is not accessible at 5', position: 5 });
    expect(compileError('process.exit(1)').message).toMatch(/^only built-in functions can be called \(len, .*\) at 12$/);
    expect(compileError('new Date()').message).toBe('"new" is not allowed at 0');
    expect(compileError('x => x').message).toBe('arrow functions are not allowed at 2');
    expect(compileError('`x`').message).toBe('template literals are not allowed at 0');
    expect(compileError('a; b').message).toBe('unexpected ";" at 1');
    expect(compileError('\\u005f_proto__').message).toBe('unexpected "\\" at 0');
    expect(() => compileExpression('task[k]').evaluate({ task: {}, k: 'prototype' })).toThrow('property "prototype" is not accessible at 4');
  });

  afterAll(() => exit.mockRestore());

  it('left the process, the globals and the prototypes untouched', () => {
    expect(called).toBe(0);
    expect(getterRan).toBe(false);
    expect(exit).not.toHaveBeenCalled();
    expect(process.exitCode).toBe(exitCode);
    expect(snapshot()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});
