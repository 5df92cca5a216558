/** JSON values: what task results, metadata and every actor context are made of. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Returns the problems that keep `value` from being stored as JSON exactly as given
 * (functions, undefined inside arrays, NaN, class instances, cycles...), each with its path.
 */
export function jsonProblems(value: unknown, path: string): string[] {
  const problems: string[] = [];
  const seen = new Set<object>();
  const walk = (v: unknown, p: string): void => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) problems.push(`${p}: ${v} is not a finite number`);
      return;
    }
    if (typeof v !== 'object') {
      problems.push(`${p}: a ${typeof v} cannot be stored as JSON`);
      return;
    }
    if (seen.has(v)) {
      problems.push(`${p}: circular reference`);
      return;
    }
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${p}[${i}]`));
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        problems.push(`${p}: a ${v.constructor?.name ?? 'class'} instance is not plain JSON`);
      } else {
        for (const [k, item] of Object.entries(v)) {
          if (item === undefined) continue;
          walk(item, `${p}.${k}`);
        }
      }
    }
    seen.delete(v);
  };
  walk(value, path);
  return problems;
}

/**
 * Freezes a JSON value and everything in it. Task state is handed out in views without
 * copying, so what a task keeps is frozen: a caller that mutates a view gets a
 * TypeError instead of silently rewriting the stored task.
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  // for…in, not Object.values: no array per object (a restore freezes several per task). It
  // walks an array's indexes and any other keys it has (structuredClone keeps those).
  for (const key in value) if (Object.hasOwn(value as object, key)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}
