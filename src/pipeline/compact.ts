/**
 * `lemur compact`: a new version whose shards hold no tombstoned documents. A shard with
 * tombstones is rewritten: its live documents' tokens into a new token store, their W rows
 * copied (rows are per document, so they are the same bits), and a new HNSW index over them.
 * Positions inside the shard change; external ids do not. Shards without tombstones are
 * referenced as they are, and a shard whose documents are all deleted is dropped.
 */
import { join } from 'node:path';

import { InvalidArgumentError } from '../errors.js';
import { currentVersion, publishVersion, readManifest, type ShardEntry } from '../index/publish.js';
import { readDeleted } from '../index/tombstones.js';
import { log } from '../log.js';
import { TokenStore } from '../native/token-store.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { localCopy } from './local-copy.js';
import { makeScratchDir } from './scratch.js';
import { putFile, readWeights, writeIndex } from './stages.js';

export interface CompactOutcome {
  /** The new version, or undefined when no shard had tombstones. */
  version: string | undefined;
  base: string;
  rewritten: number;
  dropped: number;
  removed: number;
}

async function rewriteShard(store: ObjectStore, version: string, s: ShardEntry): Promise<ShardEntry> {
  const dead = new Set(await readDeleted(store, s));
  const keep = Array.from({ length: s.docs }, (_, p) => p).filter((p) => !dead.has(p));
  const copy = await localCopy(store, s.tokensKey);
  const scratch = makeScratchDir();
  try {
    const ts = await TokenStore.open(copy.path);
    let tokens = 0;
    try {
      const ids = await ts.ids();
      const parts = keep.map((p) => ts.docTokens(p));
      const counts = Int32Array.from(parts, (v) => v.length / ts.dim);
      tokens = counts.reduce((a, c) => a + c, 0);
      const vectors = new Float32Array(tokens * ts.dim);
      let o = 0;
      for (const v of parts) {
        vectors.set(v, o);
        o += v.length;
      }
      const keptIds = ids instanceof BigInt64Array ? BigInt64Array.from(keep, (p) => ids[p]!) : keep.map((p) => ids[p]!);
      const local = join(scratch.dir, 'tokens.lts');
      await TokenStore.write(local, { vectors, counts, dim: ts.dim, ids: keptIds, dtype: ts.dtype });
      await putFile(store, keys.shardTokens(s.shardId, `compact-${version}`), local);
    } finally {
      ts.close();
    }
    const W = await readWeights(store, s.weightsKey);
    const hidden = W.length / s.docs;
    const kept = new Float32Array(keep.length * hidden);
    keep.forEach((p, i) => kept.set(W.subarray(p * hidden, (p + 1) * hidden), i * hidden));
    const weightsKey = keys.weights(version, s.shardId);
    await store.put(weightsKey, new Uint8Array(kept.buffer));
    const indexKey = keys.index(version, s.shardId);
    await writeIndex(store, indexKey, kept, keep.length);
    return { shardId: s.shardId, sourceKey: s.sourceKey, docs: keep.length, tokens, tokensKey: keys.shardTokens(s.shardId, `compact-${version}`), weightsKey, indexKey, deleted: 0 };
  } finally {
    scratch.cleanup();
    copy.release();
  }
}

export async function compact(store: ObjectStore, version: string): Promise<CompactOutcome> {
  const base = await currentVersion(store);
  if (!base) throw new InvalidArgumentError(`nothing to compact: no published version in ${store.url}`);
  const m = await readManifest(store, base);
  const shards: ShardEntry[] = [];
  let rewritten = 0;
  let dropped = 0;
  let removed = 0;
  for (const s of m.shards) {
    if (s.deleted === 0) {
      shards.push(s);
      continue;
    }
    removed += s.deleted;
    if (s.deleted === s.docs) {
      dropped++;
      continue;
    }
    const t0 = performance.now();
    shards.push(await rewriteShard(store, version, s));
    rewritten++;
    log.info('shard compacted', { shard: s.shardId, version, removed: s.deleted, docs: s.docs - s.deleted, seconds: (performance.now() - t0) / 1000 });
  }
  if (removed === 0) return { version: undefined, base, rewritten: 0, dropped: 0, removed: 0 };
  if (shards.length === 0) throw new InvalidArgumentError(`every document of ${base} is deleted: a version needs at least one; nothing compacted`);
  await publishVersion(
    store,
    version,
    { operation: 'compact', base, modelKey: m.modelKey, config: m.config, lineage: m.lineage, shards, ...(m.deletedIdsKey ? { deletedIdsKey: m.deletedIdsKey } : {}) },
    { expectCurrent: base, reuse: m },
  );
  return { version, base, rewritten, dropped, removed };
}
