/**
 * Incremental ingestion, upserts, deletes and compaction on the S3 store kind (s3rver on
 * loopback) through real workers on a real Redis: ingested documents are found, their W rows
 * are bit-identical to a full weighting with the same model, an existing id is replaced, a
 * deleted id is never returned (also by freshly started workers, after compact, and after a
 * rebuild from the sources), and ids are never renumbered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Queue, type Worker } from 'bullmq';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { currentVersion } from '../../src/versions/current.js';
import { readManifest, verifyVersion } from '../../src/versions/manifest.js';
import { readDeleted } from '../../src/versions/tombstones.js';
import { setLogLevel } from '../../src/log.js';
import { TokenStore } from '../../src/native/token-store.js';
import { compact, type CompactOutcome } from '../../src/pipeline/compact.js';
import type { DeleteOutcome } from '../../src/pipeline/delete-docs.js';
import { queueCompact, queueDelete } from '../../src/queue/version-jobs.js';
import { readShardRows } from '../../src/pipeline/shard-rows.js';
import { loadModel } from '../../src/pipeline/stages.js';
import { openVersion } from '../../src/query/open-version.js';
import { submitBuild, submitIngest } from '../../src/queue/build-flow.js';
import { redisConnection } from '../../src/queue/connection.js';
import { buildProgress, progressLine } from '../../src/queue/build-progress.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../../src/queue/queues.js';
import { S3Store } from '../../src/store/s3-store.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { docTokens, putCorpusShard } from '../helpers/corpus-shards.js';
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
const DIM = 32;
const corpus = generateCorpus({ docs: 1200, queries: 1, dim: DIM, seed: 11, minTokens: 8, maxTokens: 40 });
const fit = { mPrime: 256, nLearn: 6000, olsSamples: 512, hidden: 128, epochs: 3, seed: 1 };
const load = { dim: DIM };
const target = () => ({ redisUrl: redis.url, prefix: redis.prefix });
const startAll = () => startRoles(Object.keys(ROLES) as Role[], store, target());

before(async () => {
  s3 = await startS3('lemur-incremental');
  store = new S3Store({ bucket: s3.bucket, prefix: 'x', endpoint: s3.endpoint, forcePathStyle: true });
  await putCorpusShard(store, 'base/a.parquet', corpus, 0, 400);
  await putCorpusShard(store, 'base/b.parquet', corpus, 400, 800);
  await putCorpusShard(store, 'incoming/c.parquet', corpus, 800, 1200);
  redis = await startTestRedis();
  workers = startAll();
});
after(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await redis?.stop();
  store?.destroy();
  await s3?.stop();
  tmp.cleanup();
});

/** Top-k ids when each listed document's own tokens are the query. */
async function selfSearch(version: string | undefined, docs: number[], k = 5): Promise<string[][]> {
  const opened = await openVersion(store, version);
  try {
    const parts = docs.map((i) => docTokens(corpus, i));
    const vectors = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      vectors.set(p, o);
      o += p.length;
    }
    const r = await opened.engine.search(vectors, Int32Array.from(parts, (p) => p.length / DIM), { k, kPrime: 50, candidates: 'hnsw' });
    return docs.map((_, q) => r.row(q).ids.map(String));
  } finally {
    opened.close();
  }
}

async function ingest(version: string, sources: string[]): Promise<{ docs: number; added: number; upserted: number }> {
  const base = (await currentVersion(store))!;
  const m = await readManifest(store, base);
  await submitIngest(target(), { version, base, modelKey: m.modelKey, sources, input: load, driftFraction: 1 });
  return (await waitForJob(target(), QUEUES.publish, jobIds.publish(version), 120_000)) as { docs: number; added: number; upserted: number };
}

