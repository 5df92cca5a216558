/**
 * Store images across schema versions: check the shape, migrate older versions,
 * refuse newer ones.
 *
 * Version 1 kept tasks in an object keyed by id. JavaScript orders integer-like keys
 * ("1", "42") before all others, so ids such as "1" came back out of scheduling
 * order, and restore relies on that order (dependencies first). Version 2 keeps an array.
 *
 * Version 3 writes each task compactly (store/task-codec.ts); an image in memory
 * (`StoreImage`) keeps the shape of version 2, so reading version 3 decodes its tasks.
 */
import { markIfExtended, TASK_STATES } from '../machines/task.js';
import { StoreCorruptError, StoreVersionError } from './errors.js';
import { decodeTask, isRecord } from './task-codec.js';
import { SCHEMA_VERSION, type StoreImage, type StoredTask } from './types.js';

interface ImageV1 {
  schemaVersion: 1;
  seq: number;
  savedAt: number;
  supervisor: StoreImage['supervisor'];
  tasks: Record<string, Omit<StoredTask, 'context'> & { context: StoredTask['context'] & { seq?: number } }>;
  /** v1 recorded scheduling order separately, as ids. */
  order: string[];
}

/** Each step takes an image of version v to version v + 1, in the shape an image has in memory. */
const migrations: Record<number, (image: never) => unknown> = {
  1: (image: ImageV1) => ({
    schemaVersion: 2,
    seq: image.seq,
    savedAt: image.savedAt,
    supervisor: image.supervisor,
    tasks: image.order.map((id) => image.tasks[id]),
  }),
  // Version 3 changed how tasks are written, not what an image holds.
  2: (image: StoreImage) => {
    for (const task of Array.isArray(image.tasks) ? image.tasks : []) if (isRecord(task?.context)) markIfExtended(task.context);
    return { ...image, schemaVersion: 3 };
  },
};

/** The version 3 image with its tasks decoded; a task that is not one is named. */
function decodeTasks(raw: Record<string, unknown>, file: string, advice: string): unknown {
  if (!Array.isArray(raw.tasks)) return raw; // shapeProblem names it
  const tasks: StoredTask[] = new Array(raw.tasks.length);
  for (let i = 0; i < tasks.length; i++) {
    try {
      tasks[i] = decodeTask(raw.tasks[i]);
    } catch (error) {
      throw new StoreCorruptError(file, `tasks[${i}]`, (error as Error).message, advice);
    }
  }
  return { ...raw, tasks };
}

/**
 * Returns a current-version image, migrating older ones (and saying so in `migratedFrom`).
 * Throws StoreVersionError for newer versions and StoreCorruptError for shapes it cannot read.
 */
export function upgradeImage(raw: unknown, file: string): { image: StoreImage; migratedFrom: number | null } {
  const advice = 'Restore the last good snapshot with restoreBackup(), or move the file away to start afresh.';
  if (!isRecord(raw) || typeof raw.schemaVersion !== 'number') {
    throw new StoreCorruptError(file, 'the top level', 'no schemaVersion: this is not an Overseer store', advice);
  }
  const found = raw.schemaVersion;
  if (found > SCHEMA_VERSION) throw new StoreVersionError(file, found, SCHEMA_VERSION);
  let image: unknown = found === SCHEMA_VERSION ? decodeTasks(raw, file, advice) : raw;
  for (let v = found; v < SCHEMA_VERSION; v++) {
    const migrate = migrations[v];
    if (!migrate) throw new StoreCorruptError(file, 'schemaVersion', `unknown schema version ${v}`, advice);
    image = migrate(image as never);
  }
  const problem = shapeProblem(image as Record<string, unknown>);
  if (problem) throw new StoreCorruptError(file, problem.at, problem.what, advice);
  return { image: image as StoreImage, migratedFrom: found < SCHEMA_VERSION ? found : null };
}

function shapeProblem(image: Record<string, unknown>): { at: string; what: string } | null {
  if (typeof image.seq !== 'number') return { at: 'seq', what: 'missing sequence number' };
  if (!isRecord(image.supervisor)) return { at: 'supervisor', what: 'missing supervisor state' };
  if (!Array.isArray(image.tasks)) return { at: 'tasks', what: 'tasks is not a list' };
  const breakpoints = image.breakpoints;
  if (breakpoints !== undefined) {
    if (!Array.isArray(breakpoints)) return { at: 'breakpoints', what: 'not a list' };
    const bad = breakpoints.findIndex((b) => !isRecord(b) || !isRecord(b.context) || typeof b.context.id !== 'string');
    if (bad !== -1) return { at: `breakpoints[${bad}]`, what: 'not a breakpoint record' };
  }
  const streaks = image.failureStreaks;
  if (streaks !== undefined) {
    const isPair = (s: unknown) => Array.isArray(s) && s.length === 2 && typeof s[0] === 'string' && Array.isArray(s[1]) && s[1].every((id) => typeof id === 'string');
    if (!Array.isArray(streaks) || !streaks.every(isPair)) return { at: 'failureStreaks', what: 'not a list of [project, task ids]' };
    if (new Set(streaks.map((s: [string]) => s[0])).size !== streaks.length) return { at: 'failureStreaks', what: 'a project is listed twice' };
  }
  const seen = new Set<string>();
  for (let i = 0; i < image.tasks.length; i++) {
    const task = image.tasks[i] as Record<string, unknown> | undefined;
    const context = task?.context as Record<string, unknown> | undefined;
    if (!isRecord(task) || !isRecord(context) || typeof context.id !== 'string') {
      return { at: `tasks[${i}]`, what: 'not a task record' };
    }
    if (!TASK_STATES.includes(task.value as never)) return { at: `tasks[${i}].value`, what: `unknown state ${JSON.stringify(task.value)}` };
    if (seen.has(context.id)) return { at: `tasks[${i}]`, what: `duplicate task id "${context.id}"` };
    for (const dep of (context.dependencies as string[]) ?? []) {
      if (!seen.has(dep)) return { at: `tasks[${i}].context.dependencies`, what: `"${dep}" is not stored before "${context.id}"` };
    }
    seen.add(context.id);
  }
  return null;
}
