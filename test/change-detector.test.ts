/** The pure change detector, on hand-made changes: no file system, no clock, fully deterministic. */
import { describe, expect, it } from 'vitest';
import {
  ChangeDetector, collapseChanges, DEFAULT_CONFIG_PATTERNS, detectEvents, findBurst, matchesAny, mergeChange,
  type RawChange, type RawChangeKind, type WorkspaceEvent,
} from '../runtime/change-detector.js';

const ch = (kind: RawChangeKind, path: string, at = 1000): RawChange => ({ kind, path, at });
const types = (events: WorkspaceEvent[]) => events.map((e) => e.type);
const event = (events: WorkspaceEvent[], type: WorkspaceEvent['type']) => events.find((e) => e.type === type);
const many = (n: number, at: (i: number) => number, prefix = 'gen/f') => Array.from({ length: n }, (_, i) => ch('add', `${prefix}${i}.ts`, at(i)));

describe('detectEvents', () => {
  it('gives one file event per path with its kind, paths and time', () => {
    const events = detectEvents([ch('add', 'src/a.ts', 1), ch('change', 'src/b.ts', 2), ch('unlink', 'src/c.ts', 3)]);
    expect(events).toEqual([
      { type: 'file.created', paths: ['src/a.ts'], kinds: ['add'], changes: [ch('add', 'src/a.ts', 1)], at: 1 },
      { type: 'file.modified', paths: ['src/b.ts'], kinds: ['change'], changes: [ch('change', 'src/b.ts', 2)], at: 2 },
      { type: 'file.deleted', paths: ['src/c.ts'], kinds: ['unlink'], changes: [ch('unlink', 'src/c.ts', 3)], at: 3 },
    ]);
  });

  it('nets out repeated changes to one path and gives directories no file event', () => {
    const events = detectEvents([
      ch('add', 'a.ts', 1), ch('change', 'a.ts', 2), ch('change', 'a.ts', 3), // created (then written): created
      ch('add', 'tmp.ts', 1), ch('unlink', 'tmp.ts', 2), // created and gone again: nothing
      ch('unlink', 'b.ts', 1), ch('add', 'b.ts', 2), // atomic save: modified
      ch('addDir', 'src', 1),
    ]);
    expect(events.map((e) => [e.type, e.paths[0], e.at])).toEqual([['file.created', 'a.ts', 3], ['file.modified', 'b.ts', 2]]);
  });

  it('classifies tests, config and dependencies; package.json is both of the last two', () => {
    const events = detectEvents([
      ch('change', 'src/math.test.ts'), ch('add', 'lib/io.spec.js'), ch('change', 'test/helpers.ts'), ch('add', 'pkg/__tests__/x.ts'),
      ch('change', 'package.json'), ch('change', 'tsconfig.build.json'), ch('add', '.env.local'), ch('change', 'vitest.config.ts'),
      ch('change', 'package-lock.json'), ch('change', 'services/api/requirements-dev.txt'), ch('change', 'go.sum'),
      ch('change', 'src/index.ts'),
    ]);
    expect(event(events, 'test.changed')?.paths).toEqual(['src/math.test.ts', 'lib/io.spec.js', 'test/helpers.ts', 'pkg/__tests__/x.ts']);
    expect(event(events, 'config.changed')?.paths).toEqual(['package.json', 'tsconfig.build.json', '.env.local', 'vitest.config.ts']);
    expect(event(events, 'dependencies.changed')?.paths).toEqual(['package.json', 'package-lock.json', 'services/api/requirements-dev.txt', 'go.sum']);
    expect(event(events, 'test.changed')?.kinds).toEqual(['add', 'change']);
    expect(types(events).filter((t) => !t.startsWith('file.'))).toEqual(['test.changed', 'config.changed', 'dependencies.changed']);
  });

  it('keeps YAML/TOML config to the root: deeper ones are data', () => {
    expect(types(detectEvents([ch('change', 'docker-compose.yml')]))).toContain('config.changed');
    expect(types(detectEvents([ch('change', 'fixtures/data.yml')]))).not.toContain('config.changed');
  });

  it('reports protected paths, directories included, only when configured', () => {
    const changes = [ch('unlinkDir', 'secrets'), ch('unlink', 'secrets/prod.key'), ch('change', 'src/a.ts')];
    expect(types(detectEvents(changes))).not.toContain('protected.touched');
    const touched = event(detectEvents(changes, { protectedPaths: ['secrets/**', '.github/**'] }), 'protected.touched');
    expect(touched).toMatchObject({ paths: ['secrets', 'secrets/prod.key'], kinds: ['unlink', 'unlinkDir'] });
  });

  it('replaces a default pattern list when one is given', () => {
    const events = detectEvents([ch('change', 'src/a.test.ts'), ch('change', 'e2e/login.ts')], { testPatterns: ['e2e/**'] });
    expect(event(events, 'test.changed')?.paths).toEqual(['e2e/login.ts']);
  });

  it('gives one burst event for 60 distinct paths within the window, none for 49 or for a slow trickle', () => {
    const burst = detectEvents(many(60, (i) => 1000 + i * 10)).filter((e) => e.type === 'burst');
    expect(burst).toHaveLength(1);
    expect(burst[0]).toMatchObject({ kinds: ['add'], at: 1590 });
    expect(burst[0]!.paths).toHaveLength(60);
    expect(types(detectEvents(many(49, () => 1000)))).not.toContain('burst');
    // 60 paths, but 100 ms apart: no 2 s window holds more than 21 of them.
    expect(types(detectEvents(many(60, (i) => i * 100)))).not.toContain('burst');
    // Many changes to few paths are not a burst: it counts distinct paths.
    expect(types(detectEvents(Array.from({ length: 100 }, (_, i) => ch('change', `f${i % 5}`, i))))).not.toContain('burst');
  });

  it('honours burstThreshold and burstWindowMs, the window being inclusive', () => {
    const changes = [ch('add', 'a', 0), ch('add', 'b', 50), ch('add', 'c', 100)];
    expect(findBurst(changes, { burstThreshold: 3, burstWindowMs: 100 })?.paths).toEqual(['a', 'b', 'c']);
    expect(findBurst(changes, { burstThreshold: 3, burstWindowMs: 99 })).toBeUndefined();
    expect(findBurst(changes, { burstThreshold: Infinity })).toBeUndefined();
  });

  it('is deterministic and order-independent in time for bursts', () => {
    const changes = many(55, (i) => (i * 7919) % 1500);
    expect(detectEvents(changes)).toEqual(detectEvents(changes));
    expect(findBurst([...changes].reverse())?.paths.slice().sort()).toEqual(findBurst(changes)?.paths.slice().sort());
  });

  it('returns nothing for nothing', () => {
    expect(detectEvents([])).toEqual([]);
  });
});

