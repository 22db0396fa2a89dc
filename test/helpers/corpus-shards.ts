/**
 * A generated corpus (clustered, so recall is meaningful) written as Parquet shards by DuckDB,
 * an independent writer: documents [from, to) with ids doc-<index>, float32 blobs per row and
 * an n_tokens column.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Corpus } from '../../src/data/synthetic-corpus.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { writeBlobFixture } from './parquet-fixtures.js';
import { makeTmpDir } from './tmp-dir.js';

export function docTokens(c: Corpus, i: number): Float32Array {
  let start = 0;
  for (let j = 0; j < i; j++) start += c.docCounts[j]!;
  return c.docVectors.slice(start * c.dim, (start + c.docCounts[i]!) * c.dim);
}

/** Writes documents [from, to) to `key`; `override` replaces some documents' vectors (upserts). */
export async function putCorpusShard(store: ObjectStore, key: string, c: Corpus, from: number, to: number, override: Map<number, Float32Array> = new Map()): Promise<void> {
  const tmp = makeTmpDir();
  try {
    const rows = [];
    for (let i = from; i < to; i++) {
      const values = override.get(i) ?? docTokens(c, i);
      rows.push({ id: `doc-${i}`, values, nTokens: values.length / c.dim });
    }
    const path = join(tmp.dir, 'shard.parquet');
    await writeBlobFixture(path, rows);
    await store.put(key, readFileSync(path));
  } finally {
    tmp.cleanup();
  }
}
