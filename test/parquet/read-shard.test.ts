/**
 * The Parquet shard reader on files from two independent writers (DuckDB, arrow-rs through
 * parquet-wasm): every layout, snappy and zstd, several row groups and pages, int and string ids,
 * agreement with hyparquet's own row assembly; bad rows named by file, row and field; corrupt,
 * short and truncated files named as such.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { parquetHeader } from 'hyparquet/src/column.js';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

import { InputDataError } from '../../src/errors.js';
import { readShard, type ReadShardOptions } from '../../src/parquet/read-shard.js';
import { LocalStore } from '../../src/store/local-store.js';
import { writeArrowFixture } from '../helpers/arrow-parquet.js';
import { corruptColumnChunk, fixtureTokens, fixtureValue, writeBlobFixture, writeFixture, writeQuery, type FixtureLayout } from '../helpers/parquet-fixtures.js';
import { shardFailure } from '../helpers/shard-failure.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const store = new LocalStore(tmp.dir);
for (const d of ['shards', 'bad']) mkdirSync(join(tmp.dir, d), { recursive: true });

function checkFixture(data: Awaited<ReturnType<typeof readShard>>, rows: number, dim: number): void {
  assert.equal(data.dim, dim);
  assert.equal(data.counts.length, rows);
  let at = 0;
  for (let i = 0; i < rows; i++) {
    assert.equal(data.counts[i], fixtureTokens(i), `row ${i} tokens`);
    for (let x = 0; x < fixtureTokens(i) * dim; x++, at++) {
      if (data.vectors[at] !== fixtureValue(i, x)) assert.fail(`row ${i} value ${x}: ${data.vectors[at]} vs ${fixtureValue(i, x)}`);
    }
  }
  assert.equal(at, data.vectors.length);
}

describe('readShard', () => {
  for (const [layout, codec] of [['flat', 'zstd'], ['nested', 'snappy'], ['fixed', 'zstd']] as [FixtureLayout, 'snappy' | 'zstd'][]) {
    it(`reads ${layout} embeddings (${codec}, several row groups) exactly`, async () => {
      const key = `shards/${layout}.parquet`;
      await writeFixture(join(tmp.dir, key), { rows: 5000, dim: 16, layout, codec, rowGroupSize: 2048 });
      const data = await readShard(store, key);
      assert.ok(data.rowGroups >= 2, `row groups: ${data.rowGroups}`);
      assert.ok(data.ids instanceof BigInt64Array);
      assert.equal((data.ids as BigInt64Array)[4999], 4999n);
      checkFixture(data, 5000, 16);
    });
  }

  it('takes string ids and a configurable id column', async () => {
    await writeFixture(join(tmp.dir, 'shards/sid.parquet'), { rows: 30, dim: 8, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
    const data = await readShard(store, 'shards/sid.parquet', { columns: { id: 'sid' } });
    assert.deepEqual((data.ids as string[]).slice(0, 3), ['doc-0', 'doc-1', 'doc-2']);
    checkFixture(data, 30, 8);
  });

  it('reads float32 blobs (layout c) given dim', async () => {
    const rows = [
      { id: 'a', values: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { id: 'b', values: Float32Array.from([0.5, -0.25, 7]) },
    ];
    await writeBlobFixture(join(tmp.dir, 'shards/blob.parquet'), rows);
    const data = await readShard(store, 'shards/blob.parquet', { dim: 3 });
    assert.deepEqual(Array.from(data.counts), [2, 1]);
    assert.deepEqual(Array.from(data.vectors), [1, 2, 3, 4, 5, 6, 0.5, -0.25, 7]);
    await assert.rejects(readShard(store, 'shards/blob.parquet'), (e: Error) => e instanceof InputDataError && /cannot infer dim/.test(e.message));
    await assert.rejects(readShard(store, 'shards/blob.parquet', { dim: 4 }), (e: Error) => e instanceof InputDataError && (e as InputDataError).row === 0 && /expected a multiple of 4/.test(e.message));
  });

  it('names file, row and field for bad rows', async () => {
    const bad = async (name: string, extraSql: string): Promise<InputDataError> => {
      await writeFixture(join(tmp.dir, `bad/${name}.parquet`), { rows: 3000, dim: 8, layout: 'flat', codec: 'zstd', rowGroupSize: 1024, extraSql });
      try {
        await readShard(store, `bad/${name}.parquet`);
      } catch (e) {
        assert.ok(e instanceof InputDataError, String(e));
        assert.equal(e.file, `${store.url}/bad/${name}.parquet`);
        return e;
      }
      return assert.fail('expected an InputDataError');
    };
    // a duplicate id far into the file (another row group), a NaN, a wrong token count
    let e = await bad('dup', 'UNION ALL SELECT 5, \'x\', 1, list_transform(range(8), x -> 0.0::FLOAT)');
    assert.equal(e.row, 3000);
    assert.equal(e.field, 'id');
    assert.match(e.message, /duplicate id 5 \(first at row 5\)/);
    e = await bad('nan', 'UNION ALL SELECT 9999, \'x\', 1, [\'nan\'::FLOAT] || list_transform(range(7), x -> 0.0::FLOAT)');
    assert.equal(e.field, 'embeddings');
    assert.match(e.message, /row 3000, field `embeddings`: token 0, component 0: value NaN is not a finite number/);
    e = await bad('count', 'UNION ALL SELECT 9999, \'x\', 2, list_transform(range(8), x -> 0.0::FLOAT)');
    assert.equal(e.field, 'n_tokens');
    e = await bad('empty', 'UNION ALL SELECT 9999, \'x\', 1, []::FLOAT[]');
    assert.equal(e.field, 'embeddings');
    assert.match(e.message, /empty document/);
    e = await bad('nullid', 'UNION ALL SELECT NULL, \'x\', 1, list_transform(range(8), x -> 0.0::FLOAT)');
    assert.match(e.message, /field `id`: missing id/);
  });

  it('rejects a file that is not Parquet, a missing object and a missing column', async () => {
    writeFileSync(join(tmp.dir, 'bad/garbage.parquet'), 'not parquet at all');
    await assert.rejects(readShard(store, 'bad/garbage.parquet'), (e: Error) => e instanceof InputDataError && /not a readable Parquet file/.test(e.message));
    await assert.rejects(readShard(store, 'bad/none.parquet'), (e: Error) => e instanceof InputDataError && /does not exist/.test(e.message));
    await assert.rejects(readShard(store, 'shards/sid.parquet', { columns: { embeddings: 'vectors' } }), (e: Error) => e instanceof InputDataError && /no column `vectors`/.test(e.message));
  });
});

const userColumns = { id: 'doc_id', embeddings: 'embedding' };

/** readShard's rejection of `key` in this test's store. */
const failure = (key: string, options: ReadShardOptions = {}): Promise<InputDataError> => shardFailure(store, key, options);

