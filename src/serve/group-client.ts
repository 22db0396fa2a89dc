/**
 * One HTTP call from a router to a shard-group process. Node's fetch (undici underneath) keeps
 * connections alive in its global pool, so the two calls of every batch reuse sockets instead of
 * paying a TCP handshake each. Every call has its own deadline: a group that hangs fails the call
 * in `timeoutMs`, never the router. Failures come back classified, because the router acts on
 * them differently: a group that lacks the pinned version is mid-swap (refresh and retry); a group
 * that refuses the call (another 4xx: a limit, credentials) answered, so it stays in rotation; any
 * other failure makes the replica unusable until it answers again.
 */
import type { Credentials } from '../dashboard/basic-auth.js';

export type GroupFailure = 'version' | 'refused' | 'unavailable';

/** A call to one replica failed (internal to the router: it becomes a 503 or a retry). */
export class GroupCallError extends Error {
  override readonly name = 'GroupCallError';
  constructor(
    readonly url: string,
    readonly kind: GroupFailure,
    message: string,
  ) {
    super(`${url}: ${message}`);
  }
}

export interface GroupCallOptions {
  timeoutMs: number;
  auth?: Credentials;
}

function headers(o: GroupCallOptions, json: boolean): Record<string, string> {
  return {
    ...(json ? { 'content-type': 'application/json' } : {}),
    ...(o.auth ? { authorization: `Basic ${Buffer.from(`${o.auth.user}:${o.auth.password}`).toString('base64')}` } : {}),
  };
}

/**
 * GET (body undefined) or POST JSON to `url + path`, parsed JSON back.
 * @throws GroupCallError: kind 'version' when the group refused the version as not loaded, 'refused' for another 4xx, else 'unavailable'
 */
export async function callGroup<T>(url: string, path: string, body: unknown, o: GroupCallOptions): Promise<T> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: headers(o, body !== undefined),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    const e = err as Error;
    const why = e.name === 'TimeoutError' ? `no answer within ${o.timeoutMs} ms` : ((e.cause as Error | undefined)?.message ?? e.message);
    throw new GroupCallError(url, 'unavailable', why);
  }
  if (res.ok) return JSON.parse(text) as T;
  let detail: { field?: string; message?: string } = {};
  try {
    detail = JSON.parse(text) as typeof detail;
  } catch {
    // not our JSON error body (a proxy's page): the status says enough
  }
  // UnknownVersionError is a 400 on field `version` (src/serve/serve-errors.ts)
  const kind: GroupFailure = res.status === 400 && detail.field === 'version' ? 'version' : res.status >= 400 && res.status < 500 && res.status !== 429 ? 'refused' : 'unavailable';
  throw new GroupCallError(url, kind, `${res.status} ${detail.message ?? text.slice(0, 200)}`);
}
