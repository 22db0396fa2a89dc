/**
 * `lemur validate` through the real CLI on a store folder: a mixed folder of good and bad shards
 * (text report, --json, exit codes), the column-mapping flags, one key and a local path.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { DTYPE_KEY } from '../../src/parquet/embeddings-dtype.js';
import { encodeHalves } from '../../src/parquet/float16.js';
import type { ValidationReport } from '../../src/parquet/validate-sources.js';
import { writeArrowFixture } from '../helpers/arrow-parquet.js';
import { cliRunner } from '../helpers/cli.js';
import { corruptColumnChunk, writeBlobFixture, writeQuery } from '../helpers/parquet-fixtures.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const lemur = cliRunner(tmp.dir);
const MAP = ['--id-column', 'doc_id', '--embeddings-column', 'embedding', '--tokens-column', 'n_tokens'];

/** A DuckDB shard with the user's columns: doc_id, n_tokens, embedding list<float> (2 tokens of dim 16); `emb` replaces the embedding expression. */
function duck(name: string, rows: number, emb = 'list_transform(range(32), x -> ((i * 7 + x) % 100 / 100.0 - 0.5)::FLOAT)', extra = ''): Promise<void> {
  return writeQuery(join(tmp.dir, 'sources', name), `SELECT 'doc-' || i AS doc_id, 2 AS n_tokens, ${emb} AS embedding FROM range(${rows}) r(i) ${extra}`, { rowGroupSize: 2048 });
}

before(async () => {
  for (const d of ['sources', 'good']) mkdirSync(join(tmp.dir, d), { recursive: true });
  await duck('a-good.parquet', 3000);
  writeArrowFixture(join(tmp.dir, 'sources/b-good-arrow.parquet'), { rows: 500, dim: 16, layout: 'fixed' });
  await duck('c-strings.parquet', 20, 'list_transform(range(32), x -> (x / 32.0 - 0.17173101)::VARCHAR)');
  await duck('d-nan.parquet', 50, "list_transform(range(32), x -> CASE WHEN i = 7 AND x = 3 THEN 'nan'::FLOAT ELSE 0.5::FLOAT END)");
  await duck('e-corrupt.parquet', 6000);
  corruptColumnChunk(join(tmp.dir, 'sources/e-corrupt.parquet'), 1, 'embedding');
  await duck('f-dim8.parquet', 40, 'list_transform(range(16), x -> 0.25::FLOAT)');
  await writeQuery(join(tmp.dir, 'good/x.parquet'), "SELECT 'x' || i AS doc_id, 1 AS n_tokens, list_transform(range(16), x -> 0.5::FLOAT) AS embedding FROM range(10) r(i)");
});

