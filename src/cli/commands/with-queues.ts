/**
 * The queues a CLI command submits to: the shared ones when REDIS_URL is set, otherwise a
 * one-machine setup for the command's lifetime: a private redis-server and every worker role
 * in this process.
 */
import { config } from '../../config.js';
import { PipelineError } from '../../errors.js';
import type { QueueTarget } from '../../queue/build-flow.js';
import { startEmbeddedRedis } from '../../queue/embedded-redis.js';
import { makeScratchDir } from '../../store/scratch.js';
import type { ObjectStore } from '../../store/object-store.js';
import { openStore } from '../../store/open-store.js';
import { ROLES, startRoles, type Role } from '../../../workers/roles.js';

export async function withQueues<T>(store: ObjectStore, fn: (target: QueueTarget, embedded: boolean) => Promise<T>): Promise<T> {
  const shared = config().redisUrl;
  if (shared) return fn({ redisUrl: shared }, false);
  const scratch = makeScratchDir('lemur-redis-');
  const redis = await startEmbeddedRedis({ dir: scratch.dir });
  const target = { redisUrl: redis.url };
  const workers = startRoles(Object.keys(ROLES) as Role[], store, target);
  try {
    return await fn(target, true);
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await redis.stop();
    scratch.cleanup();
  }
}

/** Runs a version-writing job on the publish queue and waits for it; its failure becomes a PipelineError. */
export async function versionJob<T>(what: string, fn: (target: QueueTarget, store: ObjectStore) => Promise<unknown>): Promise<T> {
  const store = openStore();
  return withQueues(store, async (target) => {
    try {
      return (await fn(target, store)) as T;
    } catch (err) {
      throw new PipelineError(`${what} failed: ${(err as Error).message}`, { cause: err });
    }
  });
}
