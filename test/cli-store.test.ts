/**
 * What the command line does to store files as a whole: `--fresh` never deletes what it cannot
 * read as an Overseer store, and a damaged store can be put right from the command line.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliSync } from './helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'overseer-cli-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const overseer = (...args: string[]) => runCliSync(args);

/** A folder with a one-task plan. */
function project(name: string): { dir: string; plan: string; store: string } {
  const dir = mkdtempSync(join(root, `${name}-`));
  writeFileSync(join(dir, 'p.yaml'), 'name: p\ntasks:\n  - id: hello\n    command: echo hello\n');
  return { dir, plan: join(dir, 'p.yaml'), store: join(dir, 's.json') };
}

describe('run --fresh', () => {
  it('starts a store in a folder that does not exist yet (npm start does)', () => {
    const { dir, plan } = project('new-folder');
    const store = join(dir, 'not', 'yet', 's.json');
    const run = overseer('run', plan, '--store', store, '--fresh');
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(store)).toBe(true);
  });

  it('refuses a --store that is not an Overseer store, and leaves it as it was', () => {
    const { dir, plan } = project('foreign');
    const config = join(dir, 'config.json');
    const text = '{"name":"my-important-config"}\n';
    writeFileSync(config, text);
    const run = overseer('run', plan, '--store', config, '--fresh');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${config} is not an Overseer store, so --fresh leaves it alone`);
    expect(readFileSync(config, 'utf8')).toBe(text);
  });

  it.each([
    ['cut short', (text: string) => text.slice(0, 40)],
    ['empty, as a crash can leave it', () => ''],
    ['zeros', (text: string) => '\0'.repeat(text.length)],
  ])('starts a damaged store over (%s), keeping its files and backup aside', (_, damage) => {
    const { dir, plan, store } = project('damaged');
    expect(overseer('run', plan, '--store', store).code).toBe(0);
    expect(overseer('resume', '--store', store).code).toBe(0); // a second snapshot: the first is the .bak
    const backup = readFileSync(`${store}.bak`, 'utf8');
    const damaged = damage(readFileSync(store, 'utf8'));
    writeFileSync(store, damaged);
    const refused = overseer('status', '--store', store);
    expect(refused.code).toBe(2);
    expect(refused.stderr).not.toContain('restoreBackup('); // commands, not library calls
    expect(refused.stderr).toContain(`\`overseer run <plan> --store ${store} --fresh\` starts over`);

    const run = overseer('run', plan, '--store', store, '--fresh');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/could not be opened .*starting over, with its files kept in .*s\.json\.discarded-/);
    const [kept] = readdirSync(dir).filter((f) => f.startsWith('s.json.discarded-'));
    expect(readFileSync(join(dir, kept!, 's.json'), 'utf8')).toBe(damaged);
    expect(readFileSync(join(dir, kept!, 's.json.bak'), 'utf8')).toBe(backup); // out of the way of the new store's compactions
  });

  it('starts over a store whose journal holds a malformed record, and clears a backup left without a store', () => {
    const { dir, plan, store } = project('malformed');
    writeFileSync(`${store}.journal`, '{"overseerJournal":3}\n{"s":1,"k":"add","input":null}\n');
    writeFileSync(`${store}.bak`, 'an old backup');
    const run = overseer('run', plan, '--store', store, '--fresh');
    expect(run.code, run.stderr).toBe(0);
    const [kept] = readdirSync(dir).filter((f) => f.startsWith('s.json.discarded-'));
    expect(readdirSync(join(dir, kept!)).sort()).toEqual(['s.json.bak', 's.json.journal']);

    const { plan: plan2, store: store2 } = project('stale-bak');
    writeFileSync(`${store2}.bak`, 'an old backup'); // no snapshot, no journal: only a backup of something else
    expect(overseer('run', plan2, '--store', store2, '--fresh').code).toBe(0);
    expect(existsSync(`${store2}.bak`)).toBe(false);
  });

  it('starts over a store whose journal does not follow its snapshot (it parses, but does not open)', async () => {
    const { dir, plan, store } = project('mismatch');
    expect(overseer('run', plan, '--store', store).code).toBe(0);
    // A journal record for a task the snapshot does not hold: the store cannot be opened.
    writeFileSync(`${store}.journal`, '{"overseerJournal":3}\n{"s":999,"k":"ev","t":"ghost","e":{"type":"START","at":1}}\n');
    expect(overseer('status', '--store', store).code).toBe(2);
    const run = overseer('run', plan, '--store', store, '--fresh');
    expect(run.code, run.stderr).toBe(0);
    expect(readdirSync(dir).some((f) => f.startsWith('s.json.discarded-'))).toBe(true);
  });
});

describe('a damaged store, from the command line', () => {
  it('a file that is no store is said to be none (not advised --fresh, which refuses it); a journal with no snapshot is cut, not moved away', () => {
    const { dir } = project('not-a-store');
    const config = join(dir, 'config.json');
    writeFileSync(config, '{"hello":1}\n');
    const refused = overseer('resume', '--store', config);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`overseer: ${config} is not an Overseer store. The file was left as it is: pick another --store, or move the file away.\n`);
    expect(readFileSync(config, 'utf8')).toBe('{"hello":1}\n');

    const store = join(dir, 'j.json');
    const add = '{"s":1,"k":"add","input":{"id":"a","projectId":"default","title":"a","priority":5,"dependencies":[],"deadline":null,"onDependencyFailure":"block","maxRetries":3,"retryBaseMs":60000,"metadata":null,"at":1}}';
    writeFileSync(`${store}.journal`, `{"overseerJournal":3}\n${add}\n{"s":2,"k":"ev"#bad\n`);
    const damaged = overseer('status', '--store', store);
    expect(damaged.code).toBe(2);
    const byte = Buffer.byteLength(`{"overseerJournal":3}\n${add}\n`);
    expect(damaged.stderr).toContain(`\`truncate -s ${byte} ${store}.journal\` keeps every record before the damage (there is no snapshot yet to fall back on)`);
    expect(damaged.stderr).not.toContain('away to open the store at its last snapshot');
  });

  it('is reported with the command that fixes it, and restore-backup puts the last good snapshot back', () => {
    const { plan, store } = project('restore');
    expect(overseer('run', plan, '--store', store).code).toBe(0);
    expect(overseer('resume', '--store', store).code).toBe(0); // closed again: the first snapshot is the .bak
    expect(existsSync(`${store}.bak`)).toBe(true);
    const refused = overseer('restore-backup', '--store', store);
    expect(refused.code).toBe(2); // the snapshot reads fine: not without --force
    expect(refused.stderr).toContain('reads fine');
    writeFileSync(store, '{"schemaVersion":3,"seq":');

    const status = overseer('status', '--store', store);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain(`overseer restore-backup --store ${store}`);

    const restored = overseer('restore-backup', '--store', store, '--json');
    expect(restored.code, restored.stderr).toBe(0);
    const report = JSON.parse(restored.stdout) as { restoredFrom: string; keptAs: string; journalKeptAs: string | null };
    expect(report.restoredFrom).toBe(`${store}.bak`);
    expect(report.journalKeptAs).toBeNull();
    expect(readFileSync(report.keptAs, 'utf8')).toBe('{"schemaVersion":3,"seq":');
    const after = overseer('status', '--store', store, '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ counts: { completed: 1, total: 1 } });

    const none = overseer('restore-backup', '--store', join(root, 'nothing.json'));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('there is no backup to restore');
  });
});
