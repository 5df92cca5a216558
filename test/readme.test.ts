/** The README's embedded example is a real file that runs; this keeps the two the same. */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url);

/** A ```ts block of the README that contains `marker`. */
function readmeBlock(marker: string): string {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes(marker));
  if (!block) throw new Error(`no README block with ${marker}`);
  return block;
}

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

  it('has a property-test example that holds (run with its imports pointed at this checkout)', () => {
    const code = readmeBlock('fc.assert(fc.property(taskSpecs')
      .replace("from 'overseer/testing'", "from '../runtime/testing.js'")
      .replace("from 'overseer'", "from '../runtime/index.js'");
    const file = new URL('examples/.readme-property.tmp.ts', root);
    writeFileSync(file, code);
    try {
      // fc.assert throws (a non-zero exit) when the property fails.
      execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(file)], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    } finally {
      rmSync(file, { force: true });
    }
  });
});
