/**
 * Dimension agreement across a build's shards: every shard's token vectors must have the dim of
 * the others, or the model (trained on one dim) would be handed rows of another. The dim most
 * shards share is taken as the corpus's (the rule `lemur validate` uses across files); each other
 * shard is a failure naming both dims.
 */
import type { ShardFailure } from '../errors.js';
import { mostCommon } from '../parquet/validate-sources.js';
import type { LoadedShard } from '../store/loaded-shard.js';

export function dimDisagreements(shards: Pick<LoadedShard, 'sourceKey' | 'dim'>[]): ShardFailure[] {
  // in source order, so a tie goes to the first shard's dim (as lemur validate decides in file order)
  const ordered = [...shards].sort((a, b) => (a.sourceKey < b.sourceKey ? -1 : a.sourceKey > b.sourceKey ? 1 : 0));
  const ref = mostCommon(ordered.map((s) => s.dim));
  const agreeing = ordered.filter((s) => s.dim === ref);
  if (agreeing.length === ordered.length) return [];
  const others = `${agreeing.length} other shard${agreeing.length === 1 ? '' : 's'} (e.g. ${agreeing[0]!.sourceKey})`;
  return ordered.filter((s) => s.dim !== ref).map((s) => ({ source: s.sourceKey, reason: `${s.sourceKey}: token vectors have dim ${s.dim}, ${others} have dim ${ref}` }));
}