describe('incremental ingestion, upserts, deletes, compaction', () => {
  it('ingests new documents without retraining; they are found', async () => {
    await submitBuild(target(), { version: 'v1', sources: ['base/a.parquet', 'base/b.parquet'], input: load, fit });
    assert.equal(((await waitForJob(target(), QUEUES.publish, jobIds.publish('v1'), 120_000)) as { docs: number }).docs, 800);
    const r = await ingest('v2', ['incoming/c.parquet']);
    assert.deepEqual([r.docs, r.added, r.upserted], [1200, 400, 0]);
    const p = await buildProgress(target(), 'v2');
    assert.deepEqual([p?.kind, p?.done, p?.shards.map((s) => [s.source, s.load, s.weights, s.index])], ['ingest', true, [['incoming/c.parquet', 'completed', 'completed', 'completed']]]);
    assert.equal(progressLine(p!), 'ingest v2: load 1/1 | weights 400/400 docs | index 400/400 docs | publish done');
    const m = await verifyVersion(store, 'v2');
    const m1 = await readManifest(store, 'v1');
    assert.equal(m.operation, 'ingest');
    assert.equal(m.modelKey, m1.modelKey, 'no retraining: the model of v1');
    // copy-on-write: v1's shards are referenced, not copied
    for (const s of m1.shards) assert.deepEqual(m.shards.find((x) => x.shardId === s.shardId), s);
    assert.equal(m.lineage.addedSinceTraining, 400);
    const docs = [800, 950, 1199];
    const top = await selfSearch('v2', docs);
    // a document's own tokens find it (another document may score higher: MaxSim is not a metric)
    docs.forEach((d, q) => assert.ok(top[q]!.includes(`doc-${d}`), top[q]!.join(' ')));
  });

  it('gives ingested documents the W rows a full weighting with the same model gives, bit for bit (in the index; no W.f32 stays)', async () => {
    const m = await readManifest(store, 'v2');
    const model = await loadModel(store, m.modelKey);
    const path = `${tmp.dir}/all.lts`;
    await TokenStore.write(path, { vectors: corpus.docVectors, counts: corpus.docCounts, dim: DIM, ids: Array.from({ length: 1200 }, (_, i) => `doc-${i}`) });
    const all = await TokenStore.open(path);
    try {
      const full = await model.weights(all);
      const h = model.hidden;
      const shard = m.shards.find((s) => s.sourceKey === 'incoming/c.parquet')!;
      assert.equal(shard.weightsKey, undefined);
      assert.deepEqual(await weightObjects(store, 'v2'), [], 'the ingest deleted the W rows its index job read');
      // fp32 rows (the flow's default storage): the index gives W's bits back
      const inc = await readShardRows(store, shard, Array.from({ length: 400 }, (_, p) => p));
      assert.equal(inc.length, 400 * h);
      assert.deepEqual(new Uint32Array(inc.buffer), new Uint32Array(full.buffer, 800 * h * 4, 400 * h));
    } finally {
      all.close();
    }
  });

  it('treats an id that already exists as an upsert: the old row is replaced', async () => {
    const changed = docTokens(corpus, 1000).map((x) => -x); // doc-5 now holds other tokens
    await putCorpusShard(store, 'incoming/d.parquet', corpus, 5, 6, new Map([[5, changed]]));
    const r = await ingest('v3', ['incoming/d.parquet']);
    assert.deepEqual([r.docs, r.added, r.upserted], [1200, 1, 1]);
    const m3 = await readManifest(store, 'v3');
    const a = m3.shards.find((s) => s.sourceKey === 'base/a.parquet')!;
    assert.deepEqual(Array.from(await readDeleted(store, a)), [5], 'the old doc-5 (position 5 of shard a) is tombstoned');
    const opened = await openVersion(store, 'v3');
    try {
      const res = await opened.engine.search(changed, Int32Array.of(changed.length / DIM), { k: 3, kPrime: 50, candidates: 'hnsw' });
      assert.ok(res.row(0).ids.includes('doc-5'), 'the new doc-5 is found by its new tokens');
      assert.equal(opened.engine.liveDocs, 1200);
    } finally {
      opened.close();
    }
  });

  it('never returns a deleted id: not after a worker restart, not after compact, not after a rebuild', async () => {
    const d = (await queueDelete(target(), store, 'v4', ['doc-7', 'doc-900', 'missing'], 60_000)) as DeleteOutcome;
    assert.deepEqual([d.deleted, d.notFound], [2, ['missing']]);
    const check = async (version: string): Promise<void> => {
      const top = await selfSearch(version, [7, 900], 20);
      for (const row of top) assert.ok(!row.includes('doc-7') && !row.includes('doc-900'), `${version}: ${row.join(' ')}`);
    };
    await check('v4');
    // fresh workers know nothing of v4 but its manifest: an ingest on top keeps the deletes
    await Promise.all(workers.map((w) => w.close()));
    workers = startAll();
    await putCorpusShard(store, 'incoming/e.parquet', corpus, 1100, 1101, new Map([[1100, docTokens(corpus, 3)]]));
    const r = await ingest('v5', ['incoming/e.parquet']);
    assert.equal(r.upserted, 1);
    await check('v5');
    const c = (await queueCompact(target(), 'v6', 0, 60_000)) as CompactOutcome;
    assert.deepEqual([c.rewritten, c.removed], [2, 4], 'doc-5, doc-7 (shard a), doc-900 and the old doc-1100 (shard c) leave their shards');
    const m6 = await verifyVersion(store, 'v6');
    assert.ok(m6.shards.every((s) => s.deleted === 0));
    assert.deepEqual(await weightObjects(store, 'v6'), [], 'compaction rebuilds indexes from the old ones and writes no W');
    assert.equal(m6.docs, 1198);
    await check('v6');
    // ids are not renumbered: untouched documents still answer to their ids
    const top = await selfSearch('v6', [0, 399, 401, 1199]);
    [0, 399, 401, 1199].forEach((d, q) => assert.ok(top[q]!.includes(`doc-${d}`), top[q]!.join(' ')));
    // a rebuild from the sources (which still hold doc-7 and doc-900) keeps them deleted
    await submitBuild(target(), { version: 'v7', sources: ['base/a.parquet', 'base/b.parquet', 'incoming/c.parquet'], input: load, fit });
    await waitForJob(target(), QUEUES.publish, jobIds.publish('v7'), 120_000);
    assert.equal((await readManifest(store, 'v7')).docs, 1198);
    await check('v7');
    // small shards merge into one; every id stays what it was
    const merged = await compact(store, 'v8');
    assert.deepEqual([merged.merged, merged.rewritten, merged.removed], [3, 0, 2], "v7's three shards, with doc-7 and doc-900 tombstoned by id");
    const m8 = await verifyVersion(store, 'v8');
    assert.deepEqual([m8.shards.length, m8.docs, m8.shards[0]!.deleted], [1, 1198, 0]);
    await check('v8');
    const top8 = await selfSearch('v8', [0, 399, 401, 1199]);
    [0, 399, 401, 1199].forEach((d, q) => assert.ok(top8[q]!.includes(`doc-${d}`), top8[q]!.join(' ')));
  });

  it('serialises version writers: a delete and an ingest queued together both land', async () => {
    await putCorpusShard(store, 'incoming/f.parquet', corpus, 1199, 1200, new Map([[1199, docTokens(corpus, 50)]]));
    const base = (await currentVersion(store))!;
    const m = await readManifest(store, base);
    await submitIngest(target(), { version: 'v9', base, modelKey: m.modelKey, sources: ['incoming/f.parquet'], input: load, driftFraction: 1 });
    const [del] = await Promise.all([
      queueDelete(target(), store, 'v10', ['doc-10'], 60_000) as Promise<DeleteOutcome>,
      waitForJob(target(), QUEUES.publish, jobIds.publish('v9'), 60_000),
    ]);
    assert.equal(del.deleted, 1);
    const pq = new Queue(QUEUES.publish, { connection: redisConnection(redis.url), prefix: redis.prefix });
    try {
      assert.equal(await pq.getGlobalConcurrency(), 1, 'the publish queue runs one job at a time across workers');
    } finally {
      await pq.close();
    }
    const last = await readManifest(store, (await currentVersion(store))!);
    assert.ok(['v9', 'v10'].includes(last.version));
    assert.equal(last.base, last.version === 'v9' ? 'v10' : 'v9', 'the second writer derived from the first');
    assert.equal(last.docs, 1198 - 1, 'doc-10 deleted, doc-1199 replaced (not added)');
    const top = await selfSearch(undefined, [10], 20);
    assert.ok(!top[0]!.includes('doc-10'));
  });
});
