/**
 * The stores themselves: what `jsonFileStore` and `memoryStore` do with damaged, locked,
 * too-new and too-old state. Every refusal must throw an error that names the file and
 * says what to do, and must leave every file byte-for-byte as it was (no lock left
 * behind, no journal created, nothing truncated): `filesIn(dir)` is compared before/after.
 *
 * Real temp directories throughout, and the bytes on disk are checked: lowdb's presets
 * silently switch to an in-memory adapter under NODE_ENV=test (which vitest sets), so a
 * store test that never reads the disk could pass against nothing at all.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournal } from '../store/journal.js';
import { SimulatedClock } from 'xstate';
import {
  createOverseer, jsonFileStore, memoryStore, readStoreFile, restoreBackup, SCHEMA_VERSION,
  StoreCorruptError, StoreLockedError, StoreVersionError,
} from '../runtime/index.js';
import { tempStorePath } from './helpers/temp.js';

const T0 = 1_700_000_000_000;
const tempPath = () => tempStorePath('overseer-store-');

function clockAt(at = T0): SimulatedClock {
  const clock = new SimulatedClock();
  clock.set(at);
  return clock;
}

const open = (path: string) => createOverseer({ clock: clockAt(), store: jsonFileStore(path) });

/** Every file of the store's directory with its bytes. */
function filesIn(path: string): Record<string, Buffer> {
  const dir = dirname(path);
  return Object.fromEntries(readdirSync(dir).sort().map((name) => [name, readFileSync(join(dir, name))]));
}

/** Runs `fn`, which must throw `type`; returns the error. */
function thrown<E extends Error>(fn: () => unknown, type: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error(`expected ${type.name}, nothing was thrown`);
}

/** A store with some history, closed cleanly: a snapshot plus a journal that is only its header. */
async function seed(path: string): Promise<void> {
  const overseer = open(path);
  overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }, { id: 'c', priority: 8 }]);
  expect(overseer.getNextTask()?.id).toBe('c');
  overseer.markComplete('c', { ok: true });
  await overseer.close();
}

/** A journal full of records (a run that was never compacted) at `${path}.journal`, and no snapshot. */
async function seedJournal(path: string): Promise<string[]> {
  const scratch = tempPath();
  const overseer = open(scratch);
  overseer.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }, { id: 'c' }]);
  overseer.getNextTask();
  await overseer.flush();
  copyFileSync(`${scratch}.journal`, `${path}.journal`);
  await overseer.close();
  const lines = readFileSync(`${path}.journal`, 'utf8').split('\n');
  expect(lines.pop()).toBe(''); // every record ends with a newline
  return lines;
}