describe('readShard on arrow-rs files', () => {
  for (const layout of ['flat', 'fixed', 'nested'] as const) {
    it(`reads ${layout} embeddings exactly (zstd, a dictionary page then plain ones, small pages, several row groups)`, async () => {
      const key = `shards/arrow-${layout}.parquet`;
      writeArrowFixture(join(tmp.dir, key), { rows: 3000, dim: 16, layout, rowGroupSize: 700, pageBytes: 4096 });
      const data = await readShard(store, key, { columns: userColumns });
      assert.equal(data.rowGroups, 5);
      assert.deepEqual((data.ids as string[]).slice(2998), ['doc-2998', 'doc-2999']);
      checkFixture(data, 3000, 16);
    });
  }

  it('reads DATA_PAGE_V2 pages exactly (levels stored apart from the compressed values)', async () => {
    for (const layout of ['flat', 'nested'] as const) {
      const key = `shards/arrow-v2-${layout}.parquet`;
      writeArrowFixture(join(tmp.dir, key), { rows: 2000, dim: 16, layout, rowGroupSize: 600, pageBytes: 4096, pageVersion: 2 });
      const bytes = readFileSync(join(tmp.dir, key));
      const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const chunk = meta.row_groups[0]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'embedding')!.meta_data!;
      assert.equal(parquetHeader({ view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: Number(chunk.data_page_offset) }).type, 'DATA_PAGE_V2');
      checkFixture(await readShard(store, key, { columns: userColumns }), 2000, 16);
    }
  });

  it('agrees with hyparquet\'s row assembly on short lists (bit-packed levels), from both writers', async () => {
    await writeFixture(join(tmp.dir, 'shards/short-duck.parquet'), { rows: 2000, dim: 3, layout: 'nested', codec: 'snappy', rowGroupSize: 512 });
    writeArrowFixture(join(tmp.dir, 'shards/short-arrow.parquet'), { rows: 2000, dim: 3, layout: 'nested', codec: 'snappy', rowGroupSize: 512, pageBytes: 1024 });
    for (const [key, cols] of [['shards/short-duck.parquet', {}], ['shards/short-arrow.parquet', userColumns]] as const) {
      const data = await readShard(store, key, { columns: cols });
      const bytes = readFileSync(join(tmp.dir, key));
      const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const rows = await parquetReadObjects({ file, compressors, columns: [cols.embeddings ?? 'embeddings'] });
      const expected = rows.flatMap((r) => (r[cols.embeddings ?? 'embeddings'] as number[][]).flat());
      assert.deepEqual(Array.from(data.counts), rows.map((r) => (r[cols.embeddings ?? 'embeddings'] as unknown[]).length));
      assert.deepEqual(Array.from(data.vectors), expected);
    }
  });
});

