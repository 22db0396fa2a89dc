/**
 * Long native steps never stall a job: with a 1 s lock and a 1 s stalled-check interval, a job
 * that spends several seconds in native MaxSim code keeps its lock (the work runs on the libuv
 * pool, the event loop keeps renewing), completes once, and no stalled event is seen.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Queue, QueueEvents, type Worker } from 'bullmq';

import { Random } from '../../src/data/random.js';
import { setLogLevel } from '../../src/log.js';
import { maxsimExactTopK } from '../../src/native/maxsim.js';
import { TokenStore } from '../../src/native/token-store.js';
import { redisConnection } from '../../src/queue/connection.js';
import { startWorker } from '../../src/queue/start-worker.js';
import { randomItems, sequentialIds } from '../helpers/data.js';
import { startTestRedis } from '../helpers/redis.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
let redis: Awaited<ReturnType<typeof startTestRedis>>;
let store: TokenStore;

before(async () => {
  const rng = new Random(3);
  const docs = randomItems(rng, 6000, 128, 60, 80);
  await TokenStore.write(join(tmp.dir, 's.lts'), { vectors: docs.vectors, counts: docs.counts, dim: 128, ids: sequentialIds(6000) });
  store = await TokenStore.open(join(tmp.dir, 's.lts'));
  redis = await startTestRedis();
});
after(async () => {
  store?.close();
  await redis?.stop();
  tmp.cleanup();
});

describe('long native work under a short lock', () => {
  it('completes once with no stalled event', async () => {
    const queries = randomItems(new Random(4), 400, 128, 32, 32);
    let runs = 0;
    let stalled = 0;
    const worker: Worker = startWorker(
      'lemur-stall-test',
      async () => {
        runs++;
        const t0 = performance.now();
        // several seconds of native work, repeated so the job outlives many lock periods
        while (performance.now() - t0 < 3500) await maxsimExactTopK(queries.vectors, queries.counts, store, 10, { threads: 1 });
        return 'done';
      },
      { redisUrl: redis.url, prefix: redis.prefix, lockDuration: 1000, stalledInterval: 1000 },
    );
    worker.on('stalled', () => stalled++);
    const queue = new Queue('lemur-stall-test', { connection: redisConnection(redis.url), prefix: redis.prefix });
    const events = new QueueEvents('lemur-stall-test', { connection: redisConnection(redis.url), prefix: redis.prefix });
    events.on('stalled', () => stalled++);
    try {
      await events.waitUntilReady();
      const job = await queue.add('long', {}, { attempts: 3 });
      assert.equal(await job.waitUntilFinished(events, 60_000), 'done');
      assert.equal(runs, 1, 'the job ran exactly once');
      assert.equal(stalled, 0, 'no stalled event');
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  });
});
