/**
 * Turns raw file-system changes (from `actors/watcher.ts`, or anything else) into typed workspace
 * events that breakpoint rules and supervisors can react to. Pure: no I/O, no timers, no clock;
 * all time comes from the changes' `at` stamps, so the same input always gives the same events.
 */
import { globMatch } from './expression.js';

/** What happened to a path, as chokidar names it. */
export type RawChangeKind = 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';

/** One file-system change. */
export interface RawChange {
  kind: RawChangeKind;
  /** Relative to the watched root, `/`-separated; `.` is the root itself. */
  path: string;
  /** When it was seen (ms, the watcher's clock). */
  at: number;
}

export type WorkspaceEventType =
  | 'file.created'
  | 'file.modified'
  | 'file.deleted'
  | 'test.changed'
  | 'config.changed'
  | 'dependencies.changed'
  | 'burst'
  | 'protected.touched';

/** A typed event over one or more changes. */
export interface WorkspaceEvent {
  type: WorkspaceEventType;
  /** The distinct paths concerned, in the order they first appear in the input. */
  paths: string[];
  /** The distinct kinds of change among them, sorted. */
  kinds: RawChangeKind[];
  /** The net change of each path (one per path, same order as `paths`). */
  changes: RawChange[];
  /** The latest `at` among `changes`. */
  at: number;
}

/** Test files: `*.test.*`/`*.spec.*` anywhere, Go/Python conventions, and the usual test folders. */
export const DEFAULT_TEST_PATTERNS: readonly string[] = Object.freeze([
  '**/*.test.*', '**/*.spec.*', '**/*_test.*', '**/test_*.py', 'test/**', 'tests/**', '**/__tests__/**',
]);
/**
 * Project configuration: manifests and tool configs anywhere (`package.json`, `tsconfig*.json`,
 * `*.config.*`, `.env*`), dot-rc files, and YAML/TOML/INI files at the root only (deeper ones are
 * more often data than configuration), plus CI workflows and container/build files at the root.
 */
export const DEFAULT_CONFIG_PATTERNS: readonly string[] = Object.freeze([
  '**/package.json', '**/tsconfig*.json', '**/jsconfig*.json', '**/*.config.*', '**/.env*', '**/.*rc', '**/.*rc.*',
  '*.yaml', '*.yml', '*.toml', '*.ini', '*.cfg', '.editorconfig', 'go.mod', 'Dockerfile', 'Makefile', '.github/workflows/**',
]);
/** Dependency manifests and lock files of the common ecosystems, anywhere (monorepos have many). */
export const DEFAULT_DEPENDENCY_PATTERNS: readonly string[] = Object.freeze([
  '**/package.json', '**/package-lock.json', '**/npm-shrinkwrap.json', '**/yarn.lock', '**/pnpm-lock.yaml', '**/pnpm-workspace.yaml',
  '**/bun.lock', '**/bun.lockb', '**/requirements*.txt', '**/pyproject.toml', '**/Pipfile', '**/Pipfile.lock', '**/poetry.lock',
  '**/uv.lock', '**/go.mod', '**/go.sum', '**/Cargo.toml', '**/Cargo.lock', '**/Gemfile', '**/Gemfile.lock', '**/composer.json',
  '**/composer.lock',
]);
/** A burst is this many distinct paths… */
export const DEFAULT_BURST_THRESHOLD = 50;
/** …changed within this many ms (a mass rewrite, a checkout, an install gone wrong). */
export const DEFAULT_BURST_WINDOW_MS = 2000;

/** How changes are classified. A given pattern list replaces the default one (spread the `DEFAULT_*` list to extend it). */
export interface ChangeDetectorConfig {
  /** Globs (see `globMatch`: `**` spans segments, `*` stays in one) for test files. Default `DEFAULT_TEST_PATTERNS`. */
  testPatterns?: readonly string[];
  /** Globs for configuration files. Default `DEFAULT_CONFIG_PATTERNS`. */
  configPatterns?: readonly string[];
  /** Globs for dependency manifests and lock files. Default `DEFAULT_DEPENDENCY_PATTERNS`. */
  dependencyPatterns?: readonly string[];
  /** Globs nobody should touch; any change under them (directories too) gives 'protected.touched'. Default none. */
  protectedPaths?: readonly string[];
  /** Distinct paths that make a burst. Default 50; `Infinity` disables bursts. */
  burstThreshold?: number;
  /** The window (ms, inclusive) those paths must fall in. Default 2000. */
  burstWindowMs?: number;
}

/** True when `path` matches at least one of `globs`. */
export function matchesAny(path: string, globs: readonly string[]): boolean {
  return globs.some((g) => globMatch(path, g));
}

/**
 * The net effect of `next` following `prev` on the same path, or undefined when they cancel out
 * (created then deleted). Used by the watcher's debounce and by `collapseChanges`.
 */
export function mergeChange(prev: RawChange | undefined, next: RawChange): RawChange | undefined {
  if (!prev) return next;
  const k = (kind: RawChangeKind): RawChange => ({ kind, path: next.path, at: next.at });
  if (prev.kind === 'add') return next.kind === 'unlink' ? undefined : next.kind === 'change' ? k('add') : next;
  if (prev.kind === 'addDir' && next.kind === 'unlinkDir') return undefined;
  if (prev.kind === 'unlink' && next.kind === 'add') return k('change'); // replaced: still there, new content
  return next;
}

