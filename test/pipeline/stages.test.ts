/**
 * The build stages in one process over a local store: load two Parquet shards, train on both,
 * weight and index each, publish; the published version moves `current` and verifies, and the
 * W rows the index jobs read are gone (the index holds them).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { currentVersion } from '../../src/versions/current.js';
import { verifyVersion } from '../../src/versions/manifest.js';
import { setLogLevel } from '../../src/log.js';
import { loadShard } from '../../src/pipeline/load-shard.js';
import { publishBuild } from '../../src/pipeline/publish-stage.js';
import { indexStage, trainStage, weightsStage } from '../../src/pipeline/stages.js';
import { keys } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { weightObjects } from '../helpers/weight-objects.js';

setLogLevel('warn');
const tmp = makeTmpDir();
after(tmp.cleanup);
const store = new LocalStore(tmp.dir);

describe('build stages', () => {
  it('load -> train -> weights -> index -> publish', async () => {
    mkdirSync(join(tmp.dir, 'sources'), { recursive: true });
    await writeFixture(join(tmp.dir, 'sources/a.parquet'), { rows: 300, dim: 16, layout: 'nested', codec: 'zstd', rowGroupSize: 2048 });
    await writeFixture(join(tmp.dir, 'sources/b.parquet'), { rows: 200, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
    const shards = [await loadShard(store, 'sources/a.parquet'), await loadShard(store, 'sources/b.parquet')];
    await trainStage(store, 'v1', shards, { mPrime: 128, nLearn: 3000, olsSamples: 256, hidden: 64, epochs: 2, seed: 1 });
    const built = [];
    for (const s of shards) {
      const w = await weightsStage(store, 'v1', keys.model('v1'), s);
      assert.equal((await store.head(w.weightsKey))!.size, s.docs * 64 * 4);
      const first = await indexStage(store, 'v1', w);
      const bytes = await store.get(first.indexKey);
      // an index job retried before the publish reads the same W rows and writes the same bytes
      built.push(await indexStage(store, 'v1', w));
      assert.ok((await store.get(first.indexKey)).equals(bytes));
    }
    const manifest = await publishBuild(store, { version: 'v1', modelKey: keys.model('v1') }, built);
    assert.equal(manifest.docs, 500);
    assert.equal(manifest.artifacts.length, 1 + 2 * 2, 'model, and per shard its token store and index');
    assert.ok(manifest.shards.every((s) => s.weightsKey === undefined));
    assert.deepEqual(await weightObjects(store, 'v1'), [], 'no W.f32 left under the version');
    assert.equal(await currentVersion(store), 'v1');
    await verifyVersion(store, 'v1');
    // a retried publish job (its first attempt got through) finishes without error or change
    const again = await publishBuild(store, { version: 'v1', modelKey: keys.model('v1') }, built);
    assert.deepEqual(again, manifest);
    assert.equal(await currentVersion(store), 'v1');
  });
});
