/**
 * What every `lemur serve` process shares, whatever it serves (a whole version, a shard group,
 * or routes to groups): a fastify app with strict schema validation, basic auth off loopback
 * (health probes stay open: they tell nothing), /healthz, /readyz, /metrics, request metrics, and
 * the one mapping of errors to statuses: 400 naming the field, 429 and 503 with Retry-After.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';

import { authorized, isLoopback, type Credentials } from '../dashboard/basic-auth.js';
import { ConfigError, InvalidArgumentError } from '../errors.js';
import { log } from '../log.js';
import { metrics, registry } from '../metrics.js';
import { GroupUnavailableError, NotReadyError, OverloadedError, RequestError } from './serve-errors.js';

export interface HttpAppOptions {
  host: string;
  auth?: Credentials;
  /** Largest request body. @defaultValue 16 MiB */
  bodyLimit?: number;
  /** Readiness: a version to answer with, or undefined while not ready. */
  ready: () => { ready: boolean; detail: Record<string, unknown> };
}

const OPEN_ROUTES = new Set(['/healthz', '/readyz']);

/** The error body every failure has: a stable code, a message, and the field when one is at fault. */
function sendError(reply: FastifyReply, status: number, code: string, message: string, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(status).type('application/json').send({ error: code, message, ...extra });
}

export function createHttpApp(o: HttpAppOptions): FastifyInstance {
  if (!isLoopback(o.host) && !o.auth) {
    throw new ConfigError(`lemur serve would listen on ${o.host}, beyond this machine, without a password: set LEMUR_SERVE_USER and LEMUR_SERVE_PASSWORD`);
  }
  const app = Fastify({
    logger: false,
    bodyLimit: o.bodyLimit ?? 16 * 2 ** 20,
    // strict: a string is not a number, an unknown field is an error, not silently dropped
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    keepAliveTimeout: 65_000,
  });
  if (o.auth) {
    const creds = o.auth;
    app.addHook('onRequest', async (req, reply) => {
      if (OPEN_ROUTES.has(req.url.split('?')[0]!) || authorized(req.raw, creds)) return;
      reply.header('www-authenticate', 'Basic realm="lemur", charset="UTF-8"');
      return sendError(reply, 401, 'unauthorized', 'authentication required');
    });
  }
  app.addHook('onResponse', async (req, reply) => {
    metrics.serveRequests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      // ajv's path `/k` or `/tensor/shape/1` as the field, `body/k must be >= 1` as the message
      const v = err.validation[0]!;
      const field = (v.instancePath || '/').slice(1).replace(/\//g, '.').replace(/\.(\d+)(?=\.|$)/g, '[$1]') || String(v.params['additionalProperty'] ?? v.params['missingProperty'] ?? 'body');
      const detail = v.keyword === 'additionalProperties' ? `unknown field '${String(v.params['additionalProperty'])}'` : v.message ?? 'invalid';
      return sendError(reply, 400, 'bad_request', `${field}: ${detail}`, { field });
    }
    if (err instanceof RequestError) return sendError(reply, 400, 'bad_request', err.message, { field: err.field });
    if (err instanceof InvalidArgumentError) return sendError(reply, 400, 'bad_request', err.message);
    if (err instanceof OverloadedError) {
      reply.header('retry-after', String(err.retryAfterSeconds));
      return sendError(reply, 429, 'overloaded', err.message);
    }
    if (err instanceof NotReadyError) {
      reply.header('retry-after', '1');
      return sendError(reply, 503, 'not_ready', err.message);
    }
    if (err instanceof GroupUnavailableError) {
      reply.header('retry-after', '1');
      return sendError(reply, 503, 'group_unavailable', err.message, { groups: err.groups });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own: a body too large (413), not JSON (400), a wrong content type (415)
      return sendError(reply, err.statusCode, 'bad_request', err.message);
    }
    log.error('search server failure', { route: req.routeOptions.url, error: err.stack ?? String(err) });
    return sendError(reply, 500, 'internal', err.message);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = o.ready();
    return reply.code(r.ready ? 200 : 503).send({ ready: r.ready, ...r.detail });
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return app;
}

/** Listens and returns the base URL (port 0: any free port). */
export async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw new ConfigError(`cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  const addr = app.server.address();
  const p = typeof addr === 'object' && addr ? addr.port : port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
}

/** What a serving process starts once listening and stops around draining its requests. */
export interface ServingParts {
  /** Starts following versions (after listen: /healthz answers and /readyz says "not yet" while a version loads). */
  start(url: string): Promise<void>;
  /** Stops what brings new work or versions: registrations, the follower. */
  stop(): Promise<void>;
  /** Closes the versions, once requests in flight are answered. */
  release(): Promise<void>;
}

/**
 * Listens, then starts the parts; a start that fails undoes everything. close() (idempotent): stop
 * the parts, stop accepting and wait for requests in flight (fastify's close), then release the versions.
 */
export async function serveApp(app: FastifyInstance, host: string, port: number, parts: ServingParts): Promise<{ url: string; close: () => Promise<void> }> {
  metrics.serveReady.set(0);
  const url = await listen(app, host, port);
  let closing: Promise<void> | undefined;
  // idempotent: a second close waits for the first
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await parts.stop();
      await app.close();
      await parts.release();
      metrics.serveReady.set(0);
    })());
  try {
    await parts.start(url);
  } catch (err) {
    await close();
    throw err;
  }
  return { url, close };
}
