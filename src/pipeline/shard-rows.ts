/**
 * The W rows of some of a published shard's documents, for rebuilding its index (compaction):
 * read from the shard's W.f32 where its manifest lists one (sq8 shards; every shard of versions
 * published before W became build-only), else decoded from the shard's own index. Computes no
 * weights: the rows are the ones the version already serves.
 */
import { CorruptFileError } from '../errors.js';
import { IpIndex } from '../native/ip-index.js';
import { readWeights } from '../store/files.js';
import { localCopy } from '../store/local-copy.js';
import type { ObjectStore } from '../store/object-store.js';
import type { ShardEntry } from '../versions/manifest.js';

/**
 * Rows at `positions` (positions.length × h, in that order).
 *
 * From the index, each row is what the index stores, decoded to fp32: fp32 rows are W's bits,
 * fp16 rows encode back to the same halves (so an fp16 or fp32 index rebuilt from them is the
 * bytes an index of the original W rows would be). sq8 rows would be re-quantised off their
 * grid (stages.ts keepsWeights): an sq8 shard without W.f32 is rebuilt that way, at a measured
 * recall cost (test/pipeline/compact.test.ts).
 * @throws CorruptFileError when the index does not hold one row per document of the manifest
 */
export async function readShardRows(store: ObjectStore, shard: ShardEntry, positions: number[]): Promise<Float32Array> {
  if (shard.weightsKey) return pickRows(await readWeights(store, shard.weightsKey), shard.docs, positions);
  const copy = await localCopy(store, shard.indexKey);
  try {
    // mapped: only the rows asked for are read, the graph never is
    const ix = await IpIndex.load(copy.path, { mmap: true });
    try {
      if (ix.ntotal !== shard.docs) {
        throw new CorruptFileError(`${store.url}/${shard.indexKey}: holds ${ix.ntotal} rows, the manifest says shard ${shard.shardId} has ${shard.docs} documents`, `${store.url}/${shard.indexKey}`);
      }
      // the pipeline's indexes use positions as ids (src/pipeline/stages.ts writeIndex)
      return await ix.reconstruct(BigInt64Array.from(positions, BigInt));
    } finally {
      ix.close();
    }
  } finally {
    copy.release();
  }
}

/** Rows `positions` of W (docs × h), in that order. */
export function pickRows(W: Float32Array, docs: number, positions: number[]): Float32Array {
  const h = W.length / docs;
  const out = new Float32Array(positions.length * h);
  positions.forEach((p, i) => out.set(W.subarray(p * h, (p + 1) * h), i * h));
  return out;
}
