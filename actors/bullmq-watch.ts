/**
 * What the supervisor watches in its queue besides the outcomes of its jobs, on timers:
 *
 * - **Stalled jobs.** BullMQ's stalled-job check normally runs inside workers; when the only
 *   worker dies, nothing would notice and its attempt would stay running until its timeout
 *   (forever without one). The supervisor runs the same check (BullMQ's own script, with
 *   `maxStalledCount: 0` as the workers use), so a job whose lock expired is reported as
 *   `stalled` whoever is left.
 * - **No worker.** Jobs that wait while no worker is connected would show as running forever:
 *   one line says so (then again at most every `noWorkerRepeatMs`).
 * - **Sweep.** Attempts not heard of for a while are looked up in the queue (the event stream is
 *   trimmed: a reader that fell behind would miss outcomes), and after an outage all of them are:
 *   jobs Redis lost (restarted without its data) are queued again, reported once per round.
 */
import type { Queue, Scripts } from 'bullmq';
import { ValidationError } from '../runtime/errors.js';
import type { ConnectionReporter } from './bullmq-shared.js';
import { loadBullmq, msProblem } from './bullmq-shared.js';

/** What the watch needs to know of an attempt in flight. */
export interface WatchedAttempt {
  jobId: string;
  /** When it was last heard of (ms). */
  heard: number;
  /** When its job was handed to the queue (ms). */
  since: number;
  /** A worker took its job. */
  active: boolean;
  /** The runner aborted it: it no longer waits for a worker. */
  cancel: string | null;
}

export interface QueueWatchOptions {
  /** How often attempts not heard of for this long are looked up (ms). */
  sweepMs: number;
  /** How often the supervisor runs BullMQ's stalled-job check (ms). */
  stalledCheckMs: number;
  /** Jobs waiting this long with no worker connected are reported (ms). */
  noWorkerNoticeMs: number;
  /** At most one such report per this long (ms). */
  noWorkerRepeatMs: number;
  /** The Redis server, as shown to people (no password). */
  label: string;
  report: (line: string) => void;
}

export class QueueWatch {
  private readonly timers: NodeJS.Timeout[] = [];
  private scripts: Scripts | null = null;
  private lastTaken = Date.now();
  private lastNotice = 0;
  private checking = false;

  constructor(
    private readonly queue: Queue,
    private readonly reporter: ConnectionReporter,
    private readonly attempts: () => Iterable<WatchedAttempt>,
    /** Looks the attempt's job up again; resolves true when it had to be added again (Redis lost it). */
    private readonly recheck: (attempt: WatchedAttempt) => Promise<boolean>,
    private readonly options: QueueWatchOptions,
  ) {
    const problems = [
      msProblem(options?.sweepMs, 'sweepMs', 100),
      msProblem(options?.stalledCheckMs, 'stalledCheckMs', 100),
      msProblem(options?.noWorkerNoticeMs, 'noWorkerNoticeMs', 100),
      msProblem(options?.noWorkerRepeatMs, 'noWorkerRepeatMs', 0),
      typeof attempts !== 'function' || typeof recheck !== 'function' ? 'attempts and recheck: must be functions' : null,
    ].filter((p): p is string => p !== null);
    if (problems.length) throw new ValidationError('QueueWatch', problems);
  }

  async start(): Promise<void> {
    const { Scripts } = await loadBullmq();
    // BullMQ's script reads the check's settings from its queue's options: a view of our queue with the workers' settings.
    const view = Object.create(this.queue, { opts: { value: { ...this.queue.opts, maxStalledCount: 0, stalledInterval: this.options.stalledCheckMs } } }) as Queue;
    this.scripts = new Scripts(view as never);
    this.every(this.options.sweepMs, () => this.sweep());
    this.every(this.options.stalledCheckMs, () => this.stalledCheck());
    // After an outage, events may have been trimmed or Redis may have lost its data: every attempt is looked up again.
    this.reporter.onBack(() => void this.recheckAll([...this.attempts()], 'after the outage'));
  }

  stop(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
  }

  /** A worker took one of our jobs. */
  taken(): void {
    this.lastTaken = Date.now();
  }

  private every(ms: number, tick: () => Promise<void>): void {
    const timer = setInterval(() => void tick().catch((error: unknown) => this.reporter.error(error)), ms);
    timer.unref();
    this.timers.push(timer);
  }

  private async sweep(): Promise<void> {
    if (this.reporter.outage) return;
    const now = Date.now();
    const stale = [...this.attempts()].filter((a) => now - a.heard >= this.options.sweepMs);
    for (const a of stale) a.heard = now;
    await Promise.all([this.recheckAll(stale, '(found by the periodic lookup)'), this.noWorkerCheck(now)]);
  }

  /** Looks the attempts up; reports the jobs Redis lost, once for the round, with their count. */
  private async recheckAll(attempts: WatchedAttempt[], when: string): Promise<void> {
    if (attempts.length === 0) return;
    const readded = (await Promise.all(attempts.map((a) => this.recheck(a).catch(() => false)))).filter(Boolean).length;
    if (readded > 0) {
      this.options.report(`overseer: redis lost ${readded} job(s) in flight ${when} (a restart without its data?): queued again, so their work runs again (see each task's log)`);
    }
  }

  private async stalledCheck(): Promise<void> {
    if (this.reporter.outage || this.checking || !this.scripts) return;
    if (![...this.attempts()].some((a) => a.active && !a.cancel)) return;
    this.checking = true;
    try {
      // Reports jobs whose lock expired as `stalled` on the event stream; the dispatcher fails their attempts as worker_lost.
      await this.scripts.moveStalledJobsToWait();
    } finally {
      this.checking = false;
    }
  }

  private async noWorkerCheck(now: number): Promise<void> {
    const waiting = [...this.attempts()].filter((a) => !a.active && !a.cancel);
    if (waiting.length === 0) {
      this.lastTaken = now;
      return;
    }
    const oldest = Math.min(...waiting.map((a) => a.since));
    const idleMs = now - Math.max(this.lastTaken, oldest);
    if (idleMs < this.options.noWorkerNoticeMs || (this.lastNotice && now - this.lastNotice < this.options.noWorkerRepeatMs)) return;
    // Workers that are connected but busy (with another store's jobs) are not worth a notice; CLIENT LIST may be disabled (unknown: say it).
    const workers = await this.queue.getWorkersCount().catch(() => null);
    if (workers !== null && workers > 0) return;
    this.lastNotice = now;
    const name = this.queue.name;
    this.options.report(
      `overseer: ${waiting.length} job(s) waiting in queue ${name} and no worker has taken one for ${Math.round(idleMs / 1000)} s` +
        `${workers === 0 ? ' (no worker is connected)' : ''} — start \`overseer worker --redis ${this.options.label} --queue ${name}\``,
    );
  }
}