describe('lemur validate', () => {
  it('reports a mixed folder: one line per good file, the problems of the bad ones, a summary; exit code 1', () => {
    const r = lemur('validate', 'sources/', ...MAP);
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    process.stdout.write(`# sample report:\n${lines.map((l) => `#   ${l}`).join('\n')}\n`);
    assert.match(lines[0]!, /^ok {3}sources\/a-good\.parquet {2}docs=3000 tokens=6000 dim=16 dtype=float32 [\d.]+ MB [\d.]+ s$/);
    assert.match(lines[1]!, /^ok {3}sources\/b-good-arrow\.parquet {2}docs=500 tokens=999 dim=16 /);
    assert.equal(lines[2], 'bad  sources/c-strings.parquet: column `embedding` is list<string>, expected list<float>, list<list<float>> (float, double or float16) or a float32/float16 blob');
    assert.equal(lines[3], 'bad  sources/d-nan.parquet: row 7, field `embedding`: token 0, component 3: value NaN is not a finite number');
    assert.match(lines[4]!, /^bad {2}sources\/e-corrupt\.parquet: row group 1 \(rows 2048-4095\), column `embedding`: corrupt page \d+ \(from row \d+\): /);
    assert.equal(lines[5], "bad  sources/f-dim8.parquet: dim 8 differs from the other files' dim 16 (e.g. sources/a-good.parquet)");
    assert.match(lines[6]!, /^6 files: 2 ok, 4 bad; docs=7541 \(of 9610 rows\) tokens=15081 dim=16; [\d.]+ MB in [\d.]+ s \([\d.]+ MB\/s\)$/);
    assert.equal(lines.length, 7);
  });

  it('gives one JSON document with --json', () => {
    const r = lemur('validate', 'sources/', ...MAP, '--json');
    assert.equal(r.status, 1, r.stderr);
    const report = JSON.parse(r.stdout) as ValidationReport;
    assert.equal(report.ok, false);
    assert.deepEqual(report.files.map((f) => [f.key, f.ok]), [
      ['sources/a-good.parquet', true],
      ['sources/b-good-arrow.parquet', true],
      ['sources/c-strings.parquet', false],
      ['sources/d-nan.parquet', false],
      ['sources/e-corrupt.parquet', false],
      ['sources/f-dim8.parquet', false],
    ]);
    assert.equal(report.filesBad, 4);
    assert.equal(report.dim, 16);
    const nan = report.files[3]!;
    assert.deepEqual(nan.problems, [{ row: 7, field: 'embedding', message: 'row 7, field `embedding`: token 0, component 3: value NaN is not a finite number' }]);
    assert.equal(nan.docs, 49);
    assert.equal(report.files[4]!.docs, 6000 - 2048);
  });

  it('needs the column mapping for other column names, and exits 0 when every file is good', () => {
    const unmapped = lemur('validate', 'good/');
    assert.equal(unmapped.status, 1);
    assert.match(unmapped.stdout, /^bad {2}good\/x\.parquet: no column `id` \(columns: doc_id, n_tokens, embedding\)$/m);
    const mapped = lemur('validate', 'good/', ...MAP);
    assert.equal(mapped.status, 0, mapped.stdout + mapped.stderr);
    assert.match(mapped.stdout, /^ok {3}good\/x\.parquet {2}docs=10 tokens=10 dim=16 dtype=float32 /);
    assert.match(mapped.stdout, /^1 file: 1 ok, 0 bad; docs=10 tokens=10 dim=16;/m);
    // a given dim is checked on every row
    const dim = lemur('validate', 'good/', ...MAP, '--dim', '8');
    assert.equal(dim.status, 1);
    assert.match(dim.stdout, /row 0, field `n_tokens`: says 1 tokens, the embeddings hold 2/);
  });

  it('takes one key of the store or a local path', () => {
    const key = lemur('validate', 'sources/d-nan.parquet', ...MAP, '--json');
    assert.equal(key.status, 1);
    assert.deepEqual((JSON.parse(key.stdout) as ValidationReport).files.map((f) => f.key), ['sources/d-nan.parquet']);
    const path = join(tmp.dir, 'good');
    const local = lemur('validate', path, ...MAP);
    assert.equal(local.status, 0, local.stderr);
    assert.match(local.stdout, new RegExp(`^ok {3}${path}/x\\.parquet `));
    const none = lemur('validate', 'nothing/');
    assert.equal(none.status, 1);
    assert.match(none.stderr, /no \.parquet objects under 'nothing\/'/);
  });

  it('reports the dtype it read: a footer that declares float16, --embeddings-dtype for a file that does not', async () => {
    mkdirSync(join(tmp.dir, 'half'), { recursive: true });
    const rows = Array.from({ length: 12 }, (_, i) => ({ id: `h${i}`, values: encodeHalves(Array.from({ length: 32 }, (_, x) => (i + x) / 64)), nTokens: 2 }));
    await writeBlobFixture(join(tmp.dir, 'half/a-declared.parquet'), rows, { kv: { [DTYPE_KEY]: 'float16' } });
    await writeBlobFixture(join(tmp.dir, 'half/b-undeclared.parquet'), rows.map((r) => ({ ...r, id: `u${r.id}` })));
    // read as float32, the undeclared file's halves make dim 8: the file is named for its dim
    const bare = lemur('validate', 'half/');
    assert.equal(bare.status, 1);
    assert.match(bare.stdout, /^ok {3}half\/a-declared\.parquet {2}docs=12 tokens=24 dim=16 dtype=float16\(footer\) /m);
    assert.match(bare.stdout, /^bad {2}half\/b-undeclared\.parquet: dim 8 differs from the other files' dim 16/m);
    const told = lemur('validate', 'half/', '--embeddings-dtype', 'float16');
    assert.equal(told.status, 0, told.stdout + told.stderr);
    assert.match(told.stdout, /^ok {3}half\/b-undeclared\.parquet {2}docs=12 tokens=24 dim=16 dtype=float16\(option\) /m);
    const json = JSON.parse(lemur('validate', 'half/', '--json').stdout) as ValidationReport;
    assert.deepEqual(json.files.map((f) => [f.dtype, f.dtypeFrom]), [['float16', 'footer'], ['float32', 'default']]);
    const wrong = lemur('validate', 'half/', '--embeddings-dtype', 'half');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /Expected --embeddings-dtype float16 or float32 but received 'half'/);
  });
});