describe('a corrupt snapshot', () => {
  // JSON.parse gives a position for the truncated file only; an empty file ends at once.
  it.each([
    ['garbage', 'this is not json', null],
    ['truncated JSON', '{"schemaVersion":2,"seq":1,"tas', 'byte 31'],
    ['an empty file', '', 'the end of the file'],
    ['NUL bytes', '\0'.repeat(64), null],
  ])('%s: refused with StoreCorruptError, nothing touched, the lock released', async (_, bytes, position) => {
    const path = tempPath();
    await seed(path);
    writeFileSync(path, bytes);
    const before = filesIn(path);
    const error = thrown(() => open(path), StoreCorruptError);
    expect(error.file).toBe(path);
    expect(error.message).toContain(path);
    expect(error.message).toMatch(/corrupt at (byte \d+|the end of the file)/);
    if (position) expect(error.position).toBe(position);
    expect(error.message).toContain(`restoreBackup('${path}')`);
    expect(filesIn(path)).toEqual(before);
    // The lock was released: trying again gives the same answer, not StoreLockedError.
    thrown(() => open(path), StoreCorruptError);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('garbage and NUL bytes are reported at byte 0, not at the end of the file', async () => {
    // Regression test. What used to go wrong:
    // readSnapshot takes the position from /position (\d+)/ in the JSON.parse message; for an
    // unexpected first character V8 says `Unexpected token 'g', "..." is not valid JSON` with
    // no position, so the fallback 'the end of the file' names the wrong place.
    const path = tempPath();
    for (const bytes of ['this is not json', '\0'.repeat(64)]) {
      writeFileSync(path, bytes);
      expect(thrown(() => open(path), StoreCorruptError).position).toBe('byte 0');
    }
  });
});

describe('the journal', () => {
  it('keeps what a turn changed when the process calls process.exit() in that turn', async () => {
    const path = tempPath();
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/exit-same-turn.ts', path], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    const o = createOverseer({ store: jsonFileStore(path) });
    try {
      expect(o.getTasks().map((t) => [t.id, t.state])).toEqual([['a', 'completed'], ['b', 'ready']]);
      expect(o.getTaskStatus('a')?.result).toEqual({ done: true });
    } finally {
      await o.close();
    }
  });

  it('a corrupt line in the middle is refused, naming the line; nothing touched', async () => {
    const path = tempPath();
    const lines = await seedJournal(path);
    lines[2] = '{"s":2,"k":"ev","t":"a"#garbage';
    writeFileSync(`${path}.journal`, `${lines.join('\n')}\n`);
    const before = filesIn(path);
    const error = thrown(() => open(path), StoreCorruptError);
    expect(error.message).toContain(`${path}.journal`);
    expect(error.position).toMatch(/^line 3 \(byte \d+\)$/);
    expect(error.message).toMatch(/Move the journal away|restore a backup/);
    expect(filesIn(path)).toEqual(before);
  });

  it('a torn last line is skipped with a warning; new records append cleanly and reopen reads all', async () => {
    const path = tempPath();
    const lines = await seedJournal(path);
    // A crash mid-write: half of a record, no newline.
    appendFileSync(`${path}.journal`, '{"k":"ev","t":"b","e":{"type":"DEPENDEN');
    const overseer = open(path);
    expect(overseer.recovery?.replayed).toBe(lines.length - 1);
    expect(overseer.recovery?.warnings).toEqual([
      expect.objectContaining({ kind: 'torn_journal_tail', message: expect.stringContaining(`line ${lines.length + 1}`) }),
    ]);
    // "a" was running when the journal ends: it comes back as an interrupted attempt (retried at once).
    expect(overseer.recovery?.interrupted).toEqual(['a']);
    expect(overseer.getTaskStatus('a')).toMatchObject({ retries: 1, lastError: { kind: 'interrupted' } });
    expect(overseer.getTasks().map((t) => `${t.id}:${t.state}`)).toEqual(['a:ready', 'b:pending', 'c:ready']);
    overseer.scheduleTask({ id: 'd' });
    await overseer.flush();
    // The torn bytes are gone and every line is a whole record again.
    const text = readFileSync(`${path}.journal`, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    // What a crash now would leave (copied while the runtime still holds its lock) reads whole.
    const copy = tempPath();
    copyFileSync(`${path}.journal`, `${copy}.journal`);
    const again = open(copy);
    expect(again.recovery?.warnings).toEqual([]);
    expect(again.getTasks().map((t) => t.id)).toEqual(['a', 'b', 'c', 'd']);
    await again.close();
    await overseer.close();
  });

  it.each([
    ['two records on one line', '{"s":1,"k":"add"},{"s":2,"k":"add"}\n'],
    ['a record split over two lines', '{"s":1,"k":"add"\n"x":1}\n'],
    ['an array split over two lines', '{"s":1,"k":"add","v":[1\n2]}\n'],
  ])('%s is refused, naming line 2, though the lines joined would parse', (_, body) => {
    const path = tempPath();
    writeFileSync(`${path}.journal`, `{"overseerJournal":1}\n${body}`);
    const error = thrown(() => readJournal(`${path}.journal`), StoreCorruptError);
    expect(error.position).toMatch(/^line 2 \(byte 22\)$/);
  });

  it('a journal cut between a completion and its dependents becoming ready: they are released at restore, and told', async () => {
    const path = tempPath();
    const first = open(path);
    first.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }, { id: 'c', dependencies: ['a'] }]);
    first.getNextTask();
    first.markComplete('a');
    await first.flush();
    const copy = tempPath();
    // What a write cut short at power loss could leave: the completion, without what followed it.
    const lines = readFileSync(`${path}.journal`, 'utf8').trimEnd().split('\n');
    const completion = lines.findIndex((l) => l.includes('"type":"COMPLETE"'));
    writeFileSync(`${copy}.journal`, `${lines.slice(0, completion + 1).join('\n')}\n`);
    await first.close();
    const restored = open(copy);
    expect(restored.getTasks().map((t) => `${t.id}:${t.state}`)).toEqual(['a:completed', 'b:ready', 'c:ready']);
    expect(restored.recovery?.warnings).toEqual([expect.objectContaining({ kind: 'released_pending', message: expect.stringContaining('2 task(s)') })]);
    await restored.flush();
    await restored.close();
    // The release is journaled like any transition: the next restore needs no repair.
    const again = open(copy);
    expect(again.recovery?.warnings ?? []).toEqual([]);
    expect(again.getTasks().map((t) => t.state)).toEqual(['completed', 'ready', 'ready']);
    await again.close();
  });

  it('a journal of multi-byte text with a torn tail: the cut is at the byte where the last whole line ends', async () => {
    const path = tempPath();
    const scratch = tempPath();
    const first = open(scratch);
    first.scheduleTasks([{ id: 'a', title: 'Überprüfung — 検証 ✓' }, { id: 'b', title: 'ß'.repeat(50) }]);
    await first.flush();
    copyFileSync(`${scratch}.journal`, `${path}.journal`);
    await first.close();
    const whole = readFileSync(`${path}.journal`);
    appendFileSync(`${path}.journal`, '{"k":"ev","t":"b","e":{"type":"ST');
    const read = readJournal(`${path}.journal`);
    expect(read.intactBytes).toBe(whole.length); // bytes, not characters
    expect(read.records.map((r) => r.k)).toEqual(['add', 'ev', 'add', 'ev']);
    expect(read.warnings).toEqual([expect.objectContaining({ message: expect.stringContaining(`line 6 (byte ${whole.length}), 33 bytes`) })]);
    const overseer = open(path);
    expect(overseer.getTaskStatus('a')?.title).toBe('Überprüfung — 検証 ✓');
    overseer.scheduleTask({ id: 'c' });
    await overseer.flush();
    expect(readFileSync(`${path}.journal`).subarray(0, whole.length).equals(whole)).toBe(true);
    await overseer.close();
  });

  it('a complete last record without its newline counts as torn too: skipped and cut, never half-kept', async () => {
    // Every write ends with a newline, so a crash can cut a batch just before it. The record
    // must not be replayed and then truncated away (state the journal no longer has).
    const path = tempPath();
    const lines = await seedJournal(path);
    writeFileSync(`${path}.journal`, lines.slice(0, 3).join('\n')); // header, add a, ev a (no final \n)
    const overseer = open(path);
    // "a" has no dependencies, so the call that added it also made it ready: the restore
    // releases it again (a new record, at the restore's time), and says so.
    expect(overseer.recovery?.warnings).toEqual([expect.objectContaining({ kind: 'torn_journal_tail' }), expect.objectContaining({ kind: 'released_pending' })]);
    expect(overseer.getTaskStatus('a')?.state).toBe('ready');
    await overseer.flush();
    const copy = tempPath();
    copyFileSync(`${path}.journal`, `${copy}.journal`);
    const again = open(copy); // what the next crash would leave sees the same state
    expect(again.recovery?.warnings).toEqual([]);
    expect(again.getTaskStatus('a')?.state).toBe('ready');
    await again.close();
    await overseer.close();
  });

  it('a journal that contradicts the snapshot is refused with the lock released and the torn tail left as it is', async () => {
    // Regression test. What used to go wrong:
    // replay() throws inside the Overseer constructor after store.open() succeeded: the
    // constructor calls `void store.close()`, so the lock is released only later (an
    // immediate retry gets StoreLockedError naming this process), and JournalWriter has
    // already cut the torn tail although the message says "The file was left as it is".
    const path = tempPath();
    writeFileSync(`${path}.journal`, '{"overseerJournal":2}\n{"s":1,"k":"ev","t":"ghost","e":{"type":"START","at":1}}\n{"s":2,"k":"a');
    const before = filesIn(path);
    thrown(() => open(path), StoreCorruptError);
    expect(filesIn(path)).toEqual(before);
    thrown(() => open(path), StoreCorruptError);
  });
});

