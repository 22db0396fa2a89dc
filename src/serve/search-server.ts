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
import { hostname } from 'node:os';

import type { FastifyInstance } from 'fastify';

import type { Credentials } from '../dashboard/basic-auth.js';
import { metrics, recordServedVersions } from '../metrics.js';
import { openVersion, type OpenedVersion } from '../query/open-version.js';
import type { EngineSearchOptions } from '../query/query-engine.js';
import type { ObjectStore } from '../store/object-store.js';
import { CurrentFollower, type FollowOptions } from './follow-current.js';
import { registerGroup, type RegistryTiming } from './group-registry.js';
import { registerGroupRoutes } from './group-routes.js';
import { groupOfShard, type ShardGroup } from './shard-group.js';
import { createHttpApp, serveApp } from './http-app.js';
import { MicroBatcher, type MicroBatcherOptions } from './micro-batcher.js';
import { DEFAULT_LIMITS, type SearchLimits } from './search-request.js';
import { concatQueries, registerSearchRoute, splitRows, type JobAnswer, type SearchJob } from './search-route.js';
import { versionInfo } from './version-info.js';
import { VersionPool } from './version-pool.js';

export type { ShardGroup };

/** How long a shard group keeps a swapped-out version (see SearchServerOptions.retainMs). */
export const GROUP_RETAIN_MS = 90_000;

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
  /**
   * Keep a swapped-out version open this long for requests pinning it. @defaultValue 0; in a group
   * GROUP_RETAIN_MS, longer than a router waits for every group to load a version (60 s) plus its
   * poll: a group that loads first must still answer for the old version until the router moves
   */
  retainMs?: number;
  group?: ShardGroup;
  /**
   * With `group`: register in Redis for routers (src/serve/group-registry.ts), reachable at `url`
   * (`lemur serve --advertise`, else derived from the host and port).
   */
  advertise?: { redisUrl: string; url?: string } & RegistryTiming;
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

/** One batched engine call: the requests' queries end to end, each request's rows back out. */
async function runBatch(jobs: SearchJob<OpenedVersion>[], threads: number | undefined): Promise<JobAnswer[]> {
  const first = jobs[0]!;
  const { vectors, counts, k } = concatQueries(jobs);
  const options: EngineSearchOptions = { k, kPrime: first.req.kPrime, candidates: 'hnsw', ...(first.req.efSearch ? { efSearch: first.req.efSearch } : {}), ...(threads ? { threads } : {}) };
  const t0 = performance.now();
  const r = await first.lease.opened.engine.search(vectors, counts, options);
  const searchMs = performance.now() - t0;
  metrics.serveBatchQueries.observe(counts.length);
  return splitRows(jobs, r).map((results) => ({ results, searchMs }));
}

/** The listening URL as others reach it: a wildcard host named by the machine's hostname. */
function reachableUrl(listening: string): string {
  const u = new URL(listening);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]') u.hostname = hostname();
  return u.origin;
}

export async function startSearchServer(o: SearchServerOptions): Promise<SearchServer> {
  const host = o.host ?? '127.0.0.1';
  const limits: SearchLimits = { ...DEFAULT_LIMITS, ...o.limits };
  const group = o.group;
  const pool = new VersionPool((v) => openVersion(o.store, v, group ? { shards: (i) => groupOfShard(i, group.count) === group.index } : {}), {
    retainMs: o.retainMs ?? (group ? GROUP_RETAIN_MS : 0),
    onChange: recordServedVersions,
  });
  const follower = new CurrentFollower(o.store, pool, o.follow);
  const batcher = new MicroBatcher<SearchJob<OpenedVersion>, JobAnswer>((jobs) => runBatch(jobs, o.threads), o.batch);
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
    registerSearchRoute(app, { acquire: (v) => pool.acquire(v), dim: (opened) => opened.engine.dim, batcher, limits });
  }

  let registration: { close: () => Promise<void> } | undefined;
  const { url, close } = await serveApp(app, host, o.port ?? 8080, {
    start: async (url) => {
      await follower.start();
      if (group && o.advertise) {
        const { redisUrl, url: advertised, ...timing } = o.advertise;
        const reachable = advertised ?? reachableUrl(url);
        registration = await registerGroup(redisUrl, o.store.url, () => ({ url: reachable, group, version: pool.current ?? null, loaded: pool.loaded() }), timing);
      }
    },
    stop: async () => {
      await registration?.close(); // routers stop picking this instance before it stops answering
      await follower.stop();
    },
    release: () => pool.close(),
  });
  return { url, pool, follower, app, close };
}
