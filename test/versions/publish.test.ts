/** Publishing: immutable versions, manifests with hashes, the current pointer, rollback, verification. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { CorruptFileError, InvalidArgumentError, VersionConflictError } from '../../src/errors.js';
import { currentVersion } from '../../src/versions/current.js';
import { listVersions, verifyVersion } from '../../src/versions/manifest.js';
import { publishVersion, rollback } from '../../src/versions/publish.js';
import { keys } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const store = new LocalStore(tmp.dir);

async function stage(version: string): Promise<Parameters<typeof publishVersion>[2]> {
  await store.put(keys.model(version), Buffer.from(`model ${version}`));
  await store.put(keys.weights(version, 's1'), Buffer.from(`W ${version}`));
  await store.put(keys.index(version, 's1'), Buffer.from(`index ${version}`));
  await store.put('shards/s1/t/tokens.lts', Buffer.from('tokens'));
  return {
    operation: 'build',
    modelKey: keys.model(version),
    config: { hidden: 8 },
    lineage: { trainedIn: version, trainedDocs: 3, addedSinceTraining: 0 },
    shards: [{ shardId: 's1', sourceKey: 'sources/a.parquet', docs: 3, tokens: 9, tokensKey: 'shards/s1/t/tokens.lts', weightsKey: keys.weights(version, 's1'), indexKey: keys.index(version, 's1'), deleted: 0 }],
  };
}

describe('publishVersion', () => {
  it('publishes, moves current, lists, rolls back and verifies', async () => {
    assert.equal(await currentVersion(store), undefined);
    const m1 = await publishVersion(store, 'v1', await stage('v1'));
    assert.equal(m1.docs, 3);
    assert.equal(m1.artifacts.length, 4);
    assert.match(m1.artifacts[0]!.sha256, /^[0-9a-f]{64}$/);
    assert.equal(await currentVersion(store), 'v1');
    await new Promise((r) => setTimeout(r, 5));
    await publishVersion(store, 'v2', await stage('v2'));
    assert.equal(await currentVersion(store), 'v2');
    assert.deepEqual((await listVersions(store)).map((v) => [v.version, v.current]), [['v1', false], ['v2', true]]);
    assert.equal(await rollback(store), 'v1');
    assert.equal(await currentVersion(store), 'v1');
    await assert.rejects(rollback(store), InvalidArgumentError, 'nothing before v1');
    assert.equal(await rollback(store, 'v2'), 'v2');
  });

  it('refuses to publish a version name twice, or with a missing artifact, and leaves current alone', async () => {
    await assert.rejects(publishVersion(store, 'v2', { ...(await stage('v2')), operation: 'ingest' }), /immutable/);
    const input = await stage('v3');
    input.shards[0]!.deletedKey = keys.deleted('v3', 's1');
    input.shards[0]!.deleted = 1;
    await assert.rejects(publishVersion(store, 'v3', input), /does not exist/);
    assert.equal(await store.head(keys.manifest('v3')), undefined);
    assert.equal(await currentVersion(store), 'v2');
  });

  it('finishes a publish that ran again after dying between the manifest and the pointer', async () => {
    const input = { ...(await stage('v4')), base: 'v2' };
    await publishVersion(store, 'v4', input, { promote: false, expectCurrent: 'v2' }); // the first attempt, "killed" before the move
    assert.equal(await currentVersion(store), 'v2');
    await assert.rejects(publishVersion(store, 'v4', input, { expectCurrent: 'v1' }), VersionConflictError);
    const again = await publishVersion(store, 'v4', input, { expectCurrent: 'v2' });
    assert.equal(again.version, 'v4');
    assert.equal(await currentVersion(store), 'v4');
    assert.equal((await publishVersion(store, 'v4', input, { expectCurrent: 'v2' })).version, 'v4', 'a third run changes nothing');
    await rollback(store, 'v2');
  });

  it('lets exactly one of two writers derived from the same base move current', async () => {
    assert.equal(await currentVersion(store), 'v2');
    const results = await Promise.allSettled(['v5', 'v6'].map(async (v) => publishVersion(store, v, { ...(await stage(v)), base: 'v2' }, { expectCurrent: 'v2' })));
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(lost.reason instanceof VersionConflictError, String(lost.reason));
    const won = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ version: string }>).value.version;
    assert.equal(await currentVersion(store), won);
    await rollback(store, 'v2');
  });

  it('detects an artifact changed after publishing', async () => {
    writeFileSync(join(tmp.dir, keys.weights('v1', 's1')), 'tampered');
    await assert.rejects(verifyVersion(store, 'v1'), (e: Error) => e instanceof CorruptFileError && /W\.f32 differs/.test(e.message));
    await assert.rejects(rollback(store, 'v1'), CorruptFileError);
    assert.equal(await currentVersion(store), 'v2');
  });
});
