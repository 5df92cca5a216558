/**
 * Commands from another terminal (`overseer cancel`, `overseer retry`) while a run
 * holds the store: they are appended to `<store>.inbox`, the run applies them within
 * a quarter of a second and answers in `<store>.inbox.done`. When no live process holds
 * the store, the command opens it and applies the change itself.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { ResolutionAction } from '../machines/breakpoint.js';
import { UnknownTaskError } from './errors.js';
import type { Overseer } from './overseer.js';

export interface ControlCommand {
  id: string;
  command: 'cancel' | 'retry' | 'approve' | 'reject';
  /** The task (cancel, retry) or breakpoint (approve, reject). */
  target: string;
  /** A reason (cancel) or a note (approve, reject). */
  note?: string;
  /** What a resolution does to the paused work (approve, reject). */
  action?: ResolutionAction;
  /** Who decided, for the audit trail. */
  by?: string;
}

export interface ControlAnswer {
  id: string;
  ok: boolean;
  message: string;
  state?: string;
  /** The task or breakpoint named does not exist (bad input). */
  unknown?: boolean;
}

export const inboxPath = (store: string) => `${store}.inbox`;
const donePath = (store: string) => `${store}.inbox.done`;

/** Applies one command to a runtime. */
export function applyCommand(overseer: Overseer, c: Omit<ControlCommand, 'id'>): Omit<ControlAnswer, 'id'> {
  try {
    if (c.command === 'approve' || c.command === 'reject') {
      const view = overseer.resolveBreakpoint(c.target, {
        decision: c.command,
        ...(c.action ? { action: c.action } : {}),
        ...(c.note ? { note: c.note } : {}),
        by: c.by ?? 'a person',
      });
      return { ok: true, message: `${c.target} is ${view.state}: ${view.resolution?.action}`, state: view.state };
    }
    const view = c.command === 'cancel' ? overseer.cancelTask(c.target, c.note ?? 'cancelled by a person') : overseer.retryTask(c.target);
    return { ok: true, message: `${c.target} is ${view.state}`, state: view.state };
  } catch (error) {
    // An unknown task or breakpoint is bad input, as it is when no run holds the store (exit 2, not 1).
    const unknown = error instanceof UnknownTaskError || /^unknown breakpoint/.test((error as Error).message);
    return { ok: false, message: (error as Error).message, ...(unknown ? { unknown: true } : {}) };
  }
}

/** In the run: polls the inbox and applies what arrives. Returns the stop function. */
export function serveInbox(overseer: Overseer, store: string, intervalMs = 250): () => Promise<void> {
  let offset = 0;
  const answering = new Set<Promise<void>>();
  const answer = (a: ControlAnswer) => appendFileSync(donePath(store), `${JSON.stringify(a)}\n`);
  const poll = () => {
    if (!existsSync(inboxPath(store))) return;
    const text = readFileSync(inboxPath(store), 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    if (end <= offset) return;
    for (const line of text.slice(offset, end).split('\n')) {
      if (!line.trim()) continue;
      let command: ControlCommand;
      try {
        command = JSON.parse(line) as ControlCommand;
      } catch {
        continue; // a line we cannot read cannot be answered either
      }
      const result: ControlAnswer = { id: command.id, ...applyCommand(overseer, command) };
      // Durable before it is acknowledged: a resolution that was answered is never lost.
      const p = overseer
        .flush()
        .then(
          () => answer(result),
          (error: Error) => answer({ id: command.id, ok: false, message: `not saved: ${error.message}` }),
        )
        .finally(() => answering.delete(p));
      answering.add(p);
    }
    offset = end;
  };
  // Answers of an earlier run were read (or given up on) long ago.
  rmSync(donePath(store), { force: true });
  poll();
  const timer = setInterval(poll, intervalMs);
  return async () => {
    clearInterval(timer);
    poll();
    await Promise.all([...answering]);
    // The answers stay: a sender may not have read its answer yet when the run ends.
    rmSync(inboxPath(store), { force: true });
  };
}

/** From another terminal: sends a command to the live run and waits for its answer. */
export async function sendCommand(store: string, c: Omit<ControlCommand, 'id'>, timeoutMs = 10_000): Promise<ControlAnswer> {
  const command: ControlCommand = { id: randomUUID(), ...c };
  appendFileSync(inboxPath(store), `${JSON.stringify(command)}\n`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(donePath(store))) {
      for (const line of readFileSync(donePath(store), 'utf8').split('\n')) {
        if (line.includes(command.id)) return JSON.parse(line) as ControlAnswer;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { id: command.id, ok: false, message: `the run holding ${store} did not answer within ${timeoutMs / 1000} s` };
}
