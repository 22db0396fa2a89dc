/**
 * A worker process killed with SIGKILL in the middle of a build: another worker takes the
 * stalled job over, the build completes, and its artifacts equal those of a clean build, byte
 * for byte: model, token stores, W and index.faiss (2 threads, fixed seed). This once passed
 * only because its workers ran 1 thread, when Faiss's own parallel HNSW insertion was the one
 * thing that depended on thread timing; the index build is deterministic with any thread count
 * now (docs/determinism.md), so it runs the thread count a real worker runs.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Queue } from 'bullmq';

import { readManifest } from '../../src/versions/manifest.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { redisConnection } from '../../src/queue/connection.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../../src/queue/queues.js';
import { LocalStore } from '../../src/store/local-store.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { startTestRedis } from '../helpers/redis.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const tmp = makeTmpDir();
// enough epochs that ψ's training outlasts a progress report (every 500 ms) on any CPU
const fit = { mPrime: 256, nLearn: 20000, olsSamples: 512, hidden: 128, epochs: 30, seed: 3 };
const children: ChildProcess[] = [];
let redis: Awaited<ReturnType<typeof startTestRedis>>;

function worker(storeDir: string, redisUrl: string): ChildProcess {
  const c = spawn(process.execPath, [cli, 'worker', '--lock-duration', '1500'], {
    env: { ...process.env, LEMUR_STORE: storeDir, REDIS_URL: redisUrl, LEMUR_THREADS: '2' },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  children.push(c);
  return c;
}

async function build(storeDir: string, redisUrl: string, killDuringTrain: boolean): Promise<void> {
  const target = { redisUrl };
  let w = worker(storeDir, redisUrl);
  await submitBuild(target, { version: 'v1', sources: ['sources/a.parquet', 'sources/b.parquet'], fit });
  if (killDuringTrain) {
    const q = new Queue(QUEUES.train, { connection: redisConnection(redisUrl) });
    try {
      // killed once the job reports ψ's training under way (a fixed delay after it turns active
      // missed the whole fit on a fast CPU): the job is then surely in flight
      for (let i = 0; i < 1200; i++) {
        const job = await q.getJob(jobIds.train('v1'));
        if (job && (await job.getState()) === 'active' && (job.progress as { phase?: string } | undefined)?.phase === 'train') break;
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await q.close();
    }
    w.kill('SIGKILL');
    await new Promise((r) => w.once('exit', r));
    w = worker(storeDir, redisUrl);
  }
  await waitForJob(target, QUEUES.publish, jobIds.publish('v1'), 120_000);
  w.kill('SIGTERM');
  if (killDuringTrain) {
    // the killed attempt really was in flight: the job was found stalled and taken over
    const q = new Queue(QUEUES.train, { connection: redisConnection(redisUrl) });
    try {
      const job = await q.getJob(jobIds.train('v1'));
      assert.ok((job?.stalledCounter ?? 0) >= 1, `stalledCounter ${job?.stalledCounter}`);
    } finally {
      await q.close();
    }
  }
}

before(async () => {
  mkdirSync(join(tmp.dir, 'src/sources'), { recursive: true });
  await writeFixture(join(tmp.dir, 'src/sources/a.parquet'), { rows: 600, dim: 32, layout: 'nested', codec: 'zstd', rowGroupSize: 2048 });
  await writeFixture(join(tmp.dir, 'src/sources/b.parquet'), { rows: 400, dim: 32, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
  // identical sources for both builds, timestamps included (a local store's etag is size + mtime)
  for (const d of ['clean', 'killed']) cpSync(join(tmp.dir, 'src'), join(tmp.dir, d), { recursive: true, preserveTimestamps: true });
  redis = await startTestRedis();
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await redis?.stop();
  tmp.cleanup();
});

describe('SIGKILL mid-build', () => {
  it('completes the build with artifacts equal to a clean build', async () => {
    const { startTestRedis: fresh } = await import('../helpers/redis.js');
    const r2 = await fresh();
    try {
      await build(join(tmp.dir, 'clean'), redis.url, false);
      await build(join(tmp.dir, 'killed'), r2.url, true);
    } finally {
      await r2.stop();
    }
    const clean = await readManifest(new LocalStore(join(tmp.dir, 'clean')), 'v1');
    const killed = await readManifest(new LocalStore(join(tmp.dir, 'killed')), 'v1');
    assert.deepEqual(killed.artifacts, clean.artifacts, 'same keys, sizes and sha256 for every artifact');
    assert.equal(killed.docs, 1000);
  });
});
