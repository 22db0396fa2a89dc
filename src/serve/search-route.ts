/**
 * POST /v1/search as every answering process runs it, whatever does the searching: a search
 * server (one engine call per batch, src/serve/search-server.ts) or a router (features here,
 * candidates and rerank in the shard groups, src/serve/router.ts). The request leases a version,
 * is checked against its dim, waits in the micro-batcher with requests of the same version and
 * settings, and gets its own rows back; the response shape is the same in both, so a client cannot
 * tell a router from one process.
 */
import type { FastifyInstance } from 'fastify';

import { metrics } from '../metrics.js';
import type { EngineResult } from '../query/query-engine.js';
import type { MicroBatcher } from './micro-batcher.js';
import { parseSearchBody, searchBodySchema, type SearchBody, type SearchLimits, type SearchRequest } from './search-request.js';
import type { Lease } from './version-pool.js';

export interface SearchHitsJson {
  ids: string[];
  scores: number[];
}

/** One request in the batcher: its version leased until it is answered. */
export interface SearchJob<T> {
  key: string;
  size: number;
  lease: Lease<T>;
  req: SearchRequest;
}

/** One request's share of a batch. */
export interface JobAnswer {
  results: SearchHitsJson[];
  searchMs: number;
  /** Shard groups that did not answer (a router allowed to answer partially). */
  missingGroups?: number[];
}

export interface SearchRouteOptions<T> {
  acquire: (version: string | undefined) => Lease<T>;
  /** Token dim of a leased version. */
  dim: (opened: T) => number;
  batcher: MicroBatcher<SearchJob<T>, JobAnswer>;
  limits: SearchLimits;
  /**
   * Called when a batch failed: true to lease again and run the request once more (a router whose
   * group dropped the version mid-swap refreshes first). @defaultValue never
   */
  retry?: (err: unknown) => Promise<boolean>;
}

/** The batch's queries end to end (one engine call), and the largest k (the top k of the top max-k is the top k). */
export function concatQueries<T>(jobs: SearchJob<T>[]): { vectors: Float32Array; counts: Int32Array; k: number } {
  const vectors = new Float32Array(jobs.reduce((a, j) => a + j.req.vectors.length, 0));
  const counts = new Int32Array(jobs.reduce((a, j) => a + j.req.counts.length, 0));
  let vo = 0;
  let co = 0;
  for (const j of jobs) {
    vectors.set(j.req.vectors, vo);
    counts.set(j.req.counts, co);
    vo += j.req.vectors.length;
    co += j.req.counts.length;
  }
  return { vectors, counts, k: Math.max(...jobs.map((j) => j.req.k)) };
}

/** Each job's rows of a batch's result, cut to its own k. */
export function splitRows<T>(jobs: SearchJob<T>[], r: EngineResult): SearchHitsJson[][] {
  let q = 0;
  return jobs.map((j) => {
    const results: SearchHitsJson[] = [];
    for (let i = 0; i < j.req.counts.length; i++, q++) {
      const row = r.row(q);
      const end = row.ids.indexOf(null);
      const n = Math.min(j.req.k, end < 0 ? row.ids.length : end);
      results.push({ ids: row.ids.slice(0, n).map(String), scores: Array.from(row.scores.subarray(0, n)) });
    }
    return results;
  });
}

export function registerSearchRoute<T>(app: FastifyInstance, o: SearchRouteOptions<T>): void {
  const { batcher } = o;
  const once = async (body: SearchBody): Promise<JobAnswer & { version: string; queueMs: number; batchQueries: number }> => {
    const lease = o.acquire(body.version);
    try {
      const req = parseSearchBody(body, o.dim(lease.opened), o.limits);
      const key = `${lease.version}|${req.kPrime}|${req.efSearch ?? ''}`;
      metrics.serveQueueQueries.set(batcher.queued + req.counts.length);
      return { ...(await batcher.submit({ key, size: req.counts.length, lease, req })), version: lease.version };
    } finally {
      lease.release();
      metrics.serveQueueQueries.set(batcher.queued);
    }
  };
  app.post<{ Body: SearchBody }>('/v1/search', { schema: { body: searchBodySchema } }, async (request) => {
    const t0 = performance.now();
    let r;
    try {
      r = await once(request.body);
    } catch (err) {
      if (!(await o.retry?.(err))) throw err;
      r = await once(request.body);
    }
    const totalMs = performance.now() - t0;
    metrics.serveRequestSeconds.observe({ route: '/v1/search' }, totalMs / 1000);
    return {
      version: r.version,
      results: r.results,
      ...(r.missingGroups?.length ? { partial: true, missingGroups: r.missingGroups } : {}),
      timings: { queueMs: round(r.queueMs), searchMs: round(r.searchMs), totalMs: round(totalMs), batchQueries: r.batchQueries },
    };
  });
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
