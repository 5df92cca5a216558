/** Small measuring helpers shared by the benchmark processes. */

export const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (() => {});

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Elapsed time of a run, and its peak retained heap: samples take a full GC, and their time is not counted. */
export class Meter {
  private readonly base: number;
  private readonly start: number;
  private excluded = 0;
  private stoppedAt: number | null = null;
  peakHeap = 0;

  constructor() {
    gc();
    this.base = process.memoryUsage().heapUsed;
    this.start = performance.now();
  }

  sample(): void {
    const t = performance.now();
    gc();
    this.peakHeap = Math.max(this.peakHeap, process.memoryUsage().heapUsed - this.base);
    if (this.stoppedAt === null) this.excluded += performance.now() - t;
  }

  /** Ends the timed part; later samples still count for the heap. */
  stop(): void {
    this.stoppedAt ??= performance.now();
  }

  elapsed(): number {
    return (this.stoppedAt ?? performance.now()) - this.start - this.excluded;
  }
}

/** Prints one JSON line: what a benchmark child process reports to `run.ts`. */
export function report(value: unknown): void {
  console.log(JSON.stringify(value));
}
