/**
 * The two steps a shard group answers for a router (src/serve/router.ts), one per engine phase:
 *   POST /v1/group/candidates  features (base64 float32, nq × hidden) → per query its shards'
 *                              top k' by inner product: flat [score, shard, pos, …]
 *   POST /v1/group/rerank      token vectors + the picks of the global top k' that fall in this
 *                              group → per query exact MaxSim hits [score, shard, pos, …] and ids
 * Both name the version: the router decides it for the whole request, so every group answers
 * from the same one. Scores travel as JSON numbers, which carry a float32 exactly, so the
 * router's merge orders them as one engine would.
 */
import type { FastifyInstance } from 'fastify';
import pLimit from 'p-limit';

import { topCandidates, type Hit } from '../query/query-engine.js';
import { parseSearchBody, type SearchLimits } from './search-request.js';
import { RequestError } from './serve-errors.js';
import type { VersionPool } from './version-pool.js';

const version = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 200 } as const;
const uint = { type: 'integer', minimum: 1 } as const;

export interface CandidatesBody {
  version: string;
  features: string;
  nq: number;
  k: number;
  kPrime: number;
  efSearch?: number;
}

export interface RerankBody {
  version: string;
  tensor: { dtype: 'float32' | 'float16'; shape: number[]; data: string; counts: number[] };
  /** Per query: [shard, pos, shard, pos, …]. */
  picks: number[][];
  k: number;
}

export const candidatesSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'features', 'nq', 'k', 'kPrime'],
  properties: { version, features: { type: 'string' }, nq: uint, k: uint, kPrime: uint, efSearch: uint },
} as const;

export const rerankSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'tensor', 'picks', 'k'],
  properties: {
    version,
    tensor: {
      type: 'object',
      additionalProperties: false,
      required: ['dtype', 'shape', 'data', 'counts'],
      properties: { dtype: { enum: ['float32', 'float16'] }, shape: { type: 'array', minItems: 2, maxItems: 2, items: uint }, data: { type: 'string' }, counts: { type: 'array', minItems: 1, items: uint } },
    },
    picks: { type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0 } } },
    k: uint,
  },
} as const;

/** Hits per query as flat [score, shard, pos, …] rows. */
export function flattenHits(hits: Hit[][]): number[][] {
  return hits.map((h) => h.flatMap((x) => [x.score, x.shard, x.pos]));
}

/** Flat [score, shard, pos, …] rows back to hits. */
export function unflattenHits(rows: number[][]): Hit[][] {
  return rows.map((r) => {
    const out: Hit[] = [];
    for (let i = 0; i + 2 < r.length; i += 3) out.push({ score: r[i]!, shard: r[i + 1]!, pos: r[i + 2]! });
    return out;
  });
}

export function registerGroupRoutes(app: FastifyInstance, pool: VersionPool, o: { threads: number | undefined; limits: SearchLimits }): void {
  const threads = o.threads ? { threads: o.threads } : {};
  // one engine call at a time, first come first served, as a search server's batcher runs them:
  // each call already uses every thread, and several routers (or a router's retries) must queue,
  // not pile up native calls that fight over the cores. A router runs one batch at a time, so the
  // queue is bounded by the routers.
  const engineCall = pLimit(1);
  app.post<{ Body: CandidatesBody }>('/v1/group/candidates', { schema: { body: candidatesSchema } }, async (request) => {
    const b = request.body;
    const lease = pool.acquire(b.version);
    try {
      const engine = lease.opened.engine;
      const raw = Buffer.from(b.features, 'base64');
      if (raw.length !== b.nq * engine.hidden * 4) throw new RequestError('features', `${raw.length} bytes, expected ${b.nq} × ${engine.hidden} float32`);
      const F = new Float32Array(b.nq * engine.hidden);
      new Uint8Array(F.buffer).set(raw);
      const cands = await engineCall(() => engine.candidates(F, b.nq, { k: b.k, kPrime: b.kPrime, candidates: 'hnsw', ...(b.efSearch ? { efSearch: b.efSearch } : {}), ...threads }));
      // this group's top k' only: the global top k' of the groups' top k's is the global top k' (a total order)
      return { version: lease.version, hits: flattenHits(topCandidates(cands, b.kPrime)) };
    } finally {
      lease.release();
    }
  });
  app.post<{ Body: RerankBody }>('/v1/group/rerank', { schema: { body: rerankSchema } }, async (request) => {
    const b = request.body;
    const lease = pool.acquire(b.version);
    try {
      const engine = lease.opened.engine;
      // a router's whole batch, already checked request by request there: the per-request query
      // count limit does not apply (a router may batch more than one client may send)
      const req = parseSearchBody({ tensor: b.tensor, k: b.k, kPrime: b.k }, engine.dim, { ...o.limits, maxQueries: Number.MAX_SAFE_INTEGER });
      if (b.picks.length !== req.counts.length) throw new RequestError('picks', `${b.picks.length} rows for ${req.counts.length} queries`);
      const picks: Hit[][] = b.picks.map((row, q) => {
        if (row.length % 2 !== 0) throw new RequestError(`picks[${q}]`, 'expected [shard, pos, shard, pos, …]');
        const out: Hit[] = [];
        for (let i = 0; i < row.length; i += 2) out.push({ score: 0, shard: row[i]!, pos: row[i + 1]! });
        return out;
      });
      const hits = await engineCall(() => engine.rerank(req.vectors, req.counts, picks, b.k, threads));
      return { version: lease.version, hits: flattenHits(hits), ids: hits.map((h) => h.map((x) => String(engine.idOf(x)))) };
    } finally {
      lease.release();
    }
  });
}
