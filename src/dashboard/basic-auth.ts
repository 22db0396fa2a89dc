/**
 * HTTP basic auth for the dashboard and the search API: constant-time comparison, one realm, 401
 * with a challenge; and the rule both follow: beyond loopback, credentials are required.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

export interface Credentials {
  user: string;
  password: string;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** True when the request carries these credentials (digests compared in constant time). */
export function authorized(req: IncomingMessage, creds: Credentials): boolean {
  const h = req.headers.authorization ?? '';
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(h);
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'base64').toString('utf8');
  return timingSafeEqual(digest(given), digest(`${creds.user}:${creds.password}`));
}

export function challenge(res: ServerResponse): void {
  res.writeHead(401, { 'www-authenticate': 'Basic realm="lemur", charset="UTF-8"', 'content-type': 'text/plain' }).end('authentication required\n');
}

/** A bind address only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
