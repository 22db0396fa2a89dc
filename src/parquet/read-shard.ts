/**
 * Reads one Parquet shard of corpus embeddings from the object store, row group by row group
 * through ranged reads (the footer first, then each group's column chunks), into flat arrays for
 * a token store. Layouts of the embeddings column: (a) list<float> of n_tokens × dim values,
 * (b) list<list<float>> or a list of fixed-size lists (one inner list per token), (c) binary
 * little-endian float32 blob of n_tokens × dim values. A doc id column (string or integer) is
 * required; an n_tokens column is optional (it fixes dim for flat layouts and is checked).
 * Every bad row fails the shard with file, row and field named; nothing partial is returned.
 */
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

import { InputDataError, InvalidArgumentError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';

export interface ShardColumns {
  /** @defaultValue 'id' */
  id: string;
  /** @defaultValue 'embeddings' */
  embeddings: string;
  /** Optional token count column. @defaultValue 'n_tokens' when present in the file */
  nTokens: string;
}

export interface ReadShardOptions {
  columns?: Partial<ShardColumns>;
  /** Expected dim; inferred (and then required to agree across rows) when absent. */
  dim?: number;
}

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

/** An hyparquet AsyncBuffer over ranged reads of one object. */
function objectBuffer(store: ObjectStore, key: string, size: number): AsyncBuffer {
  return {
    byteLength: size,
    slice: async (start: number, end?: number): Promise<ArrayBuffer> => {
      const b = await store.getRange(key, start, end ?? size);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
  };
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

export async function readShard(store: ObjectStore, key: string, options: ReadShardOptions = {}): Promise<ShardData> {
  const source = `${store.url}/${key}`;
  const info = await store.head(key);
  if (!info) throw new InputDataError(`shard ${source}: object does not exist`, { file: source });
  const file = objectBuffer(store, key, info.size);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new InputDataError(`shard ${source}: not a readable Parquet file: ${(err as Error).message}`, { file: source }, { cause: err });
  }
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  const col: ShardColumns = { id: 'id', embeddings: 'embeddings', nTokens: 'n_tokens', ...options.columns };
  for (const needed of [col.id, col.embeddings]) {
    if (!names.includes(needed)) throw new InputDataError(`shard ${source}: no column \`${needed}\` (columns: ${names.join(', ')})`, { file: source, field: needed });
  }
  const hasCount = names.includes(col.nTokens);
  if (options.columns?.nTokens && !hasCount) throw new InputDataError(`shard ${source}: no column \`${col.nTokens}\``, { file: source, field: col.nTokens });
  if (options.dim !== undefined && (!Number.isInteger(options.dim) || options.dim < 1)) throw new InvalidArgumentError(`Expected dim >= 1 but received ${options.dim}`);

  const fail = (row: number, field: string, what: string): never => {
    throw new InputDataError(`shard ${source}: row ${row}, field \`${field}\`: ${what}`, { file: source, row, field });
  };
  let dim = options.dim;
  const sink = new FloatSink();
  const counts: number[] = [];
  const intIds: bigint[] = [];
  const strIds: string[] = [];
  const seen = new Map<string, number>();
  let idKind: 'int' | 'string' | undefined;
  const columns = hasCount ? [col.id, col.embeddings, col.nTokens] : [col.id, col.embeddings];

  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, columns, rowStart, rowEnd, compressors, utf8: false });
    } catch (err) {
      throw new InputDataError(`shard ${source}: rows ${rowStart}-${rowEnd - 1} cannot be decoded: ${(err as Error).message}`, { file: source, row: rowStart }, { cause: err });
    }
    rows.forEach((rec, i) => {
      const row = rowStart + i;
      // id
      const id = rec[col.id];
      if (id === null || id === undefined) fail(row, col.id, 'missing id');
      const kind = typeof id === 'string' ? 'string' : typeof id === 'bigint' || typeof id === 'number' ? 'int' : undefined;
      if (!kind) fail(row, col.id, `id of unsupported type ${typeof id}`);
      if (idKind && kind !== idKind) fail(row, col.id, `id type ${kind} differs from earlier rows (${idKind})`);
      idKind = kind;
      const idText = String(id);
      const first = seen.get(idText);
      if (first !== undefined) fail(row, col.id, `duplicate id ${idText} (first at row ${first})`);
      seen.set(idText, row);
      // tokens
      const emb = rec[col.embeddings];
      const declared = hasCount ? rec[col.nTokens] : undefined;
      if (hasCount && (typeof declared !== 'number' || !Number.isInteger(declared) || declared < 1)) fail(row, col.nTokens, `${String(declared)} is not a positive token count`);
      let values: ArrayLike<number>;
      let ntok: number;
      if (emb instanceof Uint8Array) {
        if (emb.byteLength === 0 || emb.byteLength % 4 !== 0) fail(row, col.embeddings, `${emb.byteLength} bytes is not a non-empty whole number of float32 values`);
        values = new Float32Array(emb.buffer.slice(emb.byteOffset, emb.byteOffset + emb.byteLength));
        const d = dim ?? (hasCount ? values.length / (declared as number) : fail(row, col.embeddings, 'cannot infer dim from a binary blob: give dim or an n_tokens column'));
        if (!Number.isInteger(d) || values.length % d !== 0) fail(row, col.embeddings, `${values.length} values, expected a multiple of ${d}`);
        dim ??= d;
        ntok = values.length / dim!;
      } else if (Array.isArray(emb) && emb.length > 0 && Array.isArray(emb[0])) {
        ntok = emb.length;
        const d = (emb[0] as unknown[]).length;
        dim ??= d;
        const flat = new Array<number>(ntok * dim);
        emb.forEach((tok: unknown, t: number) => {
          if (!Array.isArray(tok) || tok.length !== dim) fail(row, col.embeddings, `token ${t} has ${Array.isArray(tok) ? tok.length : 0} values, expected ${dim}`);
          for (let k = 0; k < dim!; k++) flat[t * dim! + k] = (tok as number[])[k]!;
        });
        values = flat;
      } else if (Array.isArray(emb) && emb.length > 0) {
        values = emb as number[];
        const d = dim ?? (hasCount ? values.length / (declared as number) : fail(row, col.embeddings, 'cannot infer dim from a flat list: give dim or an n_tokens column'));
        if (!Number.isInteger(d) || values.length % d !== 0) fail(row, col.embeddings, `${values.length} values, expected a multiple of ${d}`);
        dim ??= d;
        ntok = values.length / dim!;
      } else {
        return fail(row, col.embeddings, 'empty document (no token vectors)');
      }
      if (hasCount && ntok !== declared) fail(row, col.nTokens, `says ${String(declared)} tokens, the embeddings hold ${ntok}`);
      const out = sink.reserve(ntok * dim!);
      for (let v = 0; v < out.length; v++) {
        const x = values[v];
        if (typeof x !== 'number' || x - x !== 0) fail(row, col.embeddings, `token ${Math.floor(v / dim!)}, component ${v % dim!}: value ${String(x)} is not a finite number`);
        out[v] = x as number;
      }
      counts.push(ntok);
      if (kind === 'int') intIds.push(BigInt(id as number | bigint));
      else strIds.push(id as string);
    });
    rowStart = rowEnd;
  }
  if (counts.length === 0) throw new InputDataError(`shard ${source}: no rows`, { file: source });
  return {
    source,
    dim: dim!,
    vectors: sink.result(),
    counts: Int32Array.from(counts),
    ids: idKind === 'int' ? BigInt64Array.from(intIds) : strIds,
    rowGroups: metadata.row_groups.length,
    etag: info.etag,
  };
}
