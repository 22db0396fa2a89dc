/**
 * The load stage: Parquet shard -> token store in the object store, skipped when the source is
 * unchanged, redone when it changes; streamed row group by row group into the bytes TokenStore.write
 * gives for readShard's arrays; a bad shard fails with readShard's error and writes nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { writeCorpusParquet } from '../../src/data/write-corpus-parquet.js';
import { InputDataError } from '../../src/errors.js';
import { setLogLevel } from '../../src/log.js';
import { TokenStore } from '../../src/native/token-store.js';
import { readShard, type ReadShardOptions } from '../../src/parquet/read-shard.js';
import { loadShard, type LoadShardOptions } from '../../src/pipeline/load-shard.js';
import { shardId } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
import { writeArrowFixture } from '../helpers/arrow-parquet.js';
import { fixtureValue, writeFixture } from '../helpers/parquet-fixtures.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('warn');
const tmp = makeTmpDir();
after(tmp.cleanup);
const store = new LocalStore(tmp.dir);
mkdirSync(join(tmp.dir, 'sources'), { recursive: true });

describe('loadShard', () => {
  it('writes the token store once and reloads only when the source changes', async () => {
    await writeFixture(join(tmp.dir, 'sources/part-0.parquet'), { rows: 200, dim: 8, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
    const a = await loadShard(store, 'sources/part-0.parquet');
    assert.equal(a.loaded, true);
    assert.equal(a.docs, 200);
    assert.equal(a.dim, 8);
    assert.match(a.tokensKey, new RegExp(`^shards/${shardId('sources/part-0.parquet')}/[0-9a-f]{16}/tokens\\.lts$`));
    const ts = await TokenStore.open(join(tmp.dir, a.tokensKey));
    try {
      assert.equal(ts.nDocs, 200);
      assert.equal(ts.docTokens(0)[0], fixtureValue(0, 0));
      assert.equal((await ts.ids() as BigInt64Array)[199], 199n);
    } finally {
      ts.close();
    }
    const b = await loadShard(store, 'sources/part-0.parquet');
    assert.equal(b.loaded, false);
    await new Promise((r) => setTimeout(r, 20)); // a new mtime for the rewritten source
    await writeFixture(join(tmp.dir, 'sources/part-0.parquet'), { rows: 150, dim: 8, layout: 'flat', codec: 'zstd', rowGroupSize: 2048 });
    const c = await loadShard(store, 'sources/part-0.parquet');
    assert.equal(c.loaded, true);
    assert.equal(c.docs, 150);
    assert.notEqual(c.tokensKey, a.tokensKey, 'a changed source gets a new token store key');
    assert.ok(await store.head(a.tokensKey), 'the earlier token store is kept for published versions');
  });

  it('fails a bad shard with its row and writes nothing for it', async () => {
    await writeFixture(join(tmp.dir, 'sources/bad.parquet'), { rows: 10, dim: 8, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, extraSql: "UNION ALL SELECT 3, 'x', 1, list_transform(range(8), x -> 0.0::FLOAT)" });
    await assert.rejects(loadShard(store, 'sources/bad.parquet'), (e: Error) => e instanceof InputDataError && (e as InputDataError).row === 10);
    const id = shardId('sources/bad.parquet');
    assert.deepEqual(await store.list(`shards/${id}/`), []);
  });

  it('streams row groups into the bytes TokenStore.write gives for the whole shard read at once', async () => {
    writeArrowFixture(join(tmp.dir, 'sources/flat.parquet'), { rows: 3000, dim: 16, layout: 'flat', rowGroupSize: 128 });
    writeArrowFixture(join(tmp.dir, 'sources/nested.parquet'), { rows: 1000, dim: 12, layout: 'nested', rowGroupSize: 50 });
    const corpus = generateCorpus({ docs: 300, queries: 1, dim: 32, seed: 5, minTokens: 1, maxTokens: 20 });
    const [half] = await writeCorpusParquet(store, 'sources/', corpus, 1, { stem: 'half', dtype: 'float16', rowGroupSize: 7 });
    const cases: [string, LoadShardOptions][] = [
      ['sources/flat.parquet', { columns: { id: 'doc_id', embeddings: 'embedding' } }],
      ['sources/nested.parquet', { columns: { id: 'doc_id', embeddings: 'embedding' }, dtype: 'float16' }],
      [half!, { dtype: 'float16' }],
      [half!, { dtype: 'float32' }],
    ];
    for (const [key, options] of cases) {
      const loaded = await loadShard(store, key, options);
      const data = await readShard(store, key, options);
      assert.ok(data.rowGroups >= 10, `${key}: ${data.rowGroups} row groups`);
      const whole = join(tmp.dir, 'whole.lts');
      await TokenStore.write(whole, { ...data, dtype: options.dtype ?? 'float32' });
      assert.ok(readFileSync(join(tmp.dir, loaded.tokensKey)).equals(readFileSync(whole)), `${key} ${options.dtype ?? 'float32'}: the streamed store differs`);
      assert.deepEqual([loaded.docs, loaded.tokens, loaded.dim], [data.counts.length, data.vectors.length / data.dim, data.dim]);
    }
  });

  it("fails with readShard's error (same message, row and field) however far into the shard, and leaves nothing", async () => {
    const bad: [string, string, ReadShardOptions?][] = [
      ['dup-far', "UNION ALL SELECT 5, 'x', 1, list_transform(range(8), x -> 0.0::FLOAT)"],
      ['nan-far', "UNION ALL SELECT 9999, 'x', 1, ['nan'::FLOAT] || list_transform(range(7), x -> 0.0::FLOAT)"],
      ['count-far', "UNION ALL SELECT 9999, 'x', 2, list_transform(range(8), x -> 0.0::FLOAT)"],
      ['empty-far', "UNION ALL SELECT 9999, 'x', 1, []::FLOAT[]"],
      ['dim-given', '', { dim: 16 }],
    ];
    for (const [name, extraSql, options] of bad) {
      const key = `sources/${name}.parquet`;
      // DuckDB's row groups hold 2048 rows: the bad row is in the third
      await writeFixture(join(tmp.dir, key), { rows: 5000, dim: 8, layout: 'flat', codec: 'zstd', rowGroupSize: 2048, extraSql });
      const want = await readShard(store, key, options).then(() => assert.fail(`${key} read`), (e: unknown) => e as InputDataError);
      const got = await loadShard(store, key, options).then(() => assert.fail(`${key} loaded`), (e: unknown) => e as InputDataError);
      assert.ok(got instanceof InputDataError, String(got));
      assert.deepEqual([got.message, got.file, got.row, got.field], [want.message, want.file, want.row, want.field], name);
      assert.deepEqual(await store.list(`shards/${shardId(key)}/`), [], name);
    }
    // a value float16 cannot hold fails when the group holding it is written, naming the document
    await writeFixture(join(tmp.dir, 'sources/big.parquet'), { rows: 5000, dim: 8, layout: 'flat', codec: 'zstd', rowGroupSize: 2048, extraSql: "UNION ALL SELECT 9999, 'x', 1, [70000.0::FLOAT] || list_transform(range(7), x -> 0.0::FLOAT)" });
    const e = await loadShard(store, 'sources/big.parquet', { dtype: 'float16' }).then(() => assert.fail('loaded'), (err: unknown) => err as InputDataError);
    assert.ok(e instanceof InputDataError, String(e));
    assert.deepEqual([e.row, e.field], [5000, 'vectors']);
    assert.match(e.message, /doc 5000 \(id 9999\), token 0, component 0: value 70000\.000000 is not representable in float16$/);
  });
});
