/**
 * A build as BullMQ flows. Flow 1: train-psi waits for one load-shard child per source. A failing
 * load does not cancel the others (ignoreDependencyOnFailure): train-psi runs once every load has
 * ended and, if any failed, fails with all of them at once (nothing is trained or published from
 * an incomplete corpus). When training is done, the train job queues flow 2: publish-version waits
 * for one build-index per shard, each waiting for its compute-weights; publish likewise sees every
 * shard that failed. Job ids are deterministic, so resubmitting a build, or a retried train job
 * re-queuing flow 2, adds nothing twice. An ingest is one flow of the same stages with no training
 * (submitIngest).
 */
import type { FlowJob } from 'bullmq';

import type { ArtifactEncoding } from '../fit-defaults.js';
import type { ReadShardOptions } from '../parquet/read-shard.js';
import type { LoadedShard } from '../store/loaded-shard.js';
import { withFlow, type QueueTarget } from './connection.js';
import { checkName, keys, shardId } from '../store/keys.js';
import { JOB_RETRY, JOBS, QUEUES, jobIds, type IndexPayload, type LoadShardPayload, type PublishPayload, type TrainPayload, type WeightsPayload } from './queues.js';

export type { QueueTarget } from './connection.js';

export interface SubmitBuildInput {
  version: string;
  /** Parquet source keys to load, or `shards` to retrain on shards already loaded. */
  sources?: string[];
  shards?: LoadedShard[];
  /** How to read the sources (column names, dim, blob element type); recorded in the manifest. */
  input?: ReadShardOptions;
  /** How to store tokens and index rows; recorded in the manifest. @defaultValue float32 tokens, fp32 rows */
  encoding?: ArtifactEncoding;
  fit?: Record<string, number>;
  /** Move `current` when published. @defaultValue true */
  promote?: boolean;
}

/** Queues a build; returns the train job's id (the build's root until flow 2 starts). */
export async function submitBuild(t: QueueTarget, input: SubmitBuildInput): Promise<string> {
  checkName('version', input.version);
  const sources = [...new Set(input.sources ?? input.shards?.map((s) => s.sourceKey) ?? [])].sort();
  return withFlow(t, async (flow) => {
    const data: TrainPayload = {
      version: input.version,
      sources,
      ...(input.fit ? { fit: input.fit } : {}),
      ...(input.shards ? { shards: input.shards } : {}),
      ...(input.promote === false ? { promote: false } : {}),
      ...(hasMapping(input.input) ? { input: input.input } : {}),
      ...(input.encoding ? { encoding: input.encoding } : {}),
    };
    const node = await flow.add({
      name: JOBS.trainPsi,
      queueName: QUEUES.train,
      data,
      opts: { ...JOB_RETRY, jobId: jobIds.train(input.version) },
      children: input.shards ? [] : sources.map((sourceKey) => loadNode(input.version, sourceKey, input.input, input.encoding, 'report')),
    });
    return node.job.id!;
  });
}

/**
 * How a child's failure reaches its parent: 'fail' fails the parent at once (a stage that cannot
 * run without it), 'report' lets the parent run when all children have ended and read the
 * failures (job.getIgnoredChildrenFailures), so one job can name every bad shard.
 */
type OnChildFailure = 'fail' | 'report';

function failurePolicy(p: OnChildFailure): { failParentOnFailure: true } | { ignoreDependencyOnFailure: true } {
  return p === 'fail' ? { failParentOnFailure: true } : { ignoreDependencyOnFailure: true };
}

function hasMapping(m: ReadShardOptions | undefined): m is ReadShardOptions {
  return m !== undefined && (m.dim !== undefined || m.embeddingsDtype !== undefined || Object.keys(m.columns ?? {}).length > 0);
}

