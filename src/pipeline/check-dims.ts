/**
 * Dimension agreement across a build's shards: every shard's token vectors must have the dim of
 * the others, or the model (trained on one dim) would be handed rows of another. The dim most
 * shards share is taken as the corpus's; each other shard is a failure naming both dims.
 */
import type { ShardFailure } from '../errors.js';
import type { LoadedShard } from '../store/loaded-shard.js';

export function dimDisagreements(shards: Pick<LoadedShard, 'sourceKey' | 'dim'>[]): ShardFailure[] {
  if (shards.length < 2) return [];
  const byDim = new Map<number, string[]>();
  for (const s of shards) byDim.set(s.dim, [...(byDim.get(s.dim) ?? []), s.sourceKey]);
  if (byDim.size === 1) return [];
  // the majority dim; on a tie, the dim of the first shard in source order (deterministic)
  const first = [...shards].sort((a, b) => (a.sourceKey < b.sourceKey ? -1 : 1))[0]!;
  let ref = first.dim;
  for (const [dim, srcs] of byDim) if (srcs.length > byDim.get(ref)!.length) ref = dim;
  const agreeing = byDim.get(ref)!;
  const others = `${agreeing.length} other shard${agreeing.length === 1 ? '' : 's'} (e.g. ${agreeing[0]})`;
  return shards
    .filter((s) => s.dim !== ref)
    .map((s) => ({ source: s.sourceKey, reason: `${s.sourceKey}: token vectors have dim ${s.dim}, ${others} have dim ${ref}` }));
}
