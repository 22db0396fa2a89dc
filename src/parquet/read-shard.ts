/**
 * Reads one Parquet shard of corpus embeddings from the object store into flat arrays for a token
 * store, row group by row group through ranged reads (scanShard: the footer, the column types,
 * then each group's column chunks). Layouts of the embeddings column: (a) list<float> of
 * n_tokens × dim values, (b) list<list<float>> or a list of fixed-size lists (one inner list per
 * token), (c) binary little-endian float32 blob of n_tokens × dim values. A doc id column (string
 * or integer) is required; an n_tokens column is optional (it fixes dim for flat layouts and is
 * checked). The first problem fails the shard with file, row and field named; nothing partial is
 * returned (validateSources reports every problem instead).
 */
import type { ObjectStore } from '../store/object-store.js';
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

/** Growable float32 buffer. */
class FloatSink {
  #buf = new Float32Array(1 << 16);
  length = 0;
  reserve(n: number): Float32Array {
    if (this.length + n > this.#buf.length) {
      let cap = this.#buf.length;
      while (cap < this.length + n) cap *= 2;
      const next = new Float32Array(cap);
      next.set(this.#buf.subarray(0, this.length));
      this.#buf = next;
    }
    const view = this.#buf.subarray(this.length, this.length + n);
    this.length += n;
    return view;
  }
  result(): Float32Array {
    return this.#buf.slice(0, this.length);
  }
}

/**
 * @throws InputDataError at the first problem (missing object, unreadable footer, a column of the
 *   wrong type, a corrupt page, a bad row), naming file, row and field
 * @throws InvalidArgumentError for a dim that is not a positive integer
 */
export async function readShard(store: ObjectStore, key: string, options: ReadShardOptions = {}): Promise<ShardData> {
  const source = shardSource(store, key);
  const sink = new FloatSink();
  const counts: number[] = [];
  const intIds: bigint[] = [];
  const strIds: string[] = [];
  const scan = await scanShard(store, key, options, {
    row(id, tokens, values) {
      sink.reserve(values.length).set(values);
      counts.push(tokens);
      if (typeof id === 'bigint') intIds.push(id);
      else strIds.push(id);
    },
    problem(p) {
      throw problemError(source, p);
    },
  });
  return {
    source,
    dim: scan.dim!,
    vectors: sink.result(),
    counts: Int32Array.from(counts),
    ids: scan.idKind === 'int' ? BigInt64Array.from(intIds) : strIds,
    rowGroups: scan.rowGroups,
    etag: scan.etag,
  };
}
