/**
 * Queue names, job names and payloads. Payloads carry object-store keys and versions, never
 * embeddings and never credentials. Job ids are deterministic (version + role + shard), so
 * submitting the same build twice does no work twice.
 */
import type { ArtifactEncoding } from '../fit-defaults.js';
import type { BlobDType } from '../parquet/embeddings-dtype.js';
import type { ReadShardOptions } from '../parquet/read-shard.js';
import type { LoadedShard } from '../store/loaded-shard.js';

/** Options of every queued job: three attempts with exponential backoff; jobs kept for status and the dashboard. */
export const JOB_RETRY = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false } as const;

export const QUEUES = {
  load: 'lemur-load',
  train: 'lemur-train',
  weights: 'lemur-weights',
  index: 'lemur-index',
  publish: 'lemur-publish',
  schedule: 'lemur-schedule',
  eval: 'lemur-eval',
} as const;

export const JOBS = {
  loadShard: 'load-shard',
  trainPsi: 'train-psi',
  computeWeights: 'compute-weights',
  buildIndex: 'build-index',
  publishVersion: 'publish-version',
  deleteDocs: 'delete-docs',
  compact: 'compact',
  scheduledRun: 'scheduled-run',
  evalBatch: 'eval-batch',
  exactBatch: 'exact-batch',
  evalReport: 'eval-report',
} as const;

/** load-shard: read one Parquet source shard into its token store. */
export interface LoadShardPayload {
  /** Object-store key of the Parquet source. */
  sourceKey: string;
  /** Column names, when not id / embeddings / n_tokens. */
  columns?: { id?: string; embeddings?: string; nTokens?: string };
  /** Expected embedding dim (required for flat layouts without an n_tokens column). */
  dim?: number;
  /** Element type of blob embeddings whose footer does not declare it. @defaultValue 'float32' */
  embeddingsDtype?: BlobDType;
  /** Token store encoding. @defaultValue 'float32' */
  dtype?: ArtifactEncoding['tokens'];
  /** The build or ingest that asked (for logs and the dashboard; the token store does not depend on it). */
  version?: string;
}

/** train-psi: fit the version's model on every loaded shard (its children), then queue the rest. */
export interface TrainPayload {
  version: string;
  /** Source keys of the build (for progress reporting; the load jobs are the children). */
  sources: string[];
  /** Fit options (sizes, epochs, seed); defaults are the reference's. */
  fit?: Record<string, number>;
  /** Shards already loaded (a retrain on current's shards), instead of load children. */
  shards?: LoadedShard[];
  /** Publish without moving `current` (a scheduled candidate). @defaultValue true */
  promote?: boolean;
  /** How the sources were read (column names, dim, blob element type): recorded in the manifest. */
  input?: ReadShardOptions;
  /** How token stores and index rows are stored (recorded in the manifest). */
  encoding?: ArtifactEncoding;
}

/** compute-weights: one shard's W rows under a model (the shard comes from its load child when absent). */
export interface WeightsPayload {
  version: string;
  modelKey: string;
  shard?: LoadedShard;
  /** The shard, for logs, when `shard` is not known yet (an ingest's shard is loaded by the child). */
  shardId?: string;
}

/** build-index: one shard's HNSW index over the W rows its compute-weights child wrote. */
export interface IndexPayload {
  version: string;
  /** The shard (for logs; the input is its compute-weights child's result). */
  shardId: string;
  /** Row encoding of the HNSW storage. @defaultValue 'fp32' */
  storage?: ArtifactEncoding['index'];
}

/**
 * publish-version: a manifest over the shards its build-index children produced. A build
 * derives from whatever is current at publish time (carrying tombstones); an ingest adds its
 * shards to current, which must still have the model the rows were computed with.
 */
export interface PublishPayload {
  version: string;
  modelKey: string;
  operation: 'build' | 'ingest';
  /** ingest: the version it started from. */
  base?: string;
  /** ingest: its source keys (for progress reporting; the shards come from the children). */
  sources?: string[];
  /** build: move `current` (false for a scheduled candidate that is evaluated first). @defaultValue true */
  promote?: boolean;
  /** ingest: queue a retrain when added documents exceed this fraction of the trained ones. */
  driftFraction?: number;
  /** How the sources were read (column names, dim, blob element type): recorded in the manifest. */
  input?: ReadShardOptions;
  /** How token stores and index rows are stored (recorded in the manifest). */
  encoding?: ArtifactEncoding;
}

/** delete-docs: tombstone ids in a new version (the ids are a JSON array in the store: lists can be long). */
export interface DeletePayload {
  version: string;
  idsKey: string;
}

/** compact: a new version without tombstoned rows, small shards merged. */
export interface CompactPayload {
  version: string;
  mergeBelow?: number;
}

/** A scheduled (or drift-triggered) rebuild: build a candidate, evaluate it against current, promote or fail. */
export interface ScheduledRunPayload {
  /** The schedule's name (or 'drift'). */
  schedule: string;
  /** Store prefix of the Parquet sources, or absent to retrain on current's shards. */
  source?: string;
  /** Largest allowed drop of recall@10 against current. @defaultValue 0.01 */
  tolerance?: number;
  /** Store key of a Parquet file of held-out queries; default: a seeded sample of corpus tokens. */
  queries?: string;
  fit?: Record<string, number>;
  /** Column names and dim of the sources and of the query file. */
  input?: ReadShardOptions;
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
