/**
 * The load worker on a real Redis: a good shard completes with its counts, a corrupt shard fails
 * once (no retries) naming its row, and the worker goes on serving other jobs.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Queue, QueueEvents, type Worker } from 'bullmq';

import { setLogLevel } from '../../src/log.js';
import { redisConnection } from '../../src/queue/connection.js';
import { JOBS, QUEUES, jobIds, type LoadShardPayload } from '../../src/queue/queues.js';
import { LocalStore } from '../../src/store/local-store.js';
import { startLoadWorker } from '../../workers/load-worker.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { startTestRedis } from '../helpers/redis.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
const store = new LocalStore(tmp.dir);
let redis: Awaited<ReturnType<typeof startTestRedis>>;
let queue: Queue<LoadShardPayload>;
let events: QueueEvents;
let worker: Worker;

before(async () => {
  mkdirSync(join(tmp.dir, 'sources'), { recursive: true });
  await writeFixture(join(tmp.dir, 'sources/good.parquet'), { rows: 100, dim: 8, layout: 'nested', codec: 'zstd', rowGroupSize: 2048 });
  await writeFixture(join(tmp.dir, 'sources/other.parquet'), { rows: 40, dim: 8, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
  await writeFixture(join(tmp.dir, 'sources/bad.parquet'), { rows: 10, dim: 8, layout: 'flat', codec: 'snappy', rowGroupSize: 2048, extraSql: "UNION ALL SELECT 2, 'x', 1, list_transform(range(8), x -> 0.0::FLOAT)" });
  redis = await startTestRedis();
  queue = new Queue(QUEUES.load, { connection: redisConnection(redis.url), prefix: redis.prefix });
  events = new QueueEvents(QUEUES.load, { connection: redisConnection(redis.url), prefix: redis.prefix });
  await events.waitUntilReady();
  worker = startLoadWorker(store, { redisUrl: redis.url, prefix: redis.prefix });
});
after(async () => {
  await worker?.close();
  await events?.close();
  await queue?.close();
  await redis?.stop();
  tmp.cleanup();
});

const opts = (sourceKey: string) => ({ jobId: jobIds.load('b1', sourceKey), attempts: 3, backoff: { type: 'exponential', delay: 50 } });

describe('load worker', () => {
  it('loads a good shard, fails a bad one once with its row, and keeps serving', async () => {
    const good = await queue.add(JOBS.loadShard, { sourceKey: 'sources/good.parquet' }, opts('sources/good.parquet'));
    const bad = await queue.add(JOBS.loadShard, { sourceKey: 'sources/bad.parquet' }, opts('sources/bad.parquet'));
    const r = (await good.waitUntilFinished(events, 30_000)) as { docs: number; dim: number };
    assert.equal(r.docs, 100);
    assert.equal(r.dim, 8);
    await assert.rejects(bad.waitUntilFinished(events, 30_000), /row 10, field `id`: duplicate id 2/);
    const failed = await queue.getJob(bad.id!);
    assert.equal(failed?.attemptsMade, 1, 'bad input is not retried');
    assert.match(failed?.failedReason ?? '', /InputDataError: .*bad\.parquet: row 10/);
    const other = await queue.add(JOBS.loadShard, { sourceKey: 'sources/other.parquet' }, opts('sources/other.parquet'));
    assert.equal(((await other.waitUntilFinished(events, 30_000)) as { docs: number }).docs, 40);
  });

  it('gives a resubmitted shard the same job id, so it is not queued twice', async () => {
    const a = await queue.add(JOBS.loadShard, { sourceKey: 'sources/good.parquet' }, opts('sources/good.parquet'));
    assert.equal(a.id, jobIds.load('b1', 'sources/good.parquet'));
    const counts = await queue.getJobCounts('completed', 'waiting', 'active');
    assert.equal(counts['completed'], 2);
    assert.equal((counts['waiting'] ?? 0) + (counts['active'] ?? 0), 0);
  });
});
