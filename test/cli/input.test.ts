/**
 * Input a user actually has, through the real CLI with embedded defaults: shards written by
 * DuckDB with their own column names (doc_id, embedding), mapped on the command line and
 * remembered in the manifest for an ingest; dims checked against the model for ingest and query;
 * names checked before any work; a build with bad shards fails with every reason in its last line;
 * float16 blobs read with --embeddings-dtype, remembered for an ingest like the column names.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { cliRunner } from '../helpers/cli.js';
import { encodeHalves } from '../../src/parquet/float16.js';
import { writeBlobFixture, writeFixture } from '../helpers/parquet-fixtures.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const lemur = cliRunner(tmp.dir);
const SMALL = ['--epochs', '2', '--m-prime', '128', '--n-learn', '3000', '--hidden', '64'];
const names = { id: 'doc_id', embeddings: 'embedding' };

/** The messages of the JSON log lines at level error (stderr is not a terminal here). */
function errors(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string })
    .filter((l) => l.level === 'error')
    .map((l) => l.msg);
}

before(async () => {
  for (const d of ['duck', 'incoming', 'wide', 'mixed', 'badingest']) mkdirSync(join(tmp.dir, d), { recursive: true });
  await writeFixture(join(tmp.dir, 'duck/a.parquet'), { rows: 300, dim: 16, layout: 'nested', codec: 'zstd', rowGroupSize: 100, names });
  await writeFixture(join(tmp.dir, 'duck/b.parquet'), { rows: 200, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, names, firstRow: 300 });
  await writeFixture(join(tmp.dir, 'incoming/c.parquet'), { rows: 50, dim: 16, layout: 'nested', codec: 'zstd', rowGroupSize: 2048, names, firstRow: 1000 });
  await writeFixture(join(tmp.dir, 'wide/d12.parquet'), { rows: 40, dim: 12, layout: 'nested', codec: 'zstd', rowGroupSize: 2048, names, firstRow: 2000 });
  await writeFixture(join(tmp.dir, 'badingest/d12.parquet'), { rows: 40, dim: 12, layout: 'nested', codec: 'zstd', rowGroupSize: 2048, names, firstRow: 3000 });
  await writeFixture(join(tmp.dir, 'badingest/dup.parquet'), { rows: 20, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, names, firstRow: 4000, extraSql: "UNION ALL SELECT 4007, 'x', 1, list_transform(range(16), x -> 0.0::FLOAT)" });
  await writeFixture(join(tmp.dir, 'badingest/ok.parquet'), { rows: 20, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, names, firstRow: 5000 });
  await writeFixture(join(tmp.dir, 'mixed/good.parquet'), { rows: 100, dim: 16, layout: 'nested', codec: 'zstd', rowGroupSize: 2048 });
  await writeFixture(join(tmp.dir, 'mixed/dup.parquet'), { rows: 20, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, extraSql: "UNION ALL SELECT 7, 'x', 1, list_transform(range(16), x -> 0.0::FLOAT)" });
  await writeFixture(join(tmp.dir, 'mixed/short.parquet'), { rows: 20, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, extraSql: "UNION ALL SELECT 500, 'y', 3, list_transform(range(16), x -> 0.5::FLOAT)" });
});

