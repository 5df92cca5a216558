/**
 * Who may talk to the inspector, and what it may do.
 *
 * - Host: only the names the server was bound under. A web page on another site that
 *   re-points its own DNS name at 127.0.0.1 (DNS rebinding) sends its own name as Host and
 *   is refused, for reads too.
 * - Mutations (approve, reject, cancel, retry) need the per-run token as
 *   `Authorization: Bearer <token>`, a JSON body (a cross-site form cannot send one
 *   without a preflight the server never grants), and an Origin, when the browser sends
 *   one, that is the server itself (CSRF).
 * The token is compared in constant time.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const newToken = (): string => randomBytes(24).toString('base64url');

export const isLoopback = (host: string): boolean => host === '127.0.0.1' || host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** The Host header values a request may carry, for a server bound to `host` on `port`. */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  names.add(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  return names;
}

export interface Refusal {
  status: number;
  message: string;
}

export function checkHost(req: IncomingMessage, hosts: Set<string>): Refusal | null {
  const host = req.headers.host;
  if (!host || !hosts.has(host.toLowerCase())) return { status: 403, message: `unexpected Host ${JSON.stringify(host ?? '')}: the inspector answers only to ${[...hosts][0]}` };
  return null;
}

export function checkMutation(req: IncomingMessage, token: string): Refusal | null {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host}`) return { status: 403, message: `cross-origin request from ${origin} refused` };
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return { status: 403, message: `cross-site request (${site}) refused` };
  const auth = req.headers.authorization;
  if (!auth) return { status: 401, message: 'this needs the inspector token: open the URL the CLI printed (…/#token=…)' };
  const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7) : '');
  const expected = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { status: 403, message: 'wrong inspector token' };
  if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return { status: 415, message: 'send JSON (Content-Type: application/json)' };
  return null;
}
