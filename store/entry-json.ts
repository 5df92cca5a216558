/**
 * A journal entry as JSON, as `JSON.stringify` writes it.
 *
 * Most of a journal is a handful of shapes a task's lifecycle makes: an event with only its
 * type and time (`START`, `DEPENDENCIES_MET`…), a completion without a result, a priority
 * change. Those are written from a template (about twice as fast as walking the objects:
 * at 100,000 tasks a run journals ~460,000 records); anything else, or anything not exactly
 * of those shapes (other keys or key order, a prototype, a `toJSON`, a hole, a number JSON
 * writes as null), goes through `JSON.stringify`. test/entry-json.test.ts holds the two to the
 * same text. Entries are data, as the runtime makes them: a getter is read once to check and
 * once to write.
 */
import type { JournalEntry } from './types.js';

const BARE_EVENTS = new Set(['START', 'DEPENDENCIES_MET', 'UNBLOCK', 'RETRY_DUE']);
const BOOSTS = new Set(['deadline_within_1h', 'has_dependents', 'retried']);

/**
 * `object` is a plain object without a `toJSON` (own or inherited, enumerable or not: JSON.stringify
 * would call it) whose enumerable keys are exactly `keys`, own and in that order (for…in: no array).
 */
function keysAre(object: object, keys: readonly string[]): boolean {
  if (Object.getPrototypeOf(object) !== Object.prototype || 'toJSON' in object) return false;
  let i = 0;
  for (const key in object) {
    if (key !== keys[i] || !Object.hasOwn(object, key)) return false;
    i++;
  }
  return i === keys.length;
}

/** A number JSON writes as String() does (not NaN, not ±Infinity, which JSON writes as null). */
const isFinite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const EV_KEYS = ['k', 't', 'e'];
const BARE_KEYS = ['type', 'at'];
const COMPLETE_KEYS = ['type', 'at', 'result'];
const PRIO_KEYS = ['k', 't', 'c'];
const CHANGE_KEYS = ['from', 'to', 'reasons', 'at'];

/** A plain array of boost reasons as JSON, or null for anything else (a hole, another value, a `toJSON`). */
function reasonsJson(list: unknown): string | null {
  if (!Array.isArray(list) || Object.getPrototypeOf(list) !== Array.prototype || 'toJSON' in list) return null;
  let json = '[';
  for (let i = 0; i < list.length; i++) {
    if (!Object.hasOwn(list, i)) return null;
    const reason: unknown = list[i];
    if (typeof reason !== 'string' || !BOOSTS.has(reason)) return null;
    json += i === 0 ? `"${reason}"` : `,"${reason}"`;
  }
  return `${json}]`;
}

export function entryJson(entry: JournalEntry): string {
  if (entry.k === 'ev' && typeof entry.t === 'string' && keysAre(entry, EV_KEYS)) {
    const e = entry.e as unknown as Record<string, unknown>;
    if (typeof e === 'object' && e !== null && isFinite(e.at)) {
      if (BARE_EVENTS.has(e.type as string) && keysAre(e, BARE_KEYS)) {
        return `{"k":"ev","t":${JSON.stringify(entry.t)},"e":{"type":"${e.type as string}","at":${e.at}}}`;
      }
      if (e.type === 'COMPLETE' && e.result === null && keysAre(e, COMPLETE_KEYS)) {
        return `{"k":"ev","t":${JSON.stringify(entry.t)},"e":{"type":"COMPLETE","at":${e.at},"result":null}}`;
      }
    }
  } else if (entry.k === 'prio' && typeof entry.t === 'string' && keysAre(entry, PRIO_KEYS)) {
    const c = entry.c as unknown as Record<string, unknown>;
    const reasons = typeof c === 'object' && c !== null && keysAre(c, CHANGE_KEYS) ? reasonsJson(c.reasons) : null;
    if (reasons !== null && isFinite(c.from) && isFinite(c.to) && isFinite(c.at)) {
      return `{"k":"prio","t":${JSON.stringify(entry.t)},"c":{"from":${c.from},"to":${c.to},"reasons":${reasons},"at":${c.at}}}`;
    }
  }
  return JSON.stringify(entry);
}
