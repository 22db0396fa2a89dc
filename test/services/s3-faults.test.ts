/**
 * S3Store behind the fault proxy (a real s3rver on loopback): with a fifth of all requests
 * failing (500, 503 SlowDown, resets, truncated bodies, stalls past the socket timeout) every
 * store operation still returns the right bytes — small objects, ranged reads, multipart uploads
 * from files, downloads to files, streamed hashes and a Parquet shard read by row groups. A 404
 * or 403 is not retried: it fails once with a typed error naming the key, and a job that meets it
 * fails once (no BullMQ retries).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Queue, QueueEvents, type Job } from 'bullmq';

import { ObjectNotFoundError, StoreAccessDeniedError } from '../../src/errors.js';
import { setLogLevel } from '../../src/log.js';
import { readShard } from '../../src/parquet/read-shard.js';
import { redisConnection } from '../../src/queue/connection.js';
import { startWorker } from '../../src/queue/start-worker.js';
import { hashObject } from '../../src/store/files.js';
import { S3Store } from '../../src/store/s3-store.js';
import { fixtureValue, writeFixture } from '../helpers/parquet-fixtures.js';
import { startTestRedis } from '../helpers/redis.js';
import { S3FaultProxy } from '../helpers/s3-fault-proxy.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
let s3: S3Server;
let proxy: S3FaultProxy;
let store: S3Store;

before(async () => {
  s3 = await startS3();
  // stalls (1.5 s) outlast the store's socket timeout (1 s): half the stalls are timeouts
  proxy = await S3FaultProxy.start({ target: s3.endpoint, seed: 17, rate: 0.2, stallMs: 1500 });
  // 8 tries: at a 20 % fault rate one request fails for good with odds 0.2^8 ≈ 3e-6
  store = new S3Store({ bucket: s3.bucket, prefix: 'faults', endpoint: proxy.url, forcePathStyle: true, partSize: 5 * 1024 * 1024, maxAttempts: 8, socketTimeoutMs: 1000 });
});
after(async () => {
  store?.destroy();
  await proxy?.close();
  await s3?.stop();
  tmp.cleanup();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('S3Store under 20 % injected faults', () => {
  it('round-trips small objects, ranges, listings and deletes', async () => {
    const objects = Array.from({ length: 12 }, (_, i) => randomBytes(20_000 + i * 1000));
    for (const [i, b] of objects.entries()) await store.put(`small/${i}`, b);
    for (const [i, b] of objects.entries()) {
      assert.deepEqual(await store.get(`small/${i}`), b, `small/${i}`);
      assert.deepEqual(await store.getRange(`small/${i}`, 100, 5100), b.subarray(100, 5100));
      assert.equal((await store.head(`small/${i}`))?.size, b.length);
    }
    assert.equal((await store.list('small/')).length, objects.length);
    for (const i of objects.keys()) await store.delete(`small/${i}`);
    assert.equal((await store.list('small/')).length, 0);
  });

  it('uploads files in parts and downloads them to files and streams, byte for byte', async () => {
    for (const n of [0, 1, 2]) {
      const src = join(tmp.dir, `big-${n}.bin`);
      const bytes = randomBytes(12 * 1024 * 1024 + n * 333_333); // 3 parts of 5 MiB
      writeFileSync(src, bytes);
      await store.putFile(`big/${n}`, src);
      const back = join(tmp.dir, `back-${n}.bin`);
      const info = await store.getFile(`big/${n}`, back);
      assert.equal(info.size, bytes.length);
      assert.equal(sha(readFileSync(back)), sha(bytes), `big/${n} via getFile`);
      assert.equal((await hashObject(store, `big/${n}`)).sha256, sha(bytes), `big/${n} via getStream`);
    }
  });

  it('reads a multi-row-group Parquet shard through ranged GETs', async () => {
    const path = join(tmp.dir, 'shard.parquet');
    await writeFixture(path, { rows: 3000, dim: 8, layout: 'nested', codec: 'zstd', rowGroupSize: 256 });
    await store.putFile('shards/part-0.parquet', path);
    const data = await readShard(store, 'shards/part-0.parquet');
    assert.ok(data.rowGroups >= 2, `${data.rowGroups} row groups`);
    assert.equal(data.counts.length, 3000);
    assert.equal(data.vectors[0], fixtureValue(0, 0));
  });

  it('resumes downloads whose bodies are cut mid-way, and re-reads short small reads', async () => {
    // a second proxy that cuts half of all bodies: the path the SDK's own retry does not cover
    const cutter = await S3FaultProxy.start({ target: s3.endpoint, seed: 5, rate: 0.5, faults: ['truncate', 'reset-mid-body'] });
    const direct = new S3Store({ bucket: s3.bucket, prefix: 'faults', endpoint: s3.endpoint, forcePathStyle: true });
    const cut = new S3Store({ bucket: s3.bucket, prefix: 'faults', endpoint: cutter.url, forcePathStyle: true, maxAttempts: 8 });
    try {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      await direct.put('cut/obj', bytes);
      for (let i = 0; i < 4; i++) {
        const back = join(tmp.dir, `cut-${i}.bin`);
        await cut.getFile('cut/obj', back);
        assert.equal(sha(readFileSync(back)), sha(bytes));
        assert.equal((await hashObject(cut, 'cut/obj')).sha256, sha(bytes));
        assert.deepEqual(await cut.getRange('cut/obj', 1000, 900_000), bytes.subarray(1000, 900_000));
      }
      assert.ok(cutter.counts.truncate + cutter.counts['reset-mid-body'] >= 4, JSON.stringify(cutter.counts));
    } finally {
      cut.destroy();
      direct.destroy();
      await cutter.close();
    }
  });

  it('really injected every kind of fault meanwhile', (t) => {
    t.diagnostic(`fault proxy: ${JSON.stringify(proxy.counts)}`);
    for (const kind of ['internal-error', 'slow-down', 'reset', 'truncate', 'stall'] as const) {
      assert.ok(proxy.counts[kind] > 0, `${kind}: ${JSON.stringify(proxy.counts)}`);
    }
    assert.ok(proxy.injected() > 0.1 * proxy.counts.requests, JSON.stringify(proxy.counts));
  });
});

describe('permanent S3 errors', () => {
  it('a missing key fails once with ObjectNotFoundError naming it', async () => {
    proxy.setRate(0);
    const before = proxy.counts.requests;
    await assert.rejects(store.get('sources/missing.parquet'), (e: Error) => e instanceof ObjectNotFoundError && e.key === 'sources/missing.parquet' && e.message.includes("'sources/missing.parquet'"));
    await assert.rejects(store.getFile('sources/missing.parquet', join(tmp.dir, 'never')), ObjectNotFoundError);
    assert.equal(proxy.counts.requests - before, 2, 'one request each, no retries');
  });

  it('a 403 fails once with StoreAccessDeniedError naming the key', async () => {
    proxy.setRate(0);
    await store.put('secret/a.parquet', Buffer.from('x'));
    proxy.respondWith({ path: /\/secret\//, status: 403, code: 'AccessDenied' });
    const before = proxy.counts.requests;
    for (const op of [() => store.get('secret/a.parquet'), () => store.head('secret/a.parquet'), () => store.put('secret/b', Buffer.from('y'))]) {
      await assert.rejects(op(), (e: Error) => e instanceof StoreAccessDeniedError && /secret\/[ab]/.test(e.message));
    }
    assert.equal(proxy.counts.requests - before, 3, 'one request each, no retries');
  });

  it('a job that meets a missing key fails once, its reason naming the key', async () => {
    proxy.setRate(0);
    const redis = await startTestRedis();
    const queue = new Queue('lemur-faults', { connection: redisConnection(redis.url), prefix: redis.prefix });
    const events = new QueueEvents('lemur-faults', { connection: redisConnection(redis.url), prefix: redis.prefix });
    let runs = 0;
    const worker = startWorker('lemur-faults', async (job: Job<{ key: string }>) => {
      runs++;
      return (await store.get(job.data.key)).length;
    }, { redisUrl: redis.url, prefix: redis.prefix });
    try {
      await events.waitUntilReady();
      const job = await queue.add('load-shard', { key: 'sources/gone.parquet' }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
      await assert.rejects(job.waitUntilFinished(events, 30_000), /sources\/gone\.parquet/);
      const done = await queue.getJob(job.id!);
      assert.equal(done?.attemptsMade, 1);
      assert.equal(runs, 1);
      assert.match(done?.failedReason ?? '', /ObjectNotFoundError: .*no object 'sources\/gone\.parquet'/);
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
      await redis.stop();
    }
  });
});
