/** The index role: one shard's Faiss HNSW index over its W rows. */
import type { Job } from 'bullmq';

import { indexStage } from '../src/pipeline/stages.js';
import { QUEUES, type ShardStagePayload } from '../src/queue/queues.js';
import { startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startIndexWorker(store: ObjectStore, o: StartWorkerOptions) {
  return startWorker(QUEUES.index, (job: Job<ShardStagePayload>) => indexStage(store, job.data.version, job.data.shard), o);
}
