/**
 * Queue names and job payloads. Payloads carry object-store keys and versions, never
 * embeddings and never credentials.
 */

export const QUEUES = {
  load: 'lemur-load',
} as const;

export const JOBS = {
  loadShard: 'load-shard',
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

/** Deterministic job id: submitting the same shard twice does the work once. */
export function loadJobId(build: string, sourceKey: string): string {
  return `${build}.load.${sourceKey.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}