function loadNode(version: string, sourceKey: string, mapping: ReadShardOptions | undefined, encoding: ArtifactEncoding | undefined, onFailure: OnChildFailure): FlowJob {
  return {
    name: JOBS.loadShard,
    queueName: QUEUES.load,
    data: {
      ...(mapping?.columns ? { columns: mapping.columns } : {}),
      ...(mapping?.dim !== undefined ? { dim: mapping.dim } : {}),
      ...(mapping?.embeddingsDtype ? { embeddingsDtype: mapping.embeddingsDtype } : {}),
      ...(encoding ? { dtype: encoding.tokens } : {}),
      sourceKey,
      version,
    } satisfies LoadShardPayload,
    opts: { ...JOB_RETRY, jobId: jobIds.load(version, sourceKey), ...failurePolicy(onFailure) },
  };
}

/** build-index ← compute-weights (← load-shard when the shard is not loaded yet) for one shard. */
function shardNode(version: string, key: { shardId: string }, weights: WeightsPayload, encoding: ArtifactEncoding | undefined, load?: FlowJob): FlowJob {
  return {
    name: JOBS.buildIndex,
    queueName: QUEUES.index,
    data: { version, shardId: key.shardId, ...(encoding ? { storage: encoding.index } : {}) } satisfies IndexPayload,
    opts: { ...JOB_RETRY, jobId: jobIds.index(version, key.shardId), ...failurePolicy('report') },
    children: [
      {
        name: JOBS.computeWeights,
        queueName: QUEUES.weights,
        data: weights,
        opts: { ...JOB_RETRY, jobId: jobIds.weights(version, key.shardId), failParentOnFailure: true },
        ...(load ? { children: [load] } : {}),
      },
    ],
  };
}

/** Flow 2, queued by the train job once the model is stored. */
export async function queueShardStages(t: QueueTarget, version: string, shards: LoadedShard[], options: { promote?: boolean; input?: ReadShardOptions; encoding?: ArtifactEncoding } = {}): Promise<void> {
  const modelKey = keys.model(version);
  await withFlow(t, async (flow) => {
    await flow.add({
      name: JOBS.publishVersion,
      queueName: QUEUES.publish,
      data: { version, modelKey, operation: 'build', ...(options.promote === false ? { promote: false } : {}), ...(hasMapping(options.input) ? { input: options.input } : {}), ...(options.encoding ? { encoding: options.encoding } : {}) } satisfies PublishPayload,
      opts: { ...JOB_RETRY, jobId: jobIds.publish(version) },
      children: shards.map((s) => shardNode(version, s, { version, modelKey, shard: s }, options.encoding)),
    });
  });
}

export interface SubmitIngestInput {
  version: string;
  /** The version whose model weights the new documents. */
  base: string;
  modelKey: string;
  sources: string[];
  /** How to read the sources (column names, dim, blob element type); recorded in the manifest. */
  input?: ReadShardOptions;
  /** The base version's encoding (new shards are stored the same way). */
  encoding?: ArtifactEncoding;
  /** Queue a retrain when documents added since training exceed this fraction. */
  driftFraction?: number;
}

/**
 * An ingest as one flow: per source load-shard → compute-weights (the base's model) →
 * build-index, then publish-version adds the shards to current. No training.
 */
export async function submitIngest(t: QueueTarget, input: SubmitIngestInput): Promise<string> {
  checkName('version', input.version);
  const sources = [...new Set(input.sources)].sort();
  return withFlow(t, async (flow) => {
    const node = await flow.add({
      name: JOBS.publishVersion,
      queueName: QUEUES.publish,
      data: {
        version: input.version,
        modelKey: input.modelKey,
        operation: 'ingest',
        base: input.base,
        sources,
        ...(input.driftFraction !== undefined ? { driftFraction: input.driftFraction } : {}),
        ...(hasMapping(input.input) ? { input: input.input } : {}),
        ...(input.encoding ? { encoding: input.encoding } : {}),
      } satisfies PublishPayload,
      opts: { ...JOB_RETRY, jobId: jobIds.publish(input.version) },
      children: sources.map((sourceKey) =>
        shardNode(input.version, { shardId: shardId(sourceKey) }, { version: input.version, modelKey: input.modelKey, shardId: shardId(sourceKey) }, input.encoding, loadNode(input.version, sourceKey, input.input, input.encoding, 'fail')),
      ),
    });
    return node.job.id!;
  });
}