describe('the lock', () => {
  it('is held by a process on another host as far as this one can tell (it cannot ask it)', async () => {
    const { lockHolder } = await import('../store/lock.js');
    const path = tempPath();
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 1, hostname: 'build-box-2', since: new Date().toISOString() }));
    expect(lockHolder(`${path}.lock`)).toEqual({ pid: 1, hostname: 'build-box-2' });
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, hostname: hostname(), since: new Date().toISOString() }));
    expect(lockHolder(`${path}.lock`)).toBeNull(); // this host, and that process is gone
  });

  it('a store in a folder that does not exist yet starts there, as the CLI starts one', async () => {
    const path = join(dirname(tempPath()), 'new', 'deeper', 'state.json');
    const o = createOverseer({ store: jsonFileStore(path) });
    o.scheduleTask({ id: 'a' });
    await o.close();
    const again = createOverseer({ store: jsonFileStore(path) });
    expect(again.getTasks().map((t) => t.id)).toEqual(['a']);
    await again.close();
  });

  it('refuses a second runtime on the same path in this process, naming this pid', async () => {
    const path = tempPath();
    await seed(path);
    const first = open(path);
    const error = thrown(() => open(path), StoreLockedError);
    expect(error.holderPid).toBe(process.pid);
    expect(error.message).toContain(`process ${process.pid}`);
    expect(error.message).toContain(path);
    expect(first.getTaskStatus('a')?.state).toBe('ready'); // the holder is not disturbed
    await first.close();
    await open(path).close();
  });

  it('refuses a lock held by another live process, naming its pid; nothing touched', async () => {
    const path = tempPath();
    await seed(path);
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      expect(child.pid).toBeTypeOf('number');
      writeFileSync(`${path}.lock`, JSON.stringify({ pid: child.pid, hostname: hostname(), since: new Date(T0).toISOString() }));
      const before = filesIn(path);
      const error = thrown(() => open(path), StoreLockedError);
      expect(error.holderPid).toBe(child.pid);
      expect(error.message).toContain(`process ${child.pid}`);
      expect(filesIn(path)).toEqual(before);
    } finally {
      child.kill();
    }
  });

  it('takes over a stale lock (its process has exited) with a stale_lock_taken warning', async () => {
    const path = tempPath();
    await seed(path);
    const { pid } = spawnSync(process.execPath, ['-e', '']); // ran, exited and was reaped
    writeFileSync(`${path}.lock`, JSON.stringify({ pid, hostname: hostname(), since: new Date(T0).toISOString() }));
    const overseer = open(path);
    expect(overseer.recovery?.warnings).toEqual([
      expect.objectContaining({ kind: 'stale_lock_taken', message: expect.stringContaining(`process ${pid}`) }),
    ]);
    expect(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid).toBe(process.pid);
    expect(overseer.getTasks()).toHaveLength(3);
    await overseer.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});

