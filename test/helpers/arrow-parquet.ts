/**
 * Parquet written by arrow-rs (parquet-wasm) from Arrow tables built with apache-arrow: a second
 * independent writer beside DuckDB, with its own habits (nullable lists and elements, a dictionary
 * page that falls back to plain ones, fixed-size lists stored as lists, several pages per chunk).
 */
import { writeFileSync } from 'node:fs';

import * as arrow from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, WriterVersion, writeParquet } from 'parquet-wasm/node';

import { fixtureTokens, fixtureValue } from './parquet-fixtures.js';

export interface ArrowWriteOptions {
  /** @defaultValue 'zstd' */
  codec?: 'zstd' | 'snappy' | 'none';
  /** rows per row group @defaultValue 1024 */
  rowGroupSize?: number;
  /** data page size limit in bytes (small: many pages per chunk) @defaultValue arrow-rs's 1 MiB */
  pageBytes?: number;
  /** 2: DATA_PAGE_V2 pages (levels uncompressed before the values) @defaultValue 1 */
  pageVersion?: 1 | 2;
}

/** Writes `columns` (one Arrow vector each) as a Parquet file at `path`. */
export function writeArrowParquet(path: string, columns: Record<string, arrow.Vector>, o: ArrowWriteOptions = {}): void {
  const table = new arrow.Table(columns);
  const codec = { zstd: Compression.ZSTD, snappy: Compression.SNAPPY, none: Compression.UNCOMPRESSED }[o.codec ?? 'zstd'];
  let props = new WriterPropertiesBuilder().setCompression(codec).setMaxRowGroupSize(o.rowGroupSize ?? 1024);
  if (o.pageBytes !== undefined) props = props.setDataPageSizeLimit(o.pageBytes);
  if (o.pageVersion === 2) props = props.setWriterVersion(WriterVersion.V2);
  const wasmTable = WasmTable.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  writeFileSync(path, writeParquet(wasmTable, props.build()));
}

/**
 * List leaves: float32 values, or halves given as their bit patterns (a Uint16Array), which
 * arrow-rs writes as FIXED_LEN_BYTE_ARRAY(2) annotated FLOAT16.
 */
type LeafValues = Float32Array | Uint16Array;

const leafType = (values: LeafValues): arrow.Float32 | arrow.Float16 => (values instanceof Uint16Array ? new arrow.Float16() : new arrow.Float32());
const leafField = (values: LeafValues, nullable = false): arrow.Field => new arrow.Field('element', leafType(values), nullable);
const leafData = (values: LeafValues): arrow.Data => arrow.makeData({ type: leafType(values), length: values.length, nullCount: 0, data: values } as never);

/** list<float> (or list<float16>) with row i's values at [offsets[i], offsets[i + 1]) of `values`. */
export function floatLists(values: LeafValues, offsets: Int32Array): arrow.Vector {
  return arrow.makeVector(arrow.makeData({ type: new arrow.List(leafField(values)), length: offsets.length - 1, nullCount: 0, valueOffsets: offsets, child: leafData(values) }));
}

/**
 * list<fixed_size_list<float, dim>> (or list<list<float>> when `fixed` is false; float16 leaves
 * for a Uint16Array) with row i's tokens at [tokenOffsets[i], tokenOffsets[i + 1]) of the
 * dim-wide rows of `values`.
 */
export function tokenLists(values: LeafValues, dim: number, tokenOffsets: Int32Array, fixed = true): arrow.Vector {
  const leaf = leafData(values);
  const tokens = values.length / dim;
  const inner = fixed
    ? arrow.makeData({ type: new arrow.FixedSizeList(dim, leafField(values)), length: tokens, nullCount: 0, child: leaf })
    : arrow.makeData({ type: new arrow.List(leafField(values)), length: tokens, nullCount: 0, valueOffsets: Int32Array.from({ length: tokens + 1 }, (_, t) => t * dim), child: leaf });
  return arrow.makeVector(arrow.makeData({ type: new arrow.List(new arrow.Field('element', inner.type, false)), length: tokenOffsets.length - 1, nullCount: 0, valueOffsets: tokenOffsets, child: inner }));
}

/** Small vectors from JS values (nulls allowed), typed as given. */
export function vectorOf<T extends arrow.DataType>(type: T, values: unknown[]): arrow.Vector<T> {
  return arrow.vectorFromArray(values as never, type) as arrow.Vector<T>;
}

export { arrow };

/**
 * The fixtures of parquet-fixtures.ts (row i: fixtureTokens(i) tokens of fixtureValue) written by
 * arrow-rs with a DuckDB user's column names: doc_id ('doc-<i>'), embedding, n_tokens.
 */
export function writeArrowFixture(path: string, o: { rows: number; dim: number; layout: 'flat' | 'fixed' | 'nested' } & ArrowWriteOptions): void {
  const tokenOffsets = new Int32Array(o.rows + 1);
  for (let i = 0; i < o.rows; i++) tokenOffsets[i + 1] = tokenOffsets[i]! + fixtureTokens(i);
  const values = new Float32Array(tokenOffsets[o.rows]! * o.dim);
  for (let i = 0, at = 0; i < o.rows; i++) for (let x = 0; x < fixtureTokens(i) * o.dim; x++) values[at++] = fixtureValue(i, x);
  const embedding = o.layout === 'flat' ? floatLists(values, tokenOffsets.map((t) => t * o.dim)) : tokenLists(values, o.dim, tokenOffsets, o.layout === 'fixed');
  writeArrowParquet(
    path,
    {
      doc_id: vectorOf(new arrow.Utf8(), Array.from({ length: o.rows }, (_, i) => `doc-${i}`)),
      embedding,
      n_tokens: arrow.makeVector(Int32Array.from({ length: o.rows }, (_, i) => fixtureTokens(i))),
    },
    o,
  );
}
