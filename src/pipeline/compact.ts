/**
 * `lemur compact`: a new version whose shards hold no tombstoned documents. A shard with
 * tombstones is rewritten: its live documents' tokens into a new token store and a new HNSW
 * index over their W rows, taken from the old index, or from W.f32 where the shard keeps one
 * (src/pipeline/shard-rows.ts; rows are per document, so no weighting runs).
 * Positions inside the shard change; external ids do not. Shards without tombstones are
 * referenced as they are, a shard whose documents are all deleted is dropped, and shards below
 * a size (ingests add one per source) are merged into one.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { InvalidArgumentError } from '../errors.js';
import { baseVersion, readManifest, type ShardEntry } from '../versions/manifest.js';
import { publishVersion } from '../versions/publish.js';
import { readDeleted } from '../versions/tombstones.js';
import { log } from '../log.js';
import { TokenStore } from '../native/token-store.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { localCopy } from '../store/local-copy.js';
import { makeScratchDir } from '../store/scratch.js';
import { readShardRows } from './shard-rows.js';
import { keepsWeights, writeIndex, type IndexOptions } from './stages.js';

export interface CompactOutcome {
  /** The new version, or undefined when no shard had tombstones. */
  version: string | undefined;
  base: string;
  /** Shards rewritten without their tombstones. */
  rewritten: number;
  /** Small shards merged into one. */
  merged: number;
  dropped: number;
  removed: number;
}

/** Part of a shard to keep: which positions of which existing shard. */
interface Kept {
  shard: ShardEntry;
  positions: number[];
}

async function livePositions(store: ObjectStore, s: ShardEntry): Promise<number[]> {
  const dead = new Set(await readDeleted(store, s));
  return Array.from({ length: s.docs }, (_, p) => p).filter((p) => !dead.has(p));
}

/**
 * Writes one shard from the kept documents of one or more shards, in order: their tokens into a
 * new token store, a new HNSW index over their W rows.
 */
async function writeShard(store: ObjectStore, version: string, shardId: string, sourceKey: string, parts: Kept[], storage: IndexOptions['storage']): Promise<ShardEntry> {
  const scratch = makeScratchDir();
  try {
    const vectors: Float32Array[] = [];
    const counts: number[] = [];
    const ids: (bigint | string)[] = [];
    let dim = 0;
    let dtype: TokenStore['dtype'] = 'float32';
    let intIds = true;
    for (const { shard, positions } of parts) {
      const copy = await localCopy(store, shard.tokensKey);
      try {
        const ts = await TokenStore.open(copy.path);
        try {
          dim = ts.dim;
          dtype = ts.dtype;
          intIds &&= ts.idKind === 'int64';
          const all = await ts.ids();
          for (const p of positions) {
            const v = ts.docTokens(p);
            vectors.push(v);
            counts.push(v.length / ts.dim);
            ids.push(all[p]!);
          }
        } finally {
          ts.close();
        }
      } finally {
        copy.release();
      }
    }
    const tokens = counts.reduce((a, c) => a + c, 0);
    const flat = concat(vectors);
    // string ids if any part had them (a merge of int64 and string shards keeps every id as text)
    const outIds = intIds ? BigInt64Array.from(ids as bigint[]) : ids.map(String);
    const local = join(scratch.dir, 'tokens.lts');
    await TokenStore.write(local, { vectors: flat, counts: Int32Array.from(counts), dim, ids: outIds, dtype });
    const tokensKey = keys.shardTokens(shardId, `compact-${version}`);
    await store.putFile(tokensKey, local, { move: true });

    const docs = counts.length;
    const pieces: Float32Array[] = [];
    for (const { shard, positions } of parts) pieces.push(await readShardRows(store, shard, positions));
    const rows = pieces.length === 1 ? pieces[0]! : concat(pieces);
    // W.f32 only where the next compaction cannot take the rows from the index as they were (sq8)
    let weightsKey: string | undefined;
    if (keepsWeights(storage)) {
      weightsKey = keys.weights(version, shardId);
      await store.put(weightsKey, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
    }
    const indexKey = keys.index(version, shardId);
    await writeIndex(store, indexKey, rows, docs, storage ? { storage } : {});
    return { shardId, sourceKey, docs, tokens, tokensKey, ...(weightsKey ? { weightsKey } : {}), indexKey, deleted: 0 };
  } finally {
    scratch.cleanup();
  }
}

/** The arrays one after another. */
function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface CompactOptions {
  /**
   * Shards with fewer live documents than this are merged into one (ingests add a shard per
   * source; many small shards cost a Faiss search each per query). 0 = never.
   * @defaultValue 10 000
   */
  mergeBelow?: number;
}

export async function compact(store: ObjectStore, version: string, options: CompactOptions = {}): Promise<CompactOutcome> {
  const mergeBelow = options.mergeBelow ?? 10_000;
  const base = await baseVersion(store, version);
  if (!base) throw new InvalidArgumentError(`nothing to compact: no published version in ${store.url}`);
  const m = await readManifest(store, base);
  const live = (s: ShardEntry): number => s.docs - s.deleted;
  const small = m.shards.filter((s) => live(s) > 0 && live(s) < mergeBelow);
  const merging = small.length >= 2 ? new Set(small.map((s) => s.shardId)) : new Set<string>();
  const shards: ShardEntry[] = [];
  let rewritten = 0;
  let dropped = 0;
  let removed = 0;
  for (const s of m.shards) {
    removed += s.deleted;
    if (merging.has(s.shardId)) continue;
    if (s.deleted === 0) {
      shards.push(s);
      continue;
    }
    if (live(s) === 0) {
      dropped++;
      continue;
    }
    const t0 = performance.now();
    shards.push(await writeShard(store, version, s.shardId, s.sourceKey, [{ shard: s, positions: await livePositions(store, s) }], m.encoding?.index));
    rewritten++;
    log.info('shard compacted', { shard: s.shardId, version, removed: s.deleted, docs: live(s), seconds: (performance.now() - t0) / 1000 });
  }
  let merged = 0;
  if (merging.size) {
    const parts: Kept[] = [];
    for (const s of m.shards) if (merging.has(s.shardId)) parts.push({ shard: s, positions: await livePositions(store, s) });
    const id = `merged-${createHash('sha256').update(`${version}:${[...merging].join(',')}`).digest('hex').slice(0, 12)}`;
    shards.push(await writeShard(store, version, id, `merged:${parts.map((p) => p.shard.sourceKey).join(',')}`, parts, m.encoding?.index));
    merged = parts.length;
    log.info('small shards merged', { version, shards: merged, docs: parts.reduce((a, p) => a + p.positions.length, 0) });
  }
  if (removed === 0 && merged === 0) return { version: undefined, base, rewritten: 0, merged: 0, dropped: 0, removed: 0 };
  if (shards.length === 0) throw new InvalidArgumentError(`every document of ${base} is deleted: a version needs at least one; nothing compacted`);
  await publishVersion(
    store,
    version,
    { operation: 'compact', base, modelKey: m.modelKey, config: m.config, ...(m.input ? { input: m.input } : {}), ...(m.encoding ? { encoding: m.encoding } : {}), lineage: m.lineage, shards, ...(m.deletedIdsKey ? { deletedIdsKey: m.deletedIdsKey } : {}) },
    { expectCurrent: base, reuse: m },
  );
  return { version, base, rewritten, merged, dropped, removed };
}