describe('readShard on corrupt and truncated files', () => {
  it('names a zstd page that no longer decodes: column, row group and its rows', async () => {
    const key = 'bad/corrupt-arrow.parquet';
    writeArrowFixture(join(tmp.dir, key), { rows: 2000, dim: 16, layout: 'flat', rowGroupSize: 500 });
    corruptColumnChunk(join(tmp.dir, key), 1, 'embedding');
    const e = await failure(key, { columns: userColumns });
    assert.equal(e.field, 'embedding');
    assert.ok(e.row! >= 500 && e.row! < 1000, String(e.row));
    assert.match(e.message, /: row group 1 \(rows 500-999\), column `embedding`: corrupt page \d+ \(from row \d+\): /);
    assert.doesNotMatch(e.message, /undefined|not a finite number/);
  });

  it('names a corrupt zstd page of a DuckDB file (the user\'s layout: doc_id, n_tokens, list<float>)', async () => {
    const key = 'bad/corrupt-duck.parquet';
    await writeQuery(join(tmp.dir, key), `SELECT 'd' || i AS doc_id, 4 AS n_tokens, list_transform(range(64), x -> ((i * 31 + x) % 997 / 997.0 - 0.5)::FLOAT) AS embedding FROM range(6000) r(i)`, { rowGroupSize: 2048 });
    corruptColumnChunk(join(tmp.dir, key), 2, 'embedding');
    const e = await failure(key, { columns: userColumns });
    assert.equal(e.field, 'embedding');
    assert.match(e.message, /: row group 2 \(rows 4096-5999\), column `embedding`: corrupt page \d+ \(from row \d+\): /);
  });

  it('names a page whose levels decode short', async () => {
    const key = 'bad/short.parquet';
    const path = join(tmp.dir, key);
    writeArrowFixture(path, { rows: 400, dim: 8, layout: 'flat', codec: 'none', rowGroupSize: 400 });
    // the first data page of `embedding`: after its header come the repetition levels' byte length
    const bytes = readFileSync(path);
    const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const chunk = meta.row_groups[0]!.columns.find((c) => c.meta_data!.path_in_schema[0] === 'embedding')!.meta_data!;
    const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: Number(chunk.data_page_offset) };
    assert.equal(parquetHeader(reader).type, 'DATA_PAGE');
    bytes.writeUInt32LE(2, reader.offset);
    writeFileSync(path, bytes);
    const e = await failure(key, { columns: userColumns });
    assert.match(e.message, /row group 0 \(rows 0-399\), column `embedding`: corrupt page \d+ \(from row 0\): page does not decode: repetition levels(: a bit-packed run of \d+ values runs past their end| end after \d+ of 4\d\d values)$/);
  });

  it('names a truncated file', async () => {
    const key = 'bad/truncated.parquet';
    await writeFixture(join(tmp.dir, key), { rows: 3000, dim: 8, layout: 'flat', codec: 'zstd', rowGroupSize: 1024 });
    truncateSync(join(tmp.dir, key), Math.floor(readFileSync(join(tmp.dir, key)).length / 2));
    const e = await failure(key);
    assert.match(e.message, /not a readable Parquet file: it does not end with the PAR1 magic \(a truncated file, or not Parquet\)$/);
  });
});
