/** The README's embedded example is a real file that runs; this keeps the two the same. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url);

describe('README', () => {
  it('shows examples/embedded.ts verbatim', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const example = readFileSync(new URL('examples/embedded.ts', root), 'utf8');
    expect(readme).toContain(example.trim());
  });

  it('runs the embedded example with the output its comments promise', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/embedded.ts'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out).toContain('fetch: ready → running');
    expect(out).toContain('fetch: retrying → ready');
    expect(out).toContain("[ 'build' ]");
    expect(out).toMatch(/completed: 1/);
  });
});