describe('schema versions', () => {
  it('refuses a snapshot from a newer Overseer, naming both versions; nothing touched', async () => {
    const path = tempPath();
    await seed(path);
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), schemaVersion: 99 }));
    const before = filesIn(path);
    const error = thrown(() => open(path), StoreVersionError);
    expect(error).toMatchObject({ file: path, found: 99, supported: SCHEMA_VERSION });
    expect(error.message).toMatch(new RegExp(`version 99.*up to ${SCHEMA_VERSION}`));
    expect(filesIn(path)).toEqual(before);
  });

  it('refuses a journal from a newer Overseer; nothing touched', async () => {
    const path = tempPath();
    await seed(path);
    writeFileSync(`${path}.journal`, '{"overseerJournal":99}\n{"s":9,"k":"future"}\n');
    const before = filesIn(path);
    const error = thrown(() => open(path), StoreVersionError);
    expect(error).toMatchObject({ file: `${path}.journal`, found: 99, supported: SCHEMA_VERSION });
    expect(filesIn(path)).toEqual(before);
  });

  it('migrates a version 1 snapshot, keeping scheduling order that object keys would scramble', async () => {
    const path = tempPath();
    const overseer = open(path);
    // "3" depends on both, so "10" and "2" get the same boost and tie: order decides.
    overseer.scheduleTasks([{ id: '10' }, { id: '2' }, { id: '3', dependencies: ['10', '2'] }]);
    await overseer.close();
    // Rewrite the snapshot as version 1 wrote it: tasks keyed by id, order kept apart.
    const v2 = readStoreFile(path).image!;
    const tasks = Object.fromEntries(v2.tasks.map((t: { context: { id: string } }) => [t.context.id, t]));
    expect(Object.keys(tasks)).toEqual(['2', '3', '10']); // integer-like keys sort first
    writeFileSync(path, JSON.stringify({ ...v2, schemaVersion: 1, tasks, order: ['10', '2', '3'] }));
    writeFileSync(`${path}.journal`, '{"overseerJournal":1}\n');

    const migrated = open(path);
    expect(migrated.recovery?.warnings).toEqual([expect.objectContaining({ kind: 'migrated' })]);
    expect(migrated.getTasks().map((t) => t.id)).toEqual(['10', '2', '3']);
    expect(migrated.getReadyTasks().map((t) => t.id)).toEqual(['10', '2']);
    expect(migrated.getTaskStatus('10')?.dependents).toEqual(['3']);
    await migrated.close();
    // Written back in the current version.
    const written = JSON.parse(readFileSync(path, 'utf8'));
    expect(written.schemaVersion).toBe(SCHEMA_VERSION);
    expect(written.tasks.map((t: { i: string }) => t.i)).toEqual(['10', '2', '3']);
  });

  it('reads a version 2 snapshot (every task written out whole) and writes it back in the compact form', async () => {
    const path = tempPath();
    const clock = clockAt();
    const first = createOverseer({ clock, store: jsonFileStore(path) });
    first.scheduleTasks([{ id: 'a', title: 'Build', metadata: { n: 1 } }, { id: 'b', dependencies: ['a'], maxRetries: 0 }, { id: 'c' }]);
    first.markFailed(first.getNextTask()!.id, 'broken');
    first.cancelTask('c', 'not needed');
    await first.close();
    const current = readStoreFile(path).image!;
    // Version 2 wrote the image as it is in memory.
    writeFileSync(path, JSON.stringify({ ...current, schemaVersion: 2 }));
    writeFileSync(`${path}.journal`, '{"overseerJournal":2}\n');

    const migrated = createOverseer({ clock, store: jsonFileStore(path) });
    expect(migrated.recovery?.warnings).toEqual([expect.objectContaining({ kind: 'migrated', message: expect.stringMatching(/schema version 2/) })]);
    expect(readStoreFile(path).image!.tasks).toEqual(current.tasks);
    await migrated.close();
    const written = JSON.parse(readFileSync(path, 'utf8'));
    expect(written.schemaVersion).toBe(SCHEMA_VERSION);
    expect(written.tasks[0]).toMatchObject({ i: 'a', t: 'Build', m: { n: 1 } });
    expect(readStoreFile(path).image!.tasks).toEqual(current.tasks);
  });
});

