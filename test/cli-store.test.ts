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

  it('starts a damaged store over, keeping the damaged files aside', () => {
    const { dir, plan, store } = project('damaged');
    expect(overseer('run', plan, '--store', store).code).toBe(0);
    const damaged = readFileSync(store, 'utf8').slice(0, 40);
    writeFileSync(store, damaged);

    const run = overseer('run', plan, '--store', store, '--fresh');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/could not be read .*starting over, with the damaged files kept as .*s\.json\.corrupt-/);
    const kept = readdirSync(dir).filter((f) => f.startsWith('s.json.corrupt-'));
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(dir, kept[0]!), 'utf8')).toBe(damaged);
  });
});

describe('a damaged store, from the command line', () => {
  it('is reported with the command that fixes it, and restore-backup puts the last good snapshot back', () => {
    const { plan, store } = project('restore');
    expect(overseer('run', plan, '--store', store).code).toBe(0);
    expect(overseer('run', plan, '--store', store).code).toBe(0); // resumed and closed again: the first snapshot is the .bak
    expect(existsSync(`${store}.bak`)).toBe(true);
    writeFileSync(store, '{"schemaVersion":3,"seq":');

    const status = overseer('status', '--store', store);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain(`overseer restore-backup --store ${store}`);

    const restored = overseer('restore-backup', '--store', store, '--json');
    expect(restored.code, restored.stderr).toBe(0);
    const report = JSON.parse(restored.stdout) as { restoredFrom: string; keptAs: string };
    expect(report.restoredFrom).toBe(`${store}.bak`);
    expect(readFileSync(report.keptAs, 'utf8')).toBe('{"schemaVersion":3,"seq":');
    const after = overseer('status', '--store', store, '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ counts: { completed: 1, total: 1 } });

    const none = overseer('restore-backup', '--store', join(root, 'nothing.json'));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('there is no backup to restore');
  });
});
