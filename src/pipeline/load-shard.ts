/**
 * The load stage for one shard: read the Parquet source from the object store, validate it and
 * write its token store row group by row group (write-shard-tokens.ts: memory bounded by a row
 * group, not the shard), and record which source object (size, etag) it came from. A shard
 * whose source is unchanged since its last load is not read again. The token store is written
 * locally, then uploaded under a key derived from the source's content (a published version's
 * token store is never overwritten); the source record is written last, so a crash between the
 * two leaves a shard that simply loads again.
 */
import { join } from 'node:path';

import { log } from '../log.js';
import type { StoreDType } from '../native/token-store.js';
import type { ReadShardOptions, ShardScan } from '../parquet/scan-shard.js';
import { parseSourceRef } from '../parquet/source-ref.js';
import { keys, shardId, sourceTag } from '../store/keys.js';
import type { LoadedShard } from '../store/loaded-shard.js';
import type { ObjectStore } from '../store/object-store.js';
import { makeScratchDir } from '../store/scratch.js';
import { writeShardTokens } from './write-shard-tokens.js';


interface SourceRecord {
  sourceKey: string;
  size: number;
  etag: string;
  tokensKey: string;
  docs: number;
  tokens: number;
  dim: number;
  dtype: StoreDType;
}

export interface LoadShardOptions extends ReadShardOptions {
  /** @defaultValue 'float32' */
  dtype?: StoreDType;
}

export async function loadShard(store: ObjectStore, sourceKey: string, options: LoadShardOptions = {}): Promise<LoadedShard> {
  const id = shardId(sourceKey);
  const dtype = options.dtype ?? 'float32';
  // a file, or a range of its rows (a file larger than the build's --shard-docs)
  const { key, rows } = parseSourceRef(sourceKey);
  const head = await store.head(key);
  if (head && (await store.head(keys.shardSource(id)))) {
    const rec = JSON.parse((await store.get(keys.shardSource(id))).toString('utf8')) as SourceRecord;
    if (rec.size === head.size && rec.etag === head.etag && rec.dtype === dtype && (await store.head(rec.tokensKey))) {
      log.info('shard unchanged, not reloaded', { shard: id, source: sourceKey });
      return { shardId: id, sourceKey, tokensKey: rec.tokensKey, docs: rec.docs, tokens: rec.tokens, dim: rec.dim, loaded: false };
    }
  }
  const t0 = performance.now();
  const scratch = makeScratchDir();
  let scan: ShardScan;
  let tokensKey: string;
  try {
    const local = join(scratch.dir, 'tokens.lts');
    scan = await writeShardTokens(store, key, local, { ...options, dtype, ...(rows ? { rows } : {}) });
    // keyed by the content actually read (its etag) and the encoding, so a source changed mid-read
    // cannot be mislabelled and a reload in another dtype never overwrites a published token store
    tokensKey = keys.shardTokens(id, `${sourceTag(head?.size ?? 0, scan.etag)}${dtype === 'float16' ? '-f16' : ''}`);
    await store.putFile(tokensKey, local, { move: true });
  } finally {
    scratch.cleanup();
  }
  const rec: SourceRecord = { sourceKey, size: head?.size ?? 0, etag: scan.etag, tokensKey, docs: scan.docs, tokens: scan.tokens, dim: scan.dim!, dtype };
  await store.put(keys.shardSource(id), Buffer.from(JSON.stringify(rec)));
  log.info('shard loaded', { shard: id, source: sourceKey, docs: rec.docs, tokens: rec.tokens, seconds: (performance.now() - t0) / 1000 });
  return { shardId: id, sourceKey, tokensKey, docs: rec.docs, tokens: rec.tokens, dim: rec.dim, loaded: true };
}