describe('restoreBackup', () => {
  it('puts the last good snapshot back and keeps the corrupt one aside', async () => {
    const path = tempPath();
    await seed(path); // compaction 1: no snapshot to back up yet
    expect(existsSync(`${path}.bak`)).toBe(false);
    expect(() => restoreBackup(path)).toThrow(/\.bak does not exist/);
    const second = open(path);
    second.scheduleTask({ id: 'd' });
    await second.close(); // compaction 2: the first snapshot becomes the backup
    const backup = readFileSync(`${path}.bak`);
    // The backup is the old snapshot file itself (linked, not copied), never the new one.
    expect(statSync(`${path}.bak`).ino).not.toBe(statSync(path).ino);
    expect(backup.equals(readFileSync(path))).toBe(false);

    writeFileSync(path, '{"schemaVersion":2,"se');
    const error = thrown(() => open(path), StoreCorruptError);
    expect(error.message).toContain(`restoreBackup('${path}')`);
    expect(error.message).not.toContain('no .bak exists');

    const { restoredFrom, keptAs } = restoreBackup(path);
    expect(restoredFrom).toBe(`${path}.bak`);
    expect(keptAs).toMatch(/state\.json\.corrupt-/);
    expect(readFileSync(keptAs!, 'utf8')).toBe('{"schemaVersion":2,"se');
    expect(readFileSync(path)).toEqual(backup);

    const reopened = open(path);
    // The backup is the first session's state; "d" was only in the lost snapshot.
    expect(reopened.getTasks().map((t) => `${t.id}:${t.state}`)).toEqual(['a:ready', 'b:pending', 'c:completed']);
    await reopened.close();
    expect(existsSync(keptAs!)).toBe(true); // never deleted
  });

  it('never rolls back a snapshot a newer Overseer wrote (it is not damaged), unless forced', async () => {
    const path = tempPath();
    await seed(path);
    await open(path).close(); // the first snapshot becomes the backup
    const image = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...image, schemaVersion: SCHEMA_VERSION + 1 }));
    expect(() => restoreBackup(path)).toThrow(/reads fine/);
  });

  it('refuses to replace a snapshot that reads fine, unless forced', async () => {
    const path = tempPath();
    await seed(path);
    const second = open(path);
    await second.close(); // the first snapshot becomes the backup
    const current = readFileSync(path);
    expect(() => restoreBackup(path)).toThrow(/reads fine: restoring .* would take the store back to record \d+ .*force/);
    expect(readFileSync(path)).toEqual(current);
    expect(restoreBackup(path, { force: true }).keptAs).toMatch(/\.corrupt-/);
  });

  it('keeps aside a journal that does not follow on from the backup: the store goes back to the backup, and only that', async () => {
    const path = tempPath();
    await seed(path); // snapshot 1: a ready, b pending, c completed
    const second = open(path);
    second.scheduleTask({ id: 'd' });
    await second.close(); // snapshot 2 (with d); snapshot 1 is the backup
    const third = open(path);
    expect(third.getNextTask()?.id).toBe('a'); // journaled after snapshot 2
    await third.flush();
    const crash = tempPath();
    for (const suffix of ['', '.journal', '.bak']) copyFileSync(path + suffix, crash + suffix);
    await third.close();

    writeFileSync(crash, '{"schemaVersion":3,"se'); // snapshot 2 is damaged
    const { seq, journalKeptAs } = restoreBackup(crash);
    // Records between the backup and snapshot 2 were dropped with the journal they were in:
    // replaying what came after on the backup would be wrong (here, "a" running without "d").
    expect(journalKeptAs).toMatch(/\.journal\.corrupt-/);
    const reopened = open(crash);
    expect(reopened.getTasks().map((t) => `${t.id}:${t.state}`)).toEqual(['a:ready', 'b:pending', 'c:completed']);
    expect(reopened.recovery).toMatchObject({ replayed: 0, interrupted: [] }); // nothing replayed, nothing interrupted
    await reopened.close();
    expect(seq).toBeGreaterThan(0);
  });
});