describe('ChangeDetector', () => {
  it('finds a burst spread over several batches, once', () => {
    const detector = new ChangeDetector();
    const batches = [0, 1, 2, 3, 4, 5].map((b) => many(10, (i) => 1000 + b * 100 + i, `b${b}/f`));
    const bursts = batches.flatMap((batch) => detector.push(batch)).filter((e) => e.type === 'burst');
    expect(bursts).toHaveLength(1); // the fifth batch completes 50 paths; the sixth starts afresh
    expect(bursts[0]!.paths).toHaveLength(50);
  });

  it('forgets changes older than the window, judged by the changes’ own time', () => {
    const detector = new ChangeDetector({ burstThreshold: 4, burstWindowMs: 1000 });
    expect(types(detector.push([ch('add', 'a', 0), ch('add', 'b', 0), ch('add', 'c', 0)]))).not.toContain('burst');
    expect(types(detector.push([ch('add', 'd', 5000)]))).not.toContain('burst');
    expect(types(detector.push([ch('add', 'e', 5500), ch('add', 'f', 5600), ch('add', 'g', 5900)]))).toContain('burst');
    detector.reset();
    expect(types(detector.push([ch('add', 'h', 6000)]))).toEqual(['file.created']);
  });

  it('reports the batch’s own file and category events like detectEvents', () => {
    const detector = new ChangeDetector({ protectedPaths: ['infra/**'] });
    const batch = [ch('change', 'package.json'), ch('change', 'infra/main.tf')];
    expect(detector.push(batch)).toEqual(detectEvents(batch, { protectedPaths: ['infra/**'] }));
  });
});

describe('helpers', () => {
  it('matchesAny uses globMatch semantics: ** spans directories, * stays within one', () => {
    expect(matchesAny('src/deep/a.test.ts', ['**/*.test.*'])).toBe(true);
    expect(matchesAny('src/vite.config.ts', ['*.config.*'])).toBe(false);
    expect(matchesAny('vite.config.ts', DEFAULT_CONFIG_PATTERNS)).toBe(true);
    expect(matchesAny('anything', [])).toBe(false);
  });

  it('mergeChange and collapseChanges give the net change per path', () => {
    expect(mergeChange(undefined, ch('change', 'a', 1))).toEqual(ch('change', 'a', 1));
    expect(mergeChange(ch('add', 'a', 1), ch('change', 'a', 2))).toEqual(ch('add', 'a', 2));
    expect(mergeChange(ch('add', 'a', 1), ch('unlink', 'a', 2))).toBeUndefined();
    expect(mergeChange(ch('addDir', 'd', 1), ch('unlinkDir', 'd', 2))).toBeUndefined();
    expect(mergeChange(ch('unlink', 'a', 1), ch('add', 'a', 2))).toEqual(ch('change', 'a', 2));
    expect(mergeChange(ch('change', 'a', 1), ch('unlink', 'a', 2))).toEqual(ch('unlink', 'a', 2));
    expect(collapseChanges([ch('change', 'b', 1), ch('add', 'a', 2), ch('change', 'b', 3)])).toEqual([ch('change', 'b', 3), ch('add', 'a', 2)]);
  });
});
