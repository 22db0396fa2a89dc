/**
 * Queue names, job names and payloads. Payloads carry object-store keys and versions, never
 * embeddings and never credentials. Job ids are deterministic (version + role + shard), so
 * submitting the same build twice does no work twice.
 */
import type { LoadedShard } from '../pipeline/load-shard.js';

export const QUEUES = {
  load: 'lemur-load',
  train: 'lemur-train',
  weights: 'lemur-weights',
  index: 'lemur-index',
  publish: 'lemur-publish',
} as const;

export const JOBS = {
  loadShard: 'load-shard',
  trainPsi: 'train-psi',
  computeWeights: 'compute-weights',
  buildIndex: 'build-index',
  publishVersion: 'publish-version',
} as const;

/** load-shard: read one Parquet source shard into its token store. */
export interface LoadShardPayload {
  /** Object-store key of the Parquet source. */
  sourceKey: string;
  /** Column names, when not id / embeddings / n_tokens. */
  columns?: { id?: string; embeddings?: string; nTokens?: string };
  /** Expected embedding dim (required for flat layouts without an n_tokens column). */
  dim?: number;
}

/** train-psi: fit the version's model on every loaded shard (its children), then queue the rest. */
export interface TrainPayload {
  version: string;
  /** Source keys of the build (for progress reporting; the load jobs are the children). */
  sources: string[];
  /** Fit options (sizes, epochs, seed); defaults are the reference's. */
  fit?: Record<string, number>;
}

/** compute-weights: one shard's W rows under the version's model. */
export interface ShardStagePayload {
  version: string;
  shard: LoadedShard;
}

/** publish-version: write the manifest of every shard and move `current`. */
export interface PublishPayload {
  version: string;
  shards: LoadedShard[];
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** Deterministic job ids. */
export const jobIds = {
  load: (version: string, sourceKey: string): string => `${safe(version)}.load.${safe(sourceKey)}`,
  train: (version: string): string => `${safe(version)}.train`,
  weights: (version: string, shardId: string): string => `${safe(version)}.weights.${safe(shardId)}`,
  index: (version: string, shardId: string): string => `${safe(version)}.index.${safe(shardId)}`,
  publish: (version: string): string => `${safe(version)}.publish`,
};
