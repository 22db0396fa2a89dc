/**
 * Parquet fixtures written by an independent writer (DuckDB), with the value of token t,
 * component k of row i given by `fixtureValue`, so a reader's output can be checked exactly.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata } from 'hyparquet';

/** float32 of the value DuckDB computes for (row i, flat position x) in the fixtures. */
export function fixtureValue(i: number, x: number): number {
  return Math.fround((((i * 7919 + x) % 1000) / 1000.0) - 0.5);
}

/** Tokens per row in the fixtures. */
export function fixtureTokens(i: number): number {
  return 1 + (i % 3);
}

export type FixtureLayout = 'flat' | 'nested' | 'fixed';

/**
 * `rows` documents of dim `dim`: columns id (BIGINT), sid (VARCHAR 'doc-<i>'), n_tokens, and
 * the embeddings in the given layout, compressed with `codec`, `rowGroupSize` rows per group
 * (`names` renames id, n_tokens and embeddings; rows are numbered from `firstRow`).
 */
export async function writeFixture(
  path: string,
  o: { rows: number; dim: number; layout: FixtureLayout; codec: 'snappy' | 'zstd'; rowGroupSize: number; extraSql?: string; names?: { id?: string; nTokens?: string; embeddings?: string }; firstRow?: number },
): Promise<void> {
  const v = `(((i * 7919 + x) % 1000) / 1000.0 - 0.5)::FLOAT`;
  const emb = {
    flat: `list_transform(range((1 + i % 3) * ${o.dim}), x -> ${v})`,
    nested: `list_transform(range(1 + i % 3), t -> list_transform(range(${o.dim}), k -> ${v.replaceAll('x', '(t * ' + o.dim + ' + k)')}))`,
    fixed: `list_transform(range(1 + i % 3), t -> list_transform(range(${o.dim}), k -> ${v.replaceAll('x', '(t * ' + o.dim + ' + k)')})::FLOAT[${o.dim}])`,
  }[o.layout];
  const first = o.firstRow ?? 0;
  await writeQuery(
    path,
    `SELECT i::BIGINT AS ${o.names?.id ?? 'id'}, 'doc-' || i AS sid, (1 + i % 3)::INTEGER AS ${o.names?.nTokens ?? 'n_tokens'}, ${emb} AS ${o.names?.embeddings ?? 'embeddings'}
     FROM range(${first}, ${first + o.rows}) r(i) ${o.extraSql ?? ''}`,
    o,
  );
}

/** The rows of a DuckDB query as a Parquet file (any column types: the bad ones a user's files have). */
export async function writeQuery(path: string, sql: string, o: { codec?: 'snappy' | 'zstd'; rowGroupSize?: number } = {}): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  await c.run(`COPY (${sql}) TO '${path}' (FORMAT parquet, COMPRESSION ${o.codec ?? 'zstd'}, ROW_GROUP_SIZE ${o.rowGroupSize ?? 2048})`);
  c.closeSync();
  inst.closeSync();
}

/**
 * A shard whose embeddings are blobs (layout c), written through DuckDB's appender: float32
 * values, or bytes as given (halves, a wrong length); with an n_tokens column when every row
 * gives nTokens (then readers need no dim), and `kv` as the footer's key-value metadata.
 */
export async function writeBlobFixture(path: string, rows: { id: string; values: Float32Array | Uint8Array; nTokens?: number }[], o: { kv?: Record<string, string> } = {}): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:');
  const c = await inst.connect();
  const withCounts = rows.length > 0 && rows.every((r) => r.nTokens !== undefined);
  await c.run(`CREATE TABLE t (id VARCHAR, embeddings BLOB${withCounts ? ', n_tokens INTEGER' : ''})`);
  const app = await c.createAppender('t');
  for (const r of rows) {
    app.appendVarchar(r.id);
    app.appendBlob(new Uint8Array(r.values.buffer, r.values.byteOffset, r.values.byteLength));
    if (withCounts) app.appendInteger(r.nTokens!);
    app.endRow();
  }
  app.closeSync();
  const kv = Object.entries(o.kv ?? {}).map(([k, v]) => `'${k}': '${v}'`);
  await c.run(`COPY t TO '${path}' (FORMAT parquet, COMPRESSION snappy${kv.length ? `, KV_METADATA {${kv.join(', ')}}` : ''})`);
  c.closeSync();
  inst.closeSync();
}

/**
 * Overwrites `length` bytes in the middle of one column chunk's pages (row group `rowGroup`, the
 * leaf whose path starts with `column`), located from the file's own footer: a corrupt page.
 * Returns the byte range overwritten.
 */
export function corruptColumnChunk(path: string, rowGroup: number, column: string, length = 256): [number, number] {
  const bytes = readFileSync(path);
  const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const chunk = meta.row_groups[rowGroup]!.columns.find((c) => c.meta_data!.path_in_schema[0] === column)!.meta_data!;
  const start = Number(chunk.dictionary_page_offset || chunk.data_page_offset);
  const at = start + Math.floor(Number(chunk.total_compressed_size) / 2);
  for (let i = 0; i < length; i++) bytes[at + i] = (i * 151 + 89) & 0xff;
  writeFileSync(path, bytes);
  return [at, at + length];
}
