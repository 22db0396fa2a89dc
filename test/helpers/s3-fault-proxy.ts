/**
 * An HTTP proxy on loopback in front of an S3 endpoint (s3rver) that breaks a seeded fraction of
 * requests the ways object stores fail: 500 InternalError and 503 SlowDown with S3's XML error
 * body, connection resets, stalls, and truncated bodies. Fixed answers for chosen keys (a 403 of
 * one object) make permanent errors. Counts what it injected. It forwards bytes as they come (an
 * object is never held whole) and knows nothing of signatures: the client signs for the
 * upstream's host, which the proxy passes on unchanged. For tests and benchmarks, never for
 * production traffic.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { Random } from '../../src/data/random.js';

/**
 * - `internal-error`: 500 InternalError; the request never reaches the upstream.
 * - `slow-down`: 503 SlowDown (S3's throttling answer); never reaches the upstream.
 * - `reset`: the upstream handles the request, then the connection is reset before any byte of
 *   the response: the client cannot tell whether a write happened.
 * - `reset-mid-body`: status, headers and part of the body, then a reset.
 * - `truncate`: Content-Length declared, fewer bytes sent, then the connection closed cleanly.
 * - `stall`: the request waits `stallMs` before it is forwarded (a client's socket timeout may
 *   give up first).
 * A body fault on a response without a body (a PUT's, a HEAD's) becomes a `reset`.
 */
export type S3Fault = 'internal-error' | 'slow-down' | 'reset' | 'reset-mid-body' | 'truncate' | 'stall';

export const S3_FAULTS: readonly S3Fault[] = ['internal-error', 'slow-down', 'reset', 'reset-mid-body', 'truncate', 'stall'];

export interface S3FaultProxyOptions {
  /** The upstream, like http://127.0.0.1:4568 (plain HTTP). */
  target: string;
  /** Seed of the fault draws: the same seed and request order give the same faults. @defaultValue 1 */
  seed?: number;
  /** Fraction of requests that get a fault, in [0, 1]. @defaultValue 0 */
  rate?: number;
  /** The faults drawn from, uniformly. @defaultValue S3_FAULTS */
  faults?: readonly S3Fault[];
  /** How long a `stall` holds a request. @defaultValue 1500 */
  stallMs?: number;
}

/** A fixed answer for matching requests (a permanent error the client must not retry). */
export interface FixedResponse {
  method?: string;
  /** Matched against the request path without the query string (`/bucket/key`). */
  path: RegExp;
  status: number;
  /** S3 error code in the XML body, e.g. AccessDenied, NoSuchKey. */
  code: string;
}

export type S3FaultCounts = Record<S3Fault | 'requests' | 'passed' | 'fixed', number>;

const MESSAGES: Record<string, string> = {
  InternalError: 'We encountered an internal error. Please try again.',
  SlowDown: 'Please reduce your request rate.',
  AccessDenied: 'Access Denied',
  NoSuchKey: 'The specified key does not exist.',
};

