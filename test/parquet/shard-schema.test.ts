/**
 * Column types checked from the footer before any row is read: every unsupported type of the id,
 * embeddings and n_tokens columns is refused with the file, the column and its type as a person
 * would say it, from files written by DuckDB and by arrow-rs; the supported ones pass.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { InputDataError } from '../../src/errors.js';
import { readShard } from '../../src/parquet/read-shard.js';
import { LocalStore } from '../../src/store/local-store.js';
import { arrow, vectorOf, writeArrowParquet } from '../helpers/arrow-parquet.js';
import { writeQuery } from '../helpers/parquet-fixtures.js';
import { spyStore } from '../helpers/spy-store.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
mkdirSync(join(tmp.dir, 'types'), { recursive: true });

const EMB = 'list<float>, list<list<float>> (float, double or float16) or a float32/float16 blob';
const DOC = (i = 'i'): string => `'doc-' || ${i}`;
const FLOATS = `list_transform(range(8), x -> (x / 8.0)::FLOAT)`;

/** DuckDB SELECTs (over range(50) r(i)) with one column of a wrong type, and the message each must give. */
const DUCKDB_CASES: [string, string, string][] = [
  ['embeddings of strings (list<string>)', `SELECT ${DOC()} AS doc_id, 1 AS n_tokens, list_transform(range(8), x -> (x / 8.0 - 0.17173101)::VARCHAR) AS embedding`, `column \`embedding\` is list<string>, expected ${EMB}`],
  ['a list nested three deep', `SELECT ${DOC()} AS doc_id, [[${FLOATS}]] AS embedding`, `column \`embedding\` is list<list<list<float>>>, expected ${EMB}`],
  ['a list of integers', `SELECT ${DOC()} AS doc_id, [1, 2, 3]::INTEGER[] AS embedding`, `column \`embedding\` is list<int32>, expected ${EMB}`],
  ['a struct', `SELECT ${DOC()} AS doc_id, {'v': ${FLOATS}, 'w': 1} AS embedding`, `column \`embedding\` is struct<v: list<float>, w: int32>, expected ${EMB}`],
  ['a map', `SELECT ${DOC()} AS doc_id, MAP {'a': 1.5::FLOAT} AS embedding`, `column \`embedding\` is map<string, float>, expected ${EMB}`],
  ['a plain float', `SELECT ${DOC()} AS doc_id, 1.5::FLOAT AS embedding`, `column \`embedding\` is float, expected ${EMB}`],
  ['float ids', `SELECT i::DOUBLE AS doc_id, ${FLOATS} AS embedding`, 'column `doc_id` is double, expected string or integer ids'],
  ['timestamp ids', `SELECT TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND AS doc_id, ${FLOATS} AS embedding`, 'column `doc_id` is timestamp, expected string or integer ids'],
  ['list ids', `SELECT [i] AS doc_id, ${FLOATS} AS embedding`, 'column `doc_id` is list<int64>, expected string or integer ids'],
  ['string token counts', `SELECT ${DOC()} AS doc_id, '1' AS n_tokens, ${FLOATS} AS embedding`, 'column `n_tokens` is string, expected an integer token count'],
  ['decimal token counts', `SELECT ${DOC()} AS doc_id, 1.0::DECIMAL(4, 1) AS n_tokens, ${FLOATS} AS embedding`, 'column `n_tokens` is decimal(4, 1), expected an integer token count'],
];

