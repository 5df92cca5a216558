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
import { hostname, networkInterfaces } from 'node:os';

export const newToken = (): string => randomBytes(24).toString('base64url');

export const isLoopback = (host: string): boolean => host === '127.0.0.1' || host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** True for a bind address that means every interface of the machine. */
export const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '[::]';

/**
 * The host part of the URL to print for a server bound to `address` (as the system reports it):
 * the address itself (`[::1]` for IPv6), and for a bind on every interface its loopback
 * address, which opens from this machine (the warning says how others reach it).
 */
export const urlHost = (address: string): string => (address === '0.0.0.0' ? '127.0.0.1' : isWildcard(address) ? '[::1]' : address.includes(':') ? `[${address}]` : address);

const withPort = (name: string, port: number) => `${name.includes(':') ? `[${name}]` : name}:${port}`.toLowerCase();

/**
 * The Host header values a request may carry, for a server bound to `host` on `port`. Loopback
 * binds answer only to loopback names. A non-loopback bind exists to be reached from other
 * machines, which name it by one of its addresses or its host name: those are accepted too,
 * with any names in `extra` (a DNS name of the machine); anything else is still refused.
 */
export function allowedHosts(host: string, port: number, extra: readonly string[] = []): Set<string> {
  const names = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  names.add(withPort(host.replace(/^\[|\]$/g, ''), port));
  if (!isLoopback(host)) {
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.add(withPort(i.address.replace(/%.*$/, ''), port));
    names.add(withPort(hostname(), port));
  }
  for (const name of extra) names.add(withPort(name, port));
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
