/**
 * `lemur serve`: answers searches over the published version it follows (src/serve/
 * follow-current.ts), gathering concurrent requests into batched engine calls
 * (src/serve/micro-batcher.ts). With `group`, it holds only the shards of one shard group and
 * answers a router's two steps instead (src/serve/group-routes.ts).
 *
 * Candidates come from each shard's HNSW graph, whatever the batch size: the engine's 'auto'
 * mode would scan small shards for big batches, and a request's results must not depend on what
 * it happened to be batched with.
 */
import type { FastifyInstance } from 'fastify';

import type { Credentials } from '../dashboard/basic-auth.js';
import { metrics } from '../metrics.js';
import { openVersion } from '../query/open-version.js';
import type { EngineSearchOptions } from '../query/query-engine.js';
import type { ObjectStore } from '../store/object-store.js';
import { CurrentFollower, type FollowOptions } from './follow-current.js';
import { registerGroupRoutes } from './group-routes.js';
import { createHttpApp, listen } from './http-app.js';
import { MicroBatcher, type MicroBatcherOptions } from './micro-batcher.js';
import { DEFAULT_LIMITS, parseSearchBody, searchBodySchema, type SearchBody, type SearchLimits, type SearchRequest } from './search-request.js';
import { versionInfo } from './version-info.js';
import { VersionPool, type Lease } from './version-pool.js';

/** One shard group of n: group i holds the shards whose ordinal is i modulo n. */
export interface ShardGroup {
  index: number;
  count: number;
}

export interface SearchServerOptions {
  store: ObjectStore;
  /** @defaultValue 8080 (0: any free port) */
  port?: number;
  /** @defaultValue 127.0.0.1 */
  host?: string;
  auth?: Credentials;
  limits?: Partial<SearchLimits>;
  batch?: MicroBatcherOptions;
  follow?: FollowOptions;
  /** Keep a swapped-out version open this long for requests pinning it. @defaultValue 0; 30 000 in a group */
  retainMs?: number;
  group?: ShardGroup;
  bodyLimit?: number;
  /** Threads per engine call. @defaultValue config().threads */
  threads?: number;
}

export interface SearchServer {
  url: string;
  pool: VersionPool;
  follower: CurrentFollower;
  app: FastifyInstance;
  close: () => Promise<void>;
}

/** One request in the batcher: its version leased until it is answered. */
interface Job {
  key: string;
  size: number;
  lease: Lease;
  req: SearchRequest;
}

export interface SearchHitsJson {
  ids: string[];
  scores: number[];
}

/** One batched engine call: the requests' queries end to end, each request's rows back out. */
async function runBatch(jobs: Job[], threads: number | undefined): Promise<{ results: SearchHitsJson[]; searchMs: number }[]> {
  const first = jobs[0]!;
  const k = Math.max(...jobs.map((j) => j.req.k)); // the top k of the top max-k is the top k
  const tokens = jobs.reduce((a, j) => a + j.req.vectors.length, 0);
  const vectors = new Float32Array(tokens);
  const counts = new Int32Array(jobs.reduce((a, j) => a + j.req.counts.length, 0));
  let vo = 0;
  let co = 0;
  for (const j of jobs) {
    vectors.set(j.req.vectors, vo);
    counts.set(j.req.counts, co);
    vo += j.req.vectors.length;
    co += j.req.counts.length;
  }
  const options: EngineSearchOptions = { k, kPrime: first.req.kPrime, candidates: 'hnsw', ...(first.req.efSearch ? { efSearch: first.req.efSearch } : {}), ...(threads ? { threads } : {}) };
  const t0 = performance.now();
  const r = await first.lease.opened.engine.search(vectors, counts, options);
  const searchMs = performance.now() - t0;
  metrics.serveBatchQueries.observe(counts.length);
  let q = 0;
  return jobs.map((j) => {
    const results: SearchHitsJson[] = [];
    for (let i = 0; i < j.req.counts.length; i++, q++) {
      const row = r.row(q);
      const n = Math.min(j.req.k, row.ids.indexOf(null) < 0 ? row.ids.length : row.ids.indexOf(null));
      results.push({ ids: row.ids.slice(0, n).map(String), scores: Array.from(row.scores.subarray(0, n)) });
    }
    return { results, searchMs };
  });
}

export async function startSearchServer(o: SearchServerOptions): Promise<SearchServer> {
  const host = o.host ?? '127.0.0.1';
  const limits: SearchLimits = { ...DEFAULT_LIMITS, ...o.limits };
  const group = o.group;
  const pool = new VersionPool((v) => openVersion(o.store, v, group ? { shards: (i) => i % group.count === group.index } : {}), {
    retainMs: o.retainMs ?? (group ? 30_000 : 0),
    onChange: (current, loaded) => {
      metrics.serveVersion.reset();
      for (const l of loaded) metrics.serveVersion.set({ version: l }, l === current ? 1 : 0);
      metrics.serveReady.set(current === undefined ? 0 : 1);
    },
  });
  const follower = new CurrentFollower(o.store, pool, o.follow);
  const batcher = new MicroBatcher<Job, { results: SearchHitsJson[]; searchMs: number }>((jobs) => runBatch(jobs, o.threads), o.batch);
  const app = createHttpApp({
    host,
    ...(o.auth ? { auth: o.auth } : {}),
    ...(o.bodyLimit ? { bodyLimit: o.bodyLimit } : {}),
    ready: () => ({ ready: pool.ready, detail: { version: pool.current ?? null, loaded: pool.loaded() } }),
  });

  app.get('/v1/version', async () => versionInfo(pool, group));

  if (group) {
    registerGroupRoutes(app, pool, { threads: o.threads, limits });
  } else {
    app.post<{ Body: SearchBody }>('/v1/search', { schema: { body: searchBodySchema } }, async (request) => {
      const t0 = performance.now();
      const lease = pool.acquire(request.body.version);
      try {
        const req = parseSearchBody(request.body, lease.opened.engine.dim, limits);
        const key = `${lease.version}|${req.kPrime}|${req.efSearch ?? ''}`;
        metrics.serveQueueQueries.set(batcher.queued + req.counts.length);
        const r = await batcher.submit({ key, size: req.counts.length, lease, req });
        const totalMs = performance.now() - t0;
        metrics.serveRequestSeconds.observe({ route: '/v1/search' }, totalMs / 1000);
        return {
          version: lease.version,
          results: r.results,
          timings: { queueMs: round(r.queueMs), searchMs: round(r.searchMs), totalMs: round(totalMs), batchQueries: r.batchQueries },
        };
      } finally {
        lease.release();
        metrics.serveQueueQueries.set(batcher.queued);
      }
    });
  }

  metrics.serveReady.set(0);
  // listening first: /healthz answers and /readyz says "not yet" while the version loads
  const url = await listen(app, host, o.port ?? 8080);
  try {
    await follower.start();
  } catch (err) {
    await app.close();
    await pool.close();
    throw err;
  }
  return {
    url,
    pool,
    follower,
    app,
    close: async () => {
      await follower.stop();
      await app.close(); // stops accepting, waits for requests in flight
      await pool.close();
      metrics.serveReady.set(0);
    },
  };
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
