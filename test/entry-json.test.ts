/**
 * Journal records written from a template must be byte for byte what JSON.stringify writes,
 * whatever the entry: the template applies only to exact shapes, everything else falls back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryJson } from '../store/entry-json.js';
import type { JournalEntry } from '../store/types.js';

const id = fc.oneof(fc.constantFrom('t1', 'task-"quoted"', 'ünï\\côde', '\u2028', 'a\u0000b', '\ud800'), fc.string());
const time = fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.constantFrom(0.5, -0, 1e21, NaN, Infinity, -Infinity));
const type = fc.constantFrom('START', 'DEPENDENCIES_MET', 'UNBLOCK', 'RETRY_DUE', 'COMPLETE', 'FAIL', 'BLOCK', 'st"art');
const extra = fc.option(fc.dictionary(fc.constantFrom('x', 'toJSON', 'at', 'type'), fc.jsonValue()), { nil: undefined });
const event = fc.record({ type, at: time, result: fc.option(fc.jsonValue(), { nil: undefined }), extra }).map(({ type, at, result, extra }) => {
  const e: Record<string, unknown> = { type, at };
  if (result !== undefined) e.result = result;
  return extra ? Object.assign(e, extra) : e;
});
const reasons = fc.array(fc.constantFrom('has_dependents', 'deadline_within_1h', 'retried', 'other"reason'), { maxLength: 3 });
const change = fc.record({ from: time, to: time, reasons, at: time });
const entry = fc.oneof(
  fc.record({ k: fc.constant('ev'), t: id, e: event }),
  fc.record({ k: fc.constant('prio'), t: id, c: change }),
  fc.record({ k: fc.constant('ev'), e: event, t: id }), // keys in another order
  fc.record({ k: fc.constantFrom('add', 'ign', 'sup'), t: id, d: id }),
) as fc.Arbitrary<JournalEntry>;

describe('entryJson: a journal record as JSON', () => {
  it('is what JSON.stringify writes, for any entry', () => {
    let templated = 0;
    fc.assert(
      fc.property(entry, (e) => {
        const json = entryJson(e);
        expect(json).toBe(JSON.stringify(e));
        if (!json.includes('"result":{') && /"(START|DEPENDENCIES_MET|UNBLOCK|RETRY_DUE)"|"from"/.test(json)) templated++;
      }),
      { numRuns: 3_000, seed: 9 },
    );
    expect(templated).toBeGreaterThan(300);
  });

  it('writes the usual records of a lifecycle exactly', () => {
    const cases: JournalEntry[] = [
      { k: 'ev', t: 't1', e: { type: 'START', at: 1795977879673 } },
      { k: 'ev', t: 't1', e: { type: 'DEPENDENCIES_MET', at: 5 } },
      { k: 'ev', t: 't"1', e: { type: 'COMPLETE', at: 5, result: null } },
      { k: 'ev', t: 't1', e: { type: 'COMPLETE', at: 5, result: { ok: true } } },
      { k: 'prio', t: 't1', c: { from: 5, to: 6, reasons: ['has_dependents'], at: 7 } },
      { k: 'prio', t: 't1', c: { from: 6, to: 5, reasons: [], at: 7 } },
    ];
    for (const e of cases) expect(entryJson(e)).toBe(JSON.stringify(e));
    // A class instance with toJSON is never templated (JSON.stringify would call it).
    const odd = Object.assign(Object.create(Object.defineProperty({}, 'toJSON', { value: () => 'custom' })), { type: 'START', at: 1 });
    expect(entryJson({ k: 'ev', t: 't', e: odd })).toBe(JSON.stringify({ k: 'ev', t: 't', e: odd }));
  });

  it('falls back for what only JSON.stringify writes right: holes, toJSON anywhere, odd arrays', () => {
    const hidden = <T extends object>(o: T) => Object.defineProperty(o, 'toJSON', { value: () => 'custom', enumerable: false });
    const change = (reasons: unknown) => ({ k: 'prio', t: 't', c: { from: 1, to: 2, reasons, at: 3 } }) as unknown as JournalEntry;
    const cases: JournalEntry[] = [
      // eslint-disable-next-line no-sparse-arrays
      change([, 'retried']),
      change(hidden(['retried'])),
      change(Object.assign(['retried'], { join: () => 'joined' })),
      change(Object.setPrototypeOf(['retried'], null)),
      hidden({ k: 'ev', t: 't', e: { type: 'START', at: 1 } }) as JournalEntry,
      { k: 'ev', t: 't', e: hidden({ type: 'START', at: 1 }) } as JournalEntry,
      { k: 'prio', t: 't', c: hidden({ from: 1, to: 2, reasons: [], at: 3 }) } as unknown as JournalEntry,
    ];
    for (const e of cases) expect(entryJson(e)).toBe(JSON.stringify(e));
    const patched = Object.defineProperty(Object.prototype, 'toJSON', { value: () => 'patched', configurable: true });
    try {
      const e = { k: 'ev', t: 't', e: { type: 'START', at: 1 } } as JournalEntry;
      expect(entryJson(e)).toBe(JSON.stringify(e));
    } finally {
      delete (patched as { toJSON?: unknown }).toJSON;
    }
  });
});