/** One net change per path, in first-seen order (input order is taken as time order). */
export function collapseChanges(changes: readonly RawChange[]): RawChange[] {
  const net = new Map<string, RawChange | undefined>();
  for (const c of changes) net.set(c.path, mergeChange(net.get(c.path), c));
  return [...net.values()].filter((c): c is RawChange => c !== undefined);
}

const isDir = (c: RawChange): boolean => c.kind === 'addDir' || c.kind === 'unlinkDir';
const FILE_EVENT: Record<'add' | 'change' | 'unlink', WorkspaceEventType> = { add: 'file.created', change: 'file.modified', unlink: 'file.deleted' };

/** A loop, not `Math.max(...)`: a checkout can change more paths than a call can take arguments. */
function latestAt(changes: readonly RawChange[], start = -Infinity): number {
  let at = start;
  for (const c of changes) if (c.at > at) at = c.at;
  return at;
}

function eventOf(type: WorkspaceEventType, changes: RawChange[]): WorkspaceEvent {
  return {
    type,
    paths: changes.map((c) => c.path),
    kinds: [...new Set(changes.map((c) => c.kind))].sort(),
    changes,
    at: latestAt(changes),
  };
}

/**
 * The largest set of distinct paths whose changes fall within `windowMs` of each other, when it
 * has at least `threshold` paths. Sliding window over the changes sorted by time: O(n log n).
 */
export function findBurst(changes: readonly RawChange[], config: ChangeDetectorConfig = {}): WorkspaceEvent | undefined {
  const threshold = config.burstThreshold ?? DEFAULT_BURST_THRESHOLD, windowMs = config.burstWindowMs ?? DEFAULT_BURST_WINDOW_MS;
  if (changes.length < threshold) return undefined;
  const sorted = [...changes].sort((a, b) => a.at - b.at);
  const inWindow = new Map<string, number>(); // path → how many of its changes are in the window
  let best: [number, number, number] | undefined; // [distinct, start, end]
  for (let start = 0, end = 0; end < sorted.length; end++) {
    const e = sorted[end]!;
    inWindow.set(e.path, (inWindow.get(e.path) ?? 0) + 1);
    for (; e.at - sorted[start]!.at > windowMs; start++) {
      const p = sorted[start]!.path, n = inWindow.get(p)! - 1;
      if (n === 0) inWindow.delete(p);
      else inWindow.set(p, n);
    }
    if (inWindow.size >= threshold && inWindow.size > (best?.[0] ?? 0)) best = [inWindow.size, start, end];
  }
  if (!best) return undefined;
  // The last change of each path, not the net one: a file created and deleted again still took part.
  const last = new Map<string, RawChange>();
  for (const c of sorted.slice(best[1], best[2] + 1)) last.set(c.path, c);
  return eventOf('burst', [...last.values()]);
}

/**
 * The events of one batch of changes: one 'file.created'/'file.modified'/'file.deleted' per file
 * (net of the batch; directories get none: their files are reported one by one), then one each of
 * 'test.changed', 'config.changed', 'dependencies.changed' and 'protected.touched' listing the
 * matching paths, then 'burst' if the batch holds one. A path can be in several events
 * (`package.json` is config and dependencies). Order is deterministic.
 */
export function detectEvents(changes: readonly RawChange[], config: ChangeDetectorConfig = {}): WorkspaceEvent[] {
  const net = collapseChanges(changes);
  const files = net.filter((c) => !isDir(c));
  const events: WorkspaceEvent[] = files.map((c) => eventOf(FILE_EVENT[c.kind as keyof typeof FILE_EVENT], [c]));
  const group = (type: WorkspaceEventType, among: RawChange[], globs: readonly string[]): void => {
    const hits = among.filter((c) => matchesAny(c.path, globs));
    if (hits.length > 0) events.push(eventOf(type, hits));
  };
  group('test.changed', files, config.testPatterns ?? DEFAULT_TEST_PATTERNS);
  group('config.changed', files, config.configPatterns ?? DEFAULT_CONFIG_PATTERNS);
  group('dependencies.changed', files, config.dependencyPatterns ?? DEFAULT_DEPENDENCY_PATTERNS);
  group('protected.touched', net, config.protectedPaths ?? []);
  const burst = findBurst(changes, config);
  if (burst) events.push(burst);
  return events;
}

/**
 * `detectEvents` with memory: a burst spread over several batches (a slow `npm install`, a
 * debounced watcher flushing every 100 ms) is still seen. Keeps the changes of the last
 * `burstWindowMs` (judged by the newest `at` seen, never a clock). After a burst is reported
 * the window starts afresh, so one long burst gives one event per `burstThreshold` new paths
 * rather than one per batch.
 */
export class ChangeDetector {
  private recent: RawChange[] = [];
  private latest = -Infinity;

  constructor(readonly config: ChangeDetectorConfig = {}) {}

  /** The events of `changes`; 'burst' also counts the earlier batches still in the window. */
  push(changes: readonly RawChange[]): WorkspaceEvent[] {
    const events = detectEvents(changes, { ...this.config, burstThreshold: Infinity });
    this.latest = latestAt(changes, this.latest);
    const windowMs = this.config.burstWindowMs ?? DEFAULT_BURST_WINDOW_MS;
    this.recent = [...this.recent, ...changes].filter((c) => this.latest - c.at <= windowMs);
    const burst = findBurst(this.recent, this.config);
    if (burst) {
      events.push(burst);
      this.recent = [];
    }
    return events;
  }

  /** Forgets the burst window (e.g. after the watcher restarts). */
  reset(): void {
    this.recent = [];
    this.latest = -Infinity;
  }
}
