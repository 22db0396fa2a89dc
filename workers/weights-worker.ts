/** The weights role: one shard's W rows under a model (the shard from the payload or its load child). */
import type { Job } from 'bullmq';

import type { LoadedShard } from '../src/store/loaded-shard.js';
import { weightsStage } from '../src/pipeline/stages.js';
import { jobProgress } from '../src/queue/job-progress.js';
import { QUEUES, type WeightsPayload } from '../src/queue/queues.js';
import { childValue, startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startWeightsWorker(store: ObjectStore, o: StartWorkerOptions) {
  return startWorker(QUEUES.weights, async (job: Job<WeightsPayload>) => {
    const shard = job.data.shard ?? (await childValue<LoadedShard>(job));
    const progress = jobProgress(job);
    const r = await weightsStage(store, job.data.version, job.data.modelKey, shard, { onProgress: (done, total) => progress.report({ done, total, unit: 'docs' }) });
    await progress.flush();
    return r;
  }, o);
}
