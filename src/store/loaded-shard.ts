/**
 * A source shard loaded into the store: its token store under shards/<shardId>/<tag>/tokens.lts
 * (src/pipeline/load-shard.ts writes it). Stages, queue payloads and workers pass this around, so
 * it lives below all of them.
 */
export interface LoadedShard {
  shardId: string;
  sourceKey: string;
  tokensKey: string;
  docs: number;
  tokens: number;
  dim: number;
  /** false when the source was unchanged and the earlier load was kept */
  loaded: boolean;
}
