/** The publish role: the version's manifest, then the `current` pointer. */
import type { Job } from 'bullmq';

import { publishStage } from '../src/pipeline/stages.js';
import { QUEUES, type PublishPayload } from '../src/queue/queues.js';
import { startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startPublishWorker(store: ObjectStore, o: StartWorkerOptions) {
  return startWorker(QUEUES.publish, async (job: Job<PublishPayload>) => {
    const m = await publishStage(store, job.data.version, job.data.shards);
    return { version: m.version, docs: m.docs };
  }, o);
}
