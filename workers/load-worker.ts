/** The load role: one job per Parquet source shard -> its token store (src/pipeline/load-shard.ts). */
import type { Job } from 'bullmq';

import { loadShard } from '../src/pipeline/load-shard.js';
import type { LoadedShard } from '../src/store/loaded-shard.js';
import { QUEUES, type LoadShardPayload } from '../src/queue/queues.js';
import { startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function loadProcessor(store: ObjectStore) {
  return async (job: Job<LoadShardPayload, LoadedShard>): Promise<LoadedShard> => {
    const p = job.data;
    return loadShard(store, p.sourceKey, {
      ...(p.columns ? { columns: p.columns } : {}),
      ...(p.dim !== undefined ? { dim: p.dim } : {}),
      ...(p.embeddingsDtype ? { embeddingsDtype: p.embeddingsDtype } : {}),
      ...(p.dtype ? { dtype: p.dtype } : {}),
    });
  };
}

export function startLoadWorker(store: ObjectStore, o: StartWorkerOptions) {
  return startWorker(QUEUES.load, loadProcessor(store), o);
}
