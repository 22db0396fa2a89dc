/**
 * validateSources: every problem of a file (up to a limit, then counted), the scan going on past
 * bad rows and corrupt row groups, one dim across files, each file read once and no token data
 * kept; on files written by DuckDB and arrow-rs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { validateShard, validateSources, validationLines } from '../../src/parquet/validate-sources.js';
import { LocalStore } from '../../src/store/local-store.js';
import { arrow, vectorOf, writeArrowFixture, writeArrowParquet } from '../helpers/arrow-parquet.js';
import { corruptColumnChunk, writeFixture } from '../helpers/parquet-fixtures.js';
import { spyStore } from '../helpers/spy-store.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const store = new LocalStore(tmp.dir);
for (const d of ['bad', 'dims', 'big']) mkdirSync(join(tmp.dir, d), { recursive: true });
const userColumns = { id: 'doc_id', embeddings: 'embedding' };

describe('validateShard', () => {
  it('lists the first problems of a file in file order, counts the rest, and counts the good rows', async () => {
    // 3000 good rows (dim 8, 1-3 tokens), then six bad ones spread over the last row group
    const bad = [
      "SELECT 3000, 'x', 1, ['nan'::FLOAT] || list_transform(range(7), x -> 0.0::FLOAT)",
      "SELECT 3001, 'x', 1, []::FLOAT[]",
      "SELECT 5, 'x', 1, list_transform(range(8), x -> 0.0::FLOAT)",
      "SELECT 3003, 'x', 2, list_transform(range(8), x -> 0.0::FLOAT)",
      "SELECT 3004, 'x', 1, list_transform(range(8), x -> 'inf'::FLOAT)",
      "SELECT 3005, 'x', 1, list_transform(range(12), x -> 0.0::FLOAT)",
    ];
    await writeFixture(join(tmp.dir, 'bad/many.parquet'), { rows: 3000, dim: 8, layout: 'flat', codec: 'zstd', rowGroupSize: 1024, extraSql: bad.map((b) => `UNION ALL ${b}`).join(' ') });
    const f = await validateShard(store, 'bad/many.parquet', { maxProblems: 4 });
    assert.equal(f.ok, false);
    assert.equal(f.rows, 3006);
    assert.equal(f.docs, 3000);
    assert.deepEqual(
      f.problems.map((p) => [p.row, p.field, p.message]),
      [
        [3000, 'embeddings', 'row 3000, field `embeddings`: token 0, component 0: value NaN is not a finite number'],
        [3001, 'embeddings', 'row 3001, field `embeddings`: empty document (no token vectors)'],
        [3002, 'id', 'row 3002, field `id`: duplicate id 5 (first at row 5)'],
        [3003, 'n_tokens', 'row 3003, field `n_tokens`: says 2 tokens, the embeddings hold 1'],
      ],
    );
    assert.equal(f.moreProblems, 2);
    const lines = validationLines({ ok: false, files: [f], filesOk: 0, filesBad: 1, rows: f.rows, docs: f.docs, tokens: f.tokens, bytes: f.bytes, seconds: 1, dim: 8 });
    assert.equal(lines[0], 'bad  bad/many.parquet: row 3000, field `embeddings`: token 0, component 0: value NaN is not a finite number');
    assert.equal(lines[4], 'bad  bad/many.parquet: and 2 more problems');
    assert.match(lines[5]!, /^1 file: 0 ok, 1 bad; docs=3000 \(of 3006 rows\) tokens=\d+ dim=8; [\d.]+ MB in 1\.00 s \([\d.]+ MB\/s\)$/);
  });

  it('names every null and empty document, token and value of arrow-rs lists', async () => {
    const floats = new arrow.List(new arrow.Field('element', new arrow.Float32(), true));
    const tokens = new arrow.List(new arrow.Field('element', floats, true));
    const emb = [[[1, 2], [3, 4]], [[1, 2], null], null, [], [[1, 2], []], [[1, null]], [[1, 2], [3]], [[5, 6]]];
    // V1 and V2 data pages store levels differently: both must give the same rows
    for (const pageVersion of [1, 2] as const) {
      writeArrowParquet(join(tmp.dir, 'bad/nulls.parquet'), { doc_id: vectorOf(new arrow.Int64(), emb.map((_, i) => BigInt(i))), embedding: vectorOf(tokens, emb) }, { pageVersion });
      const f = await validateShard(store, 'bad/nulls.parquet', { columns: userColumns });
      assert.deepEqual(
        f.problems.map((p) => p.message),
        [
          'row 1, field `embedding`: token 1 is null',
          'row 2, field `embedding`: no embeddings (null)',
          'row 3, field `embedding`: empty document (no token vectors)',
          'row 4, field `embedding`: token 1 is empty',
          'row 5, field `embedding`: token 0, component 1: value null is not a finite number',
          'row 6, field `embedding`: token 1 has 1 values, expected 2',
        ],
        `pages V${pageVersion}`,
      );
      assert.equal(f.docs, 2);
    }
    const flat = new arrow.List(new arrow.Field('element', new arrow.Float32(), true));
    writeArrowParquet(join(tmp.dir, 'bad/flat-nulls.parquet'), { doc_id: vectorOf(new arrow.Utf8(), ['a', null, 'c']), embedding: vectorOf(flat, [[1, 2], [3, 4], [5, null]]), n_tokens: vectorOf(new arrow.Int32(), [1, 1, null]) });
    const g = await validateShard(store, 'bad/flat-nulls.parquet', { columns: userColumns });
    assert.deepEqual(g.problems.map((p) => p.message), ['row 1, field `doc_id`: missing id', 'row 2, field `n_tokens`: null is not a positive token count']);
  });

  it('goes on past a corrupt row group: one problem for it, the other groups checked', async () => {
    writeArrowFixture(join(tmp.dir, 'bad/corrupt.parquet'), { rows: 2000, dim: 16, layout: 'fixed', rowGroupSize: 500 });
    corruptColumnChunk(join(tmp.dir, 'bad/corrupt.parquet'), 2, 'embedding');
    const f = await validateShard(store, 'bad/corrupt.parquet', { columns: userColumns });
    assert.equal(f.problems.length, 1);
    assert.match(f.problems[0]!.message, /^row group 2 \(rows 1000-1499\), column `embedding`: corrupt page \d+ \(from row \d+\): /);
    assert.equal(f.docs, 1500);
    assert.equal(f.rowGroups, 4);
  });

  it('reads the file once and keeps no token data', async () => {
    writeArrowFixture(join(tmp.dir, 'big/a.parquet'), { rows: 6000, dim: 64, layout: 'flat', rowGroupSize: 500 });
    const size = statSync(join(tmp.dir, 'big/a.parquet')).size;
    const spy = spyStore(store);
    const f = await validateShard(spy.store, 'big/a.parquet', { columns: userColumns });
    const read = spy.reads.reduce((sum, [, s, e]) => sum + e - s, 0);
    // after the footer, one read per row group
    assert.equal(spy.reads.length, 1 + f.rowGroups);
    const largest = Math.max(...spy.reads.slice(1).map(([, s, e]) => e - s));
    assert.equal(f.ok, true, JSON.stringify(f.problems));
    assert.equal(f.docs, 6000);
    // the footer's 64 KiB tail overlaps the last row group; nothing else is read twice
    assert.ok(read <= size + (1 << 16), `${read} bytes read of ${size}`);
    assert.ok(largest < (2 * size) / f.rowGroups, `largest read ${largest} of ${size}`);
  });
});

describe('validateSources', () => {
  it('requires one dim across files and names both dims and the file that differs', async () => {
    await writeFixture(join(tmp.dir, 'dims/a.parquet'), { rows: 100, dim: 16, layout: 'nested', codec: 'snappy', rowGroupSize: 2048 });
    await writeFixture(join(tmp.dir, 'dims/b.parquet'), { rows: 100, dim: 8, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
    writeArrowFixture(join(tmp.dir, 'dims/c.parquet'), { rows: 100, dim: 16, layout: 'fixed' });
    const columns = { id: 'doc_id', embeddings: 'embedding' };
    // c uses the user's column names, a and b the defaults: validate them in two calls, then all three with explicit dims
    const r = await validateSources(store, ['dims/a.parquet', 'dims/b.parquet'], {});
    // two files, one dim each: the first one's wins a tie
    assert.equal(r.dim, 16);
    assert.deepEqual(r.files.map((f) => f.ok), [true, false]);
    assert.deepEqual(r.files[1]!.problems, [{ field: 'embeddings', message: "dim 8 differs from the other files' dim 16 (e.g. dims/a.parquet)" }]);
    assert.equal(r.ok, false);
    assert.equal(r.filesBad, 1);
    assert.equal(r.docs, 200);
    const c = await validateSources(store, ['dims/c.parquet'], { columns });
    assert.equal(c.ok, true);
    assert.equal(c.dim, 16);
    // with a given dim, each row is checked against it instead
    const given = await validateSources(store, ['dims/a.parquet', 'dims/b.parquet'], { dim: 8 });
    assert.deepEqual(given.files.map((f) => f.ok), [false, true]);
    assert.match(given.files[0]!.problems[0]!.message, /^row 0, field `embeddings`: token 0 has 16 values, expected 8$/);
  });

  it('takes the dim most files have', async () => {
    await writeFixture(join(tmp.dir, 'dims/d.parquet'), { rows: 50, dim: 16, layout: 'flat', codec: 'zstd', rowGroupSize: 2048 });
    const r = await validateSources(store, ['dims/b.parquet', 'dims/a.parquet', 'dims/d.parquet'], {});
    assert.equal(r.dim, 16);
    assert.deepEqual(r.files.map((f) => [f.key, f.ok]), [['dims/b.parquet', false], ['dims/a.parquet', true], ['dims/d.parquet', true]]);
  });
});
