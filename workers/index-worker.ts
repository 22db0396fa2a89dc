/** The index role: one shard's Faiss HNSW index over the W rows its compute-weights child wrote. */
import type { Job } from 'bullmq';

import { indexStage, type BuiltShard } from '../src/pipeline/stages.js';
import { jobProgress } from '../src/queue/job-progress.js';
import { QUEUES, type IndexPayload } from '../src/queue/queues.js';
import { childValue, startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startIndexWorker(store: ObjectStore, o: StartWorkerOptions) {
  return startWorker(QUEUES.index, async (job: Job<IndexPayload>) => {
    const progress = jobProgress(job);
    const r = await indexStage(store, job.data.version, await childValue<BuiltShard>(job), { onProgress: (done, total) => progress.report({ done, total, unit: 'docs' }), ...(job.data.storage ? { storage: job.data.storage } : {}) });
    await progress.flush();
    return r;
  }, o);
}
