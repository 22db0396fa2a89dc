/** The train role: fit the version's model on every loaded shard, then queue weights/index/publish. */
import type { Job } from 'bullmq';

import type { LoadedShard } from '../src/store/loaded-shard.js';
import { trainStage } from '../src/pipeline/stages.js';
import { queueShardStages, type QueueTarget } from '../src/queue/build-flow.js';
import { QUEUES, type TrainPayload } from '../src/queue/queues.js';
import { childValues, startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startTrainWorker(store: ObjectStore, o: StartWorkerOptions) {
  const target: QueueTarget = { redisUrl: o.redisUrl, ...(o.prefix ? { prefix: o.prefix } : {}) };
  return startWorker(QUEUES.train, async (job: Job<TrainPayload>) => {
    // a retrain names its shards; a build gets them from its load children
    const shards = (job.data.shards ?? (await childValues<LoadedShard>(job))).sort((a, b) => (a.sourceKey < b.sourceKey ? -1 : 1));
    await job.updateProgress({ stage: 'train', shards: shards.length });
    const r = await trainStage(store, job.data.version, shards, job.data.fit ?? {});
    await queueShardStages(target, job.data.version, shards, job.data.promote === false ? { promote: false } : {});
    return r;
  }, o);
}
