/** The weights role: one shard's W rows under the version's model. */
import type { Job } from 'bullmq';

import { weightsStage } from '../src/pipeline/stages.js';
import { QUEUES, type ShardStagePayload } from '../src/queue/queues.js';
import { startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startWeightsWorker(store: ObjectStore, o: StartWorkerOptions) {
  return startWorker(QUEUES.weights, (job: Job<ShardStagePayload>) => weightsStage(store, job.data.version, job.data.shard), o);
}
