/**
 * Reads one Parquet shard of corpus embeddings from the object store into flat arrays, row group
 * by row group through ranged reads (scanShard: the footer, the column types, then each group's
 * column chunks). Layouts of the embeddings column: (a) list<float> of n_tokens × dim values,
 * (b) list<list<float>> or a list of fixed-size lists (one inner list per token), with float,
 * double or float16 elements, (c) a binary little-endian float32 or float16 blob of
 * n_tokens × dim values (embeddings-dtype.ts). A doc id column (string or integer) is required;
 * an n_tokens column is optional (it fixes dim for flat layouts and is checked). The first
 * problem fails the shard with file, row and field named; nothing partial is returned
 * (validateSources reports every problem instead). The whole shard is in memory at the end: the
 * load stage streams instead (pipeline/write-shard-tokens.ts).
 */
import type { ObjectStore } from '../store/object-store.js';
import { DocRows } from './doc-rows.js';
import { problemError, scanShard, shardSource, type ReadShardOptions } from './scan-shard.js';

export type { ReadShardOptions } from './scan-shard.js';
export type { ShardColumns } from './shard-schema.js';

export interface ShardData {
  /** store URL + key, as named in errors */
  source: string;
  dim: number;
  /** sum(counts) × dim token vectors, documents in file order */
  vectors: Float32Array;
  counts: Int32Array;
  ids: BigInt64Array | string[];
  rowGroups: number;
  /** The object's etag when read (to skip unchanged shards later). */
  etag: string;
}

/**
 * @throws InputDataError at the first problem (missing object, unreadable footer, a column of the
 *   wrong type, a corrupt page, a bad row), naming file, row and field
 * @throws InvalidArgumentError for a dim that is not a positive integer
 */
export async function readShard(store: ObjectStore, key: string, options: ReadShardOptions = {}): Promise<ShardData> {
  const source = shardSource(store, key);
  const rows = new DocRows();
  const scan = await scanShard(store, key, options, {
    row: (id, tokens, values) => rows.add(id, tokens, values),
    problem(p) {
      throw problemError(source, p);
    },
  });
  return {
    source,
    dim: scan.dim!,
    vectors: rows.vectors(true),
    counts: rows.counts(),
    ids: rows.ids(scan.idKind),
    rowGroups: scan.rowGroups,
    etag: scan.etag,
  };
}