describe('malformed records', () => {
  it('are named as damage, not thrown as a TypeError: a journal record of the right kind but not its shape, a snapshot breakpoint that is none', async () => {
    const path = tempPath();
    writeFileSync(`${path}.journal`, '{"overseerJournal":3}\n{"s":1,"k":"add","input":null}\n');
    const error = thrown(() => open(path), StoreCorruptError);
    expect(error.message).toMatch(/state\.json\.journal is corrupt at record 1: a malformed "add" record/);

    const other = tempPath();
    await seed(other);
    const image = JSON.parse(readFileSync(other, 'utf8')) as Record<string, unknown>;
    writeFileSync(other, JSON.stringify({ ...image, breakpoints: [null] }));
    expect(thrown(() => open(other), StoreCorruptError).message).toContain('is corrupt at breakpoints[0]: not a breakpoint record');
  });
});

describe('a backup left from an earlier store at the same path', () => {
  it('is removed by the first compaction of a new store there, so it is never put back as this one', async () => {
    const path = tempPath();
    writeFileSync(`${path}.bak`, '{"schemaVersion":3,"seq":1,"savedAt":0,"supervisor":{"value":"running","context":{"pausedProjects":[],"deadlocks":[]}},"tasks":[]}');
    const o = open(path);
    o.scheduleTask({ id: 'fresh' });
    await o.close();
    expect(existsSync(`${path}.bak`)).toBe(false);
  });
});

