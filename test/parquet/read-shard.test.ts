/**
 * The Parquet shard reader on files from an independent writer (DuckDB): every layout, snappy
 * and zstd, several row groups, int and string ids; and bad rows named by file, row and field.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { InputDataError } from '../../src/errors.js';
import { readShard } from '../../src/parquet/read-shard.js';
import { LocalStore } from '../../src/store/local-store.js';
import { fixtureTokens, fixtureValue, writeBlobFixture, writeFixture, type FixtureLayout } from '../helpers/parquet-fixtures.js';
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
