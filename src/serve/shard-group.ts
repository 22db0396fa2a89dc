/**
 * Shard groups: a version's shards dealt round-robin over n processes, group i holding the
 * shards whose ordinal (manifest index) is i modulo n. Round-robin rather than ranges: shards are
 * built in source order, so neighbours have similar sizes and every group gets its share of them.
 */
export interface ShardGroup {
  index: number;
  count: number;
}

/** The group of n that holds a shard. */
export const groupOfShard = (ordinal: number, count: number): number => ordinal % count;
