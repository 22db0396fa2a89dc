/**
 * `lemur serve --route`: the public search API of one server, answered by shard groups
 * (`lemur serve --group i/n`, each holding the shards whose ordinal is i modulo n). Per batch it
 * computes the features once and runs the candidates and rerank steps across the groups
 * (src/serve/routed-search.ts); results equal one process holding every shard at the same k'.
 *
 * Versions: the router follows `current` like a server, but what it loads for a version is only
 * the model, and "loaded" also means every group holds that version (GET /v1/version `loaded` of
 * each group): it moves to a version only then, and each request pins its version in both of its
 * group calls. Groups keep a swapped-out version a while (retainMs), so requests leased before the
 * router moves on still find it. A group that refuses the version anyway (a replica restarted
 * mid-swap) gets one retry after a refresh of the group directory.
 */
import type { FastifyInstance } from 'fastify';

import { config } from '../config.js';
import type { Credentials } from '../dashboard/basic-auth.js';
import { log } from '../log.js';
import { recordServedVersions } from '../metrics.js';
import { loadModel } from '../pipeline/stages.js';
import type { ObjectStore } from '../store/object-store.js';
import { readManifest } from '../versions/manifest.js';
import { CurrentFollower, type FollowOptions } from './follow-current.js';
import { GroupDirectory, type Replica } from './group-directory.js';
import { GroupRegistryReader } from './group-registry.js';
import { createHttpApp, serveApp } from './http-app.js';
import { MicroBatcher, type MicroBatcherOptions } from './micro-batcher.js';
import { routeBatch, type RoutedVersion } from './routed-search.js';
import { DEFAULT_LIMITS, type SearchLimits } from './search-request.js';
import { registerSearchRoute, type JobAnswer, type SearchJob } from './search-route.js';
import { GroupVersionMissingError, NotReadyError } from './serve-errors.js';
import { VersionPool } from './version-pool.js';

export interface RouterOptions {
  store: ObjectStore;
  /** Where the groups are: a static list of base URLs, or the Redis registry they heartbeat into. */
  groups: { urls: string[] } | { redisUrl: string };
  /** @defaultValue 8080 (0: any free port) */
  port?: number;
  /** @defaultValue 127.0.0.1 */
  host?: string;
  /** Credentials clients must give (off loopback). */
  auth?: Credentials;
  /** Credentials for the groups. @defaultValue auth */
  groupAuth?: Credentials;
  /** Deadline of one call to one group replica. @defaultValue 2000 */
  groupTimeoutMs?: number;
  /** Answer from the groups that answered, marked partial, instead of a 503. @defaultValue false */
  partial?: boolean;
  /** How long a new version waits for every group to hold it before the follower tries again at its next poll. @defaultValue 60 000 */
  groupWaitMs?: number;
  /** Between re-reads of the group members and their versions. @defaultValue 1000 */
  refreshMs?: number;
  limits?: Partial<SearchLimits>;
  batch?: MicroBatcherOptions;
  /** pollSeconds defaults to 2 even with Redis: groups finishing a load are not announced. */
  follow?: FollowOptions;
  bodyLimit?: number;
  /** Threads for the features. @defaultValue config().threads */
  threads?: number;
}

export interface Router {
  url: string;
  pool: VersionPool<RoutedVersion>;
  follower: CurrentFollower;
  directory: GroupDirectory;
  app: FastifyInstance;
  close: () => Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A router's GET /v1/version: what it serves and what each group member holds. */
function routerInfo(pool: VersionPool<RoutedVersion>, directory: GroupDirectory): Record<string, unknown> {
  const members = (m: Replica): Record<string, unknown> => ({ url: m.url, group: m.group, version: m.version, loaded: m.loaded, down: m.down });
  return { version: pool.current ?? null, loaded: pool.loaded(), group: null, groups: { count: directory.count ?? null, members: directory.members().map(members) } };
}

export async function startRouter(o: RouterOptions): Promise<Router> {
  const host = o.host ?? '127.0.0.1';
  const limits: SearchLimits = { ...DEFAULT_LIMITS, ...o.limits };
  const groupAuth = o.groupAuth ?? o.auth;
  const directory = new GroupDirectory('urls' in o.groups ? { urls: o.groups.urls } : { registry: new GroupRegistryReader(o.groups.redisUrl, o.store.url) }, {
    timeoutMs: o.groupTimeoutMs ?? 2000,
    ...(groupAuth ? { auth: groupAuth } : {}),
    ...(o.refreshMs ? { refreshMs: o.refreshMs } : {}),
  });
  let closing = false;

  /** Waits until every group holds the version (refreshing the directory), within groupWaitMs. */
  const groupsHold = async (version: string): Promise<void> => {
    const until = Date.now() + (o.groupWaitMs ?? 60_000);
    for (;;) {
      await directory.refresh();
      const missing = directory.missing(version);
      if (missing.length === 0) return;
      if (closing) throw new NotReadyError('the router is shutting down');
      if (Date.now() >= until) throw new NotReadyError(`shard groups ${missing[0] === -1 ? '(none found)' : missing.join(', ')} do not hold version ${version} yet`);
      await sleep(250);
    }
  };

  const pool = new VersionPool<RoutedVersion>(async (version) => {
    const manifest = await readManifest(o.store, version);
    const model = await loadModel(o.store, manifest.modelKey);
    try {
      await groupsHold(version);
    } catch (err) {
      model.close();
      throw err;
    }
    log.info('every shard group holds the version', { version, groups: directory.count });
    return { version, model, close: () => model.close() };
  }, { onChange: recordServedVersions });
  const follower = new CurrentFollower(o.store, pool, { pollSeconds: 2, ...o.follow });
  const batcher = new MicroBatcher<SearchJob<RoutedVersion>, JobAnswer>((jobs) => routeBatch(jobs, { directory, partial: o.partial ?? false, threads: o.threads ?? config().threads }), o.batch);

  const app = createHttpApp({
    host,
    ...(o.auth ? { auth: o.auth } : {}),
    ...(o.bodyLimit ? { bodyLimit: o.bodyLimit } : {}),
    ready: () => {
      // ready while every group holds the version it would answer with
      const v = pool.current;
      const missingGroups = v === undefined ? [] : directory.missing(v);
      return { ready: v !== undefined && missingGroups.length === 0, detail: { version: v ?? null, loaded: pool.loaded(), missingGroups } };
    },
  });
  app.get('/v1/version', async () => routerInfo(pool, directory));
  registerSearchRoute(app, {
    acquire: (v) => pool.acquire(v),
    dim: (opened) => opened.model.dim,
    batcher,
    limits,
    retry: async (err) => {
      if (!(err instanceof GroupVersionMissingError)) return false;
      // a group moved on (or a replica came back without it): see who holds what, then once more
      await directory.refresh();
      void follower.sync();
      return true;
    },
  });

  const { url, close } = await serveApp(app, host, o.port ?? 8080, {
    start: async () => {
      await directory.start();
      await follower.start();
    },
    stop: async () => {
      closing = true; // a version waiting for its groups gives up
      await follower.stop();
    },
    release: async () => {
      await pool.close();
      directory.close();
    },
  });
  return { url, pool, follower, directory, app, close };
}
