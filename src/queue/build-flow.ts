/**
 * A build as BullMQ flows. Flow 1: train-psi waits for one load-shard child per source (a failing
 * child fails the parent: nothing is trained or published from an incomplete corpus). When
 * training is done, the train job queues flow 2: publish-version waits for one build-index per
 * shard, each waiting for its compute-weights. Job ids are deterministic, so resubmitting a
 * build, or a retried train job re-queuing flow 2, adds nothing twice.
 */
import { FlowProducer, type JobsOptions } from 'bullmq';

import type { LoadedShard } from '../pipeline/load-shard.js';
import { redisConnection } from './connection.js';
import { JOBS, QUEUES, jobIds, type LoadShardPayload, type PublishPayload, type ShardStagePayload, type TrainPayload } from './queues.js';

export interface QueueTarget {
  redisUrl: string;
  /** BullMQ key prefix. @defaultValue 'bull' */
  prefix?: string;
}

const RETRY: JobsOptions = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false };

async function withFlow<T>(t: QueueTarget, fn: (flow: FlowProducer) => Promise<T>): Promise<T> {
  const flow = new FlowProducer({ connection: redisConnection(t.redisUrl), prefix: t.prefix ?? 'bull' });
  try {
    return await fn(flow);
  } finally {
    await flow.close();
  }
}

export interface SubmitBuildInput {
  version: string;
  sources: string[];
  load?: Omit<LoadShardPayload, 'sourceKey'>;
  fit?: Record<string, number>;
}

/** Queues a build; returns the train job's id (the build's root until flow 2 starts). */
export async function submitBuild(t: QueueTarget, input: SubmitBuildInput): Promise<string> {
  const sources = [...new Set(input.sources)].sort();
  return withFlow(t, async (flow) => {
    const data: TrainPayload = { version: input.version, sources, ...(input.fit ? { fit: input.fit } : {}) };
    const node = await flow.add({
      name: JOBS.trainPsi,
      queueName: QUEUES.train,
      data,
      opts: { ...RETRY, jobId: jobIds.train(input.version) },
      children: sources.map((sourceKey) => ({
        name: JOBS.loadShard,
        queueName: QUEUES.load,
        data: { ...input.load, sourceKey } satisfies LoadShardPayload,
        opts: { ...RETRY, jobId: jobIds.load(input.version, sourceKey), failParentOnFailure: true },
      })),
    });
    return node.job.id!;
  });
}

/** Flow 2, queued by the train job once the model is stored. */
export async function queueShardStages(t: QueueTarget, version: string, shards: LoadedShard[]): Promise<void> {
  await withFlow(t, async (flow) => {
    const stage = (shard: LoadedShard): ShardStagePayload => ({ version, shard });
    await flow.add({
      name: JOBS.publishVersion,
      queueName: QUEUES.publish,
      data: { version, shards } satisfies PublishPayload,
      opts: { ...RETRY, jobId: jobIds.publish(version) },
      children: shards.map((s) => ({
        name: JOBS.buildIndex,
        queueName: QUEUES.index,
        data: stage(s),
        opts: { ...RETRY, jobId: jobIds.index(version, s.shardId), failParentOnFailure: true },
        children: [
          {
            name: JOBS.computeWeights,
            queueName: QUEUES.weights,
            data: stage(s),
            opts: { ...RETRY, jobId: jobIds.weights(version, s.shardId), failParentOnFailure: true },
          },
        ],
      })),
    });
  });
}
