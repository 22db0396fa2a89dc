/**
 * The load stage: Parquet shard -> token store in the object store, skipped when the source is
 * unchanged, redone when it changes; a bad shard writes nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { InputDataError } from '../../src/errors.js';
import { setLogLevel } from '../../src/log.js';
import { TokenStore } from '../../src/native/token-store.js';
import { loadShard } from '../../src/pipeline/load-shard.js';
import { shardId } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
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
});
