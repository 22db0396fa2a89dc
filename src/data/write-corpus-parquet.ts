/**
 * Writes a corpus as Parquet shards into the object store, in the binary layout (id STRING,
 * embeddings BYTE_ARRAY of float32 or float16 little-endian, n_tokens INT32), with
 * hyparquet-writer; the element type is declared in the footer (lemur.embeddings.dtype), so
 * readers need no option. Used by the demo and the benchmarks to feed the real pipeline the way a
 * user's files would.
 */
import { parquetWriteBuffer } from 'hyparquet-writer';

import { DTYPE_KEY, type BlobDType } from '../parquet/embeddings-dtype.js';
import { encodeHalves } from '../parquet/float16.js';
import type { ObjectStore } from '../store/object-store.js';
import type { Corpus } from './synthetic-corpus.js';

export interface WriteCorpusOptions {
  /** Documents [from, to) of the corpus only (ids stay doc-<corpus index>). @defaultValue the whole corpus */
  from?: number;
  to?: number;
  /** File name stem. @defaultValue 'part' */
  stem?: string;
  /** Column names. @defaultValue id, embeddings, n_tokens */
  names?: { id?: string; embeddings?: string; nTokens?: string };
  /** Element type of the blobs: float16 halves the source (values rounded to nearest even). @defaultValue 'float32' */
  dtype?: BlobDType;
  /** Rows per row group. @defaultValue hyparquet-writer's (1000 rows, then 100000) */
  rowGroupSize?: number;
}

export async function writeCorpusParquet(store: ObjectStore, prefix: string, corpus: Corpus, shards: number, options: WriteCorpusOptions = {}): Promise<string[]> {
  const all = corpus.docCounts.length;
  const offsets = new Int32Array(all + 1);
  for (let i = 0; i < all; i++) offsets[i + 1] = offsets[i]! + corpus.docCounts[i]!;
  const start = options.from ?? 0;
  const n = (options.to ?? all) - start;
  const keys: string[] = [];
  const per = Math.ceil(n / shards);
  for (let s = 0; s < shards; s++) {
    const from = start + s * per;
    const to = Math.min(start + n, from + per);
    if (from >= to) break;
    const ids: string[] = [];
    const blobs: Uint8Array[] = [];
    const counts: number[] = [];
    for (let i = from; i < to; i++) {
      ids.push(`doc-${i}`);
      const v = corpus.docVectors.slice(offsets[i]! * corpus.dim, offsets[i + 1]! * corpus.dim);
      blobs.push(options.dtype === 'float16' ? encodeHalves(v) : new Uint8Array(v.buffer));
      counts.push(corpus.docCounts[i]!);
    }
    const buf = parquetWriteBuffer({
      columnData: [
        { name: options.names?.id ?? 'id', data: ids, type: 'STRING' },
        { name: options.names?.embeddings ?? 'embeddings', data: blobs, type: 'BYTE_ARRAY' },
        { name: options.names?.nTokens ?? 'n_tokens', data: counts, type: 'INT32' },
      ],
      kvMetadata: [{ key: DTYPE_KEY, value: options.dtype ?? 'float32' }],
      ...(options.rowGroupSize !== undefined ? { rowGroupSize: options.rowGroupSize } : {}),
    });
    const key = `${prefix}${options.stem ?? 'part'}-${String(s).padStart(3, '0')}.parquet`;
    await store.put(key, new Uint8Array(buf));
    keys.push(key);
  }
  return keys;
}
