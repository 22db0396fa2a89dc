/**
 * A whole build through the queues on the S3 store kind (a real s3rver on loopback): sources,
 * token stores, model, W, index and manifest all live in the bucket; the version verifies and
 * answers queries.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Worker } from 'bullmq';

import { currentVersion } from '../../src/versions/current.js';
import { verifyVersion } from '../../src/versions/manifest.js';
import { setLogLevel } from '../../src/log.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../../src/queue/queues.js';
import { openVersion } from '../../src/query/open-version.js';
import { S3Store } from '../../src/store/s3-store.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { startTestRedis } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { weightObjects } from '../helpers/weight-objects.js';

setLogLevel('error');
const tmp = makeTmpDir();
let s3: S3Server;
let store: S3Store;
let redis: Awaited<ReturnType<typeof startTestRedis>>;
let workers: Worker[] = [];

before(async () => {
  s3 = await startS3('lemur-build');
  store = new S3Store({ bucket: s3.bucket, prefix: 'corpus', endpoint: s3.endpoint, forcePathStyle: true });
  for (const [name, rows] of [['a', 300], ['b', 200]] as const) {
    const path = join(tmp.dir, `${name}.parquet`);
    await writeFixture(path, { rows, dim: 16, layout: 'flat', codec: 'zstd', rowGroupSize: 128 });
    await store.put(`sources/${name}.parquet`, readFileSync(path));
  }
  redis = await startTestRedis();
  workers = startRoles(Object.keys(ROLES) as Role[], store, { redisUrl: redis.url, prefix: redis.prefix });
});
after(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await redis?.stop();
  store?.destroy();
  await s3?.stop();
  tmp.cleanup();
});

describe('a build on S3', () => {
  it('publishes a version whose artifacts all live in the bucket', async () => {
    const target = { redisUrl: redis.url, prefix: redis.prefix };
    await submitBuild(target, { version: 's3v1', sources: ['sources/a.parquet', 'sources/b.parquet'], fit: { mPrime: 128, nLearn: 3000, olsSamples: 256, hidden: 64, epochs: 2, seed: 1 } });
    const r = (await waitForJob(target, QUEUES.publish, jobIds.publish('s3v1'), 120_000)) as { docs: number };
    assert.equal(r.docs, 500);
    assert.equal(await currentVersion(store), 's3v1');
    const m = await verifyVersion(store, 's3v1');
    assert.equal(m.artifacts.length, 5, 'model, and per shard its token store and index');
    assert.deepEqual(await weightObjects(store, 's3v1'), [], 'the build-only W rows are deleted at publish');
    const opened = await openVersion(store);
    try {
      const q = Float32Array.from({ length: 2 * 16 }, (_, i) => ((i * 37) % 11) / 11 - 0.5);
      const res = await opened.engine.search(q, Int32Array.from([1, 1]), { k: 5, kPrime: 20 });
      assert.equal(res.ids.filter((x) => x !== null).length, 10);
    } finally {
      opened.close();
    }
  });
});