describe('memoryStore', () => {
  it('refuses a second open and keeps its contents across close and reopen', async () => {
    const store = memoryStore();
    const first = createOverseer({ clock: clockAt(), store });
    first.scheduleTasks([{ id: 'a' }, { id: 'b', dependencies: ['a'] }]);
    expect(thrown(() => createOverseer({ clock: clockAt(), store }), StoreLockedError).holderPid).toBe(process.pid);
    await first.close();
    const second = createOverseer({ clock: clockAt(), store });
    expect(second.getTasks().map((t) => `${t.id}:${t.state}`)).toEqual(['a:ready', 'b:pending']);
    await second.close();
  });
});

describe('the file on disk', () => {
  it('is real, compact JSON: the NODE_ENV=test memory adapter of lowdb presets is not in play', async () => {
    expect(process.env.NODE_ENV).toBe('test'); // the condition under which presets would not touch disk
    const path = tempPath();
    const overseer = open(path);
    overseer.scheduleTask({ id: 'a' });
    await overseer.flush();
    // Before any snapshot, the journal holds the records on disk.
    expect(readFileSync(`${path}.journal`, 'utf8').split('\n')[0]).toBe(`{"overseerJournal":${SCHEMA_VERSION}}`);
    expect(readFileSync(`${path}.journal`, 'utf8')).toContain('"id":"a"');
    await overseer.close();

    const bytes = readFileSync(path);
    expect(statSync(path).size).toBeGreaterThan(0);
    const text = bytes.toString('utf8');
    const image = JSON.parse(text);
    expect(image.schemaVersion).toBe(SCHEMA_VERSION);
    expect(text).toBe(JSON.stringify(image)); // no pretty-printing
    expect(image.tasks.map((t: { i: string }) => t.i)).toEqual(['a']);
    expect(readStoreFile(path).image?.tasks).toHaveLength(1); // and another reader sees the same file
  });
});
