/**
 * A whole build through real workers on a real Redis: two shards are loaded, trained on,
 * weighted, indexed and published; a build with bad shards (a duplicate id, NaN, a shard of
 * another dim) publishes nothing new, loads every shard, and its train job names every bad
 * shard at once with file, row and field.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Queue, type Worker } from 'bullmq';

import { currentVersion } from '../../src/versions/current.js';
import { verifyVersion } from '../../src/versions/manifest.js';
import { setLogLevel } from '../../src/log.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { buildProgress, progressLine } from '../../src/queue/build-progress.js';
import { redisConnection } from '../../src/queue/connection.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../../src/queue/queues.js';
import { keys } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { startTestRedis } from '../helpers/redis.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { weightObjects } from '../helpers/weight-objects.js';

setLogLevel('error');
const tmp = makeTmpDir();
const store = new LocalStore(tmp.dir);
let redis: Awaited<ReturnType<typeof startTestRedis>>;
let workers: Worker[] = [];
const fit = { mPrime: 128, nLearn: 3000, olsSamples: 256, hidden: 64, epochs: 2, seed: 1 };

before(async () => {
  mkdirSync(join(tmp.dir, 'sources'), { recursive: true });
  await writeFixture(join(tmp.dir, 'sources/a.parquet'), { rows: 300, dim: 16, layout: 'nested', codec: 'zstd', rowGroupSize: 2048 });
  await writeFixture(join(tmp.dir, 'sources/b.parquet'), { rows: 200, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
  await writeFixture(join(tmp.dir, 'sources/bad.parquet'), { rows: 20, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, extraSql: "UNION ALL SELECT 7, 'x', 1, list_transform(range(16), x -> 0.0::FLOAT)" });
  await writeFixture(join(tmp.dir, 'sources/nan.parquet'), { rows: 20, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, extraSql: "UNION ALL SELECT 900, 'y', 1, list_transform(range(16), x -> 'nan'::FLOAT)" });
  await writeFixture(join(tmp.dir, 'sources/d12.parquet'), { rows: 30, dim: 12, layout: 'nested', codec: 'zstd', rowGroupSize: 2048 });
  redis = await startTestRedis();
  workers = startRoles(Object.keys(ROLES) as Role[], store, { redisUrl: redis.url, prefix: redis.prefix });
});
after(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await redis?.stop();
  tmp.cleanup();
});

/** Waits until a job with this id exists in the queue and has finished. */
function finished(queueName: string, id: string, timeoutMs = 60_000): Promise<unknown> {
  return waitForJob({ redisUrl: redis.url, prefix: redis.prefix }, queueName, id, timeoutMs);
}

describe('a build through the queues', () => {
  it('publishes a version from two shards', async () => {
    await submitBuild({ redisUrl: redis.url, prefix: redis.prefix }, { version: 'v1', sources: ['sources/a.parquet', 'sources/b.parquet'], fit });
    const r = (await finished(QUEUES.publish, jobIds.publish('v1'))) as { version: string; docs: number };
    assert.deepEqual(r, { version: 'v1', docs: 500, promoted: true });
    assert.equal(await currentVersion(store), 'v1');
    const m = await verifyVersion(store, 'v1');
    assert.ok(m.artifacts.every((a) => !a.key.endsWith('W.f32')) && m.shards.every((s) => s.weightsKey === undefined), 'the manifest lists no W');
    assert.deepEqual(await weightObjects(store, 'v1'), [], 'the W rows the index jobs read are deleted at publish');
    const p = await buildProgress({ redisUrl: redis.url, prefix: redis.prefix }, 'v1');
    assert.equal(p?.done, true);
    assert.equal(p?.failed, false);
    assert.deepEqual(p?.shards.map((s) => [s.load, s.weights, s.index]), [['completed', 'completed', 'completed'], ['completed', 'completed', 'completed']]);
    assert.equal(progressLine(p!), 'build v1: load 2/2 | targets done | train done (epoch 2/2 loss ' + p!.stages[2]!.detail!.split('loss ')[1] + ') | weights 500/500 docs | index 500/500 docs | publish done');
    assert.deepEqual(p!.stages.map((s) => [s.stage, s.state]), [['load', 'done'], ['targets', 'done'], ['train', 'done'], ['weights', 'done'], ['index', 'done'], ['publish', 'done']]);
  });

  it('publishes nothing from a build with bad shards, and names every one', async () => {
    const sources = ['sources/a.parquet', 'sources/b.parquet', 'sources/bad.parquet', 'sources/nan.parquet', 'sources/d12.parquet'];
    await submitBuild({ redisUrl: redis.url, prefix: redis.prefix }, { version: 'v2', sources, fit });
    const err = await finished(QUEUES.train, jobIds.train('v2')).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'the train job fails');
    const lines = err.message.split('\n');
    assert.match(lines[0]!, /build v2: 3 of 5 shards failed, nothing was published:/);
    assert.equal(lines.length, 4, err.message);
    assert.match(lines[1]!, /bad\.parquet: row 20, field `id`: duplicate id 7/);
    assert.match(lines[2]!, /sources\/d12\.parquet: token vectors have dim 12, 2 other shards \(e\.g\. sources\/a\.parquet\) have dim 16/);
    assert.match(lines[3]!, /nan\.parquet: row 20, field `embeddings`: .*NaN/);
    const q = new Queue(QUEUES.load, { connection: redisConnection(redis.url), prefix: redis.prefix });
    try {
      const bad = await q.getJob(jobIds.load('v2', 'sources/bad.parquet'));
      assert.equal(await bad?.getState(), 'failed');
      assert.match(bad?.failedReason ?? '', /bad\.parquet: row 20, field `id`: duplicate id 7/);
      assert.equal(bad?.attemptsMade, 1);
    } finally {
      await q.close();
    }
    assert.equal(await store.head(keys.manifest('v2')), undefined);
    assert.equal(await currentVersion(store), 'v1');
    const p = await buildProgress({ redisUrl: redis.url, prefix: redis.prefix }, 'v2');
    assert.equal(p?.failed, true);
    assert.match(p?.failure ?? '', /^build v2: 3 of 5 shards failed, nothing was published:\n/);
    assert.deepEqual(p?.stages.map((s) => [s.stage, s.state]).slice(0, 2), [['load', 'failed'], ['targets', 'failed']]);
    const badShard = p?.shards.find((s) => s.source === 'sources/bad.parquet');
    assert.equal(badShard?.load, 'failed');
    assert.match(badShard?.error ?? '', /row 20/);
  });
});