function errorXml(code: string, path: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${MESSAGES[code] ?? code}</Message><Resource>${path}</Resource><RequestId>fault-proxy</RequestId></Error>`;
}

export class S3FaultProxy {
  readonly url: string;
  readonly counts: S3FaultCounts;
  readonly #server: Server;
  readonly #target: URL;
  readonly #random: Random;
  readonly #faults: readonly S3Fault[];
  readonly #stallMs: number;
  readonly #sockets = new Set<Socket>();
  // keep-alive upstream connections, as a real load balancer would hold
  readonly #agent = new Agent({ keepAlive: true });
  readonly #fixed: FixedResponse[] = [];
  // stalls still pending, cleared by close() so a long stall keeps no process alive
  readonly #stalls = new Set<NodeJS.Timeout>();
  #rate: number;

  private constructor(server: Server, o: S3FaultProxyOptions) {
    this.#server = server;
    this.#target = new URL(o.target);
    this.#random = new Random(o.seed ?? 1);
    this.#rate = o.rate ?? 0;
    this.#faults = o.faults ?? S3_FAULTS;
    this.#stallMs = o.stallMs ?? 1500;
    this.counts = Object.fromEntries(['requests', 'passed', 'fixed', ...S3_FAULTS].map((k) => [k, 0])) as S3FaultCounts;
    const { port } = server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}`;
    server.on('request', (req, res) => this.#handle(req, res));
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
  }

  /** Starts the proxy on 127.0.0.1 and a free port. */
  static async start(o: S3FaultProxyOptions): Promise<S3FaultProxy> {
    const server = createServer({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return new S3FaultProxy(server, o);
  }

  /** Changes the fault rate from the next request on (0: a clean pass-through). */
  setRate(rate: number): void {
    this.#rate = rate;
  }

  /** Answers matching requests with a fixed error from now on (checked before any fault draw). */
  respondWith(rule: FixedResponse): void {
    this.#fixed.push(rule);
  }

  /** Faults injected so far, all kinds together. */
  injected(): number {
    return S3_FAULTS.reduce((n, f) => n + this.counts[f], 0);
  }

  async close(): Promise<void> {
    for (const t of this.#stalls) clearTimeout(t);
    for (const s of this.#sockets) s.destroy();
    this.#agent.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.counts.requests++;
    const path = (req.url ?? '/').split('?')[0]!;
    // every request draws the same three numbers, so the faults of request i depend only on the seed
    const hit = this.#random.next() < this.#rate;
    const fault = this.#faults[this.#random.int(this.#faults.length)]!;
    const cutAt = 0.1 + 0.8 * this.#random.next();
    const fixed = this.#fixed.find((r) => r.path.test(path) && (!r.method || r.method === req.method));
    if (fixed) {
      this.counts.fixed++;
      this.#answer(req, res, fixed.status, fixed.code, path);
      return;
    }
    if (!hit) {
      this.counts.passed++;
      this.#forward(req, res, undefined, 0);
      return;
    }
    switch (fault) {
      case 'internal-error':
        this.counts[fault]++;
        this.#answer(req, res, 500, 'InternalError', path);
        return;
      case 'slow-down':
        this.counts[fault]++;
        this.#answer(req, res, 503, 'SlowDown', path);
        return;
      case 'stall':
        this.counts[fault]++;
        {
          const timer = setTimeout(() => {
            this.#stalls.delete(timer);
            this.#forward(req, res, undefined, 0);
          }, this.#stallMs);
          this.#stalls.add(timer);
        }
        return;
      default:
        this.#forward(req, res, fault, cutAt);
    }
  }

  /** Reads the request body (a client may be sending one), then answers with an S3 error. */
  #answer(req: IncomingMessage, res: ServerResponse, status: number, code: string, path: string): void {
    req.resume();
    req.once('end', () => {
      const body = req.method === 'HEAD' ? '' : errorXml(code, path);
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'fault-proxy' });
      res.end(body);
    });
  }

  /** Passes the request on; `fault` (reset, reset-mid-body, truncate) breaks the upstream's answer. */
  #forward(req: IncomingMessage, res: ServerResponse, fault: S3Fault | undefined, cutAt: number): void {
    const headers = { ...req.headers };
    // the proxy's server already answered 100-continue; the upstream gets the body straight away
    delete headers['expect'];
    const up = httpRequest({ host: this.#target.hostname, port: this.#target.port, method: req.method, path: req.url, headers, agent: this.#agent }, (upRes) => {
      const size = Number(upRes.headers['content-length'] ?? NaN);
      const hasBody = req.method !== 'HEAD' && size > 1;
      if (fault === 'reset' || (fault !== undefined && !hasBody)) {
        this.counts.reset++;
        upRes.resume();
        req.socket.resetAndDestroy();
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (fault === undefined) {
        upRes.pipe(res);
        return;
      }
      this.counts[fault]++;
      const cut = Math.max(1, Math.floor(size * cutAt));
      let sent = 0;
      upRes.on('data', (chunk: Buffer) => {
        if (sent >= cut) return;
        const part = chunk.subarray(0, cut - sent);
        sent += part.length;
        if (sent < cut) {
          res.write(part);
          return;
        }
        const socket = req.socket;
        // the bytes up to the cut are flushed first, so the client sees a short body, not none
        res.write(part, () => (fault === 'truncate' ? socket.end() : socket.resetAndDestroy()));
        upRes.destroy();
      });
    });
    up.on('error', (err) => {
      if (res.headersSent) {
        req.socket.destroy();
        return;
      }
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: upstream ${this.#target.host}: ${err.message}\n`);
    });
    req.pipe(up);
  }
}