describe('column types from the footer', () => {
  for (const [what, select, message] of DUCKDB_CASES) {
    it(`refuses ${what} (DuckDB) before reading a row`, async () => {
      const key = `types/${what.replace(/\W+/g, '-')}.parquet`;
      await writeQuery(join(tmp.dir, key), `${select} FROM range(50) r(i)`);
      const { store, reads } = spyStore(new LocalStore(tmp.dir));
      const e = await readShard(store, key, { columns: { id: 'doc_id', embeddings: 'embedding' } }).then(
        () => assert.fail('expected an InputDataError'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof InputDataError, String(e));
      assert.equal(e.message, `shard ${store.url}/${key}: ${message}`);
      assert.equal(e.file, `${store.url}/${key}`);
      assert.equal(e.field, /`(\w+)`/.exec(message)![1]);
      // one read: the footer (these files are smaller than its 64 KiB)
      assert.equal(reads.length, 1, JSON.stringify(reads));
    });
  }

  it('refuses list<string> and list<list<int64>> written by arrow-rs, and names the other columns when one is missing', async () => {
    const strings = new arrow.List(new arrow.Field('element', new arrow.Utf8(), true));
    writeArrowParquet(join(tmp.dir, 'types/arrow-strings.parquet'), { doc_id: vectorOf(new arrow.Utf8(), ['a', 'b']), embedding: vectorOf(strings, [['-0.17173101', '0.5'], ['1', '2']]) });
    const ints = new arrow.List(new arrow.Field('element', new arrow.List(new arrow.Field('element', new arrow.Int64(), true)), true));
    writeArrowParquet(join(tmp.dir, 'types/arrow-ints.parquet'), { doc_id: vectorOf(new arrow.Int64(), [1n, 2n]), embedding: vectorOf(ints, [[[1n, 2n]], [[3n, 4n]]]) });
    const store = new LocalStore(tmp.dir);
    const columns = { id: 'doc_id', embeddings: 'embedding' };
    await assert.rejects(readShard(store, 'types/arrow-strings.parquet', { columns }), { message: `shard ${store.url}/types/arrow-strings.parquet: column \`embedding\` is list<string>, expected ${EMB}` });
    await assert.rejects(readShard(store, 'types/arrow-ints.parquet', { columns }), { message: `shard ${store.url}/types/arrow-ints.parquet: column \`embedding\` is list<list<int64>>, expected ${EMB}` });
    await assert.rejects(readShard(store, 'types/arrow-ints.parquet'), { message: `shard ${store.url}/types/arrow-ints.parquet: no column \`id\` (columns: doc_id, embedding)` });
  });

  it('takes every supported type: int8…uint64 or string ids, any integer n_tokens, float or double lists, arrays and blobs', async () => {
    const store = new LocalStore(tmp.dir);
    const cases: [string, string][] = [
      ['tinyint ids, double lists, bigint counts', `SELECT i::TINYINT AS id, 2::BIGINT AS n_tokens, list_transform(range(8), x -> x / 8.0) AS embeddings`],
      ['ubigint ids, fixed arrays', `SELECT i::UBIGINT AS id, [${FLOATS}::FLOAT[8], ${FLOATS}::FLOAT[8]] AS embeddings`],
      ['usmallint ids, list of double lists, utinyint counts', `SELECT i::USMALLINT AS id, 2::UTINYINT AS n_tokens, [list_transform(range(4), x -> x / 8.0), list_transform(range(4), x -> x / 4.0)] AS embeddings`],
      ['string ids, blobs', `SELECT 'd' || i AS id, 1 AS n_tokens, '\\x00\\x00\\x80\\x3f\\x00\\x00\\x00\\x40'::BLOB AS embeddings`],
    ];
    for (const [what, select] of cases) {
      const key = `types/ok-${what.replace(/\W+/g, '-')}.parquet`;
      await writeQuery(join(tmp.dir, key), `${select} FROM range(20) r(i)`);
      const data = await readShard(store, key);
      assert.equal(data.counts.length, 20, what);
      assert.ok(data.counts.every((c) => c === data.counts[0]), what);
    }
    const blob = await readShard(store, 'types/ok-string-ids-blobs.parquet');
    assert.equal(blob.dim, 2);
    assert.deepEqual(Array.from(blob.vectors.subarray(0, 2)), [1, 2]);
  });
});
