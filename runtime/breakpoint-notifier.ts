/**
 * Breakpoint notifications: what the callbacks registered with `registerNotificationCallback`
 * get. Urgent ones go out at once; the rest are gathered for `notifyBatchMs` and go out together,
 * so that a person is not interrupted once per low-priority breakpoint.
 */
import type { BreakpointDefinition } from '../machines/breakpoint.js';
import type { Clock } from './clock.js';
import { ValidationError } from './errors.js';
import { describe } from './validate.js';

export interface BreakpointNotification extends Pick<BreakpointDefinition, 'id' | 'type' | 'priority' | 'projectId' | 'taskId' | 'message'> {
  at: number;
}

export type NotificationCallback = (notifications: BreakpointNotification[]) => void;

/** The timer key of a batch (the runtime's timer queue calls `BreakpointManager.onTimer` with it). */
export const NOTIFY_KEY = 'bp-notify';

export interface NotifierPorts {
  clock: Clock;
  schedule(key: string, at: number): void;
  onError(error: unknown, source: string): void;
}

export class BreakpointNotifier {
  private readonly callbacks = new Set<NotificationCallback>();
  private batch: BreakpointNotification[] = [];

  constructor(
    private readonly ports: NotifierPorts,
    private readonly batchMs: number,
  ) {}

  register(callback: NotificationCallback): () => void {
    if (typeof callback !== 'function') throw new ValidationError('registerNotificationCallback', [`callback: must be a function, got ${describe(callback)}`]);
    this.callbacks.add(callback);
    return () => this.callbacks.delete(callback);
  }

  /** Delivers `notification` now when `urgent`, else with the batch (the first one of a batch starts its timer). */
  notify(notification: BreakpointNotification, urgent: boolean): void {
    if (urgent) return this.deliver([notification]);
    if (this.batch.length === 0) this.ports.schedule(NOTIFY_KEY, this.ports.clock.now() + this.batchMs);
    this.batch.push(notification);
  }

  /** The batch's timer came due: delivers what was gathered. */
  flush(): void {
    const batch = this.batch;
    this.batch = [];
    if (batch.length) this.deliver(batch);
  }

  private deliver(notifications: BreakpointNotification[]): void {
    for (const callback of this.callbacks) {
      try {
        callback(notifications);
      } catch (error) {
        this.ports.onError(error, 'a breakpoint notification callback');
      }
    }
  }
}