describe('column mapping, dims and names through the CLI', () => {
  it('checks a version name before any work: nothing is trained or written', () => {
    const t0 = Date.now();
    const r = lemur('build', 'duck/', '--version', '../../evil', ...SMALL);
    assert.equal(r.status, 1, r.stderr);
    assert.match(errors(r.stderr).join('\n'), /version name .* received '\.\.\/\.\.\/evil'/);
    assert.ok(Date.now() - t0 < 10_000, 'refused before training');
    assert.equal(existsSync(join(tmp.dir, 'versions')), false);
    assert.equal(existsSync(join(tmp.dir, 'shards')), false);
    const p = lemur('build', '../outside/', ...SMALL);
    assert.equal(p.status, 1);
    assert.match(errors(p.stderr).join('\n'), /without empty, '\.' or '\.\.' segments/);
  });

  it('names the missing column when the mapping is not given, and the mapping is remembered', () => {
    const bare = lemur('build', 'duck/', '--version', 'v0', ...SMALL);
    assert.equal(bare.status, 1);
    const last = errors(bare.stderr).at(-1)!;
    assert.match(last, /build v0 failed: build v0: 2 of 2 shards failed/);
    assert.match(last, /duck\/a\.parquet: no column `id` \(columns: doc_id, sid, n_tokens, embedding\)/);
    assert.doesNotMatch(last, /child bull:/);

    const r = lemur('build', 'duck/', '--version', 'v1', '--id-column', 'doc_id', '--embeddings-column', 'embedding', '--tokens-column', 'n_tokens', ...SMALL);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { docs: number }).docs, 500);
    const m = JSON.parse(readFileSync(join(tmp.dir, 'versions/v1/manifest.json'), 'utf8')) as { input?: unknown };
    assert.deepEqual(m.input, { columns: { id: 'doc_id', embeddings: 'embedding', nTokens: 'n_tokens' } });

    // an ingest reads its sources the way the build did, unless told otherwise
    const i = lemur('ingest', 'incoming/', '--version', 'v2');
    assert.equal(i.status, 0, i.stderr);
    assert.equal((JSON.parse(i.stdout) as { added: number }).added, 50);
    const m2 = JSON.parse(readFileSync(join(tmp.dir, 'versions/v2/manifest.json'), 'utf8')) as { input?: unknown };
    assert.deepEqual(m2.input, m.input);
  });

  it('refuses an ingest or a query of another dim, naming both dims and the file', () => {
    const i = lemur('ingest', 'wide/', '--version', 'v3');
    assert.equal(i.status, 1);
    const last = errors(i.stderr).at(-1)!;
    assert.match(last, /ingest v3 failed: .*wide\/d12\.parquet: token vectors have dim 12, the model versions\/v1\/model\.lemur has dim 16/s);
    assert.equal(existsSync(join(tmp.dir, 'versions/v3/manifest.json')), false);

    // an ingest with several bad shards names each of them and adds nothing, not even its good shard
    const many = lemur('ingest', 'badingest/', '--version', 'v4');
    assert.equal(many.status, 1);
    const all = errors(many.stderr).at(-1)!;
    assert.match(all, /ingest v4 failed: ingest v4: 2 of 3 shards failed, nothing was published:/);
    assert.match(all, /badingest\/d12\.parquet: token vectors have dim 12/);
    assert.match(all, /badingest\/dup\.parquet: row 20, field `doc_id`: duplicate id 4007/);
    assert.equal(existsSync(join(tmp.dir, 'versions/v4/manifest.json')), false);

    const q = lemur('query', join(tmp.dir, 'wide/d12.parquet'), '--id-column', 'doc_id', '--embeddings-column', 'embedding');
    assert.equal(q.status, 1);
    assert.match(errors(q.stderr).join('\n'), /d12\.parquet: query token vectors have dim 12, the model of version v2 has dim 16/);
    const ok = lemur('query', join(tmp.dir, 'incoming/c.parquet'), '--id-column', 'doc_id', '--embeddings-column', 'embedding', '--k', '3', '--json');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { results: unknown[] }).results.length, 50);
  });

  it('a build with bad shards ends with every reason in its last line, not a job id', () => {
    const r = lemur('build', 'mixed/', '--version', 'm1', ...SMALL);
    assert.equal(r.status, 1);
    const last = errors(r.stderr).at(-1)!;
    assert.match(last, /^build m1 failed: build m1: 2 of 3 shards failed, nothing was published:/);
    assert.match(last, /mixed\/dup\.parquet: row 20, field `id`: duplicate id 7/);
    assert.match(last, /mixed\/short\.parquet: row 20, field `n_tokens`: says 3 tokens, the embeddings hold 1/);
    assert.doesNotMatch(last, /child bull:/);
    assert.equal(existsSync(join(tmp.dir, 'versions/m1/manifest.json')), false);
  });

  it('builds from float16 blobs that only --embeddings-dtype declares, and an ingest reads new ones the same way', async () => {
    /** documents [from, to) of 2 tokens of dim 16, as halves, without the footer entry */
    const halves = async (key: string, from: number, to: number): Promise<void> => {
      const rows = [];
      for (let i = from; i < to; i++) rows.push({ id: `h${i}`, values: encodeHalves(Array.from({ length: 32 }, (_, x) => Math.sin(i * 31 + x * 7))), nTokens: 2 });
      mkdirSync(join(tmp.dir, key, '..'), { recursive: true });
      await writeBlobFixture(join(tmp.dir, key), rows);
    };
    await halves('halfsrc/a.parquet', 0, 400);
    await halves('halfnew/b.parquet', 400, 450);
    const r = lemur('build', 'halfsrc/', '--version', 'h1', '--embeddings-dtype', 'float16', ...SMALL);
    assert.equal(r.status, 0, r.stderr);
    const m = JSON.parse(readFileSync(join(tmp.dir, 'versions/h1/manifest.json'), 'utf8')) as { input?: unknown };
    assert.deepEqual(m.input, { embeddingsDtype: 'float16' });
    const i = lemur('ingest', 'halfnew/', '--version', 'h2');
    assert.equal(i.status, 0, i.stderr);
    assert.equal((JSON.parse(i.stdout) as { added: number }).added, 50);
  });
});
