/**
 * Compaction without W.f32 (W is a build-only artifact): a tombstoned shard's new index is built
 * from the rows its old index holds. fp32 and fp16 rows come back as the same bits, so the new
 * index is byte-identical to an index of the survivors' original W rows (also through a second
 * compaction that merges shards). sq8 shards keep W.f32 and give the same identity; what
 * rebuilding sq8 rows from the index would cost instead (re-quantisation, per compaction) is
 * measured against a clean sq8 rebuild. A version published with W.f32 by an older release
 * still verifies, takes an ingest and compacts from its W rows.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { setLogLevel } from '../../src/log.js';
import { IpIndex, type IpStorage } from '../../src/native/ip-index.js';
import { innerProductTopK } from '../../src/native/ols.js';
import { compact } from '../../src/pipeline/compact.js';
import { deleteDocs } from '../../src/pipeline/delete-docs.js';
import { loadShard } from '../../src/pipeline/load-shard.js';
import { publishBuild, publishIngest } from '../../src/pipeline/publish-stage.js';
import { pickRows, readShardRows } from '../../src/pipeline/shard-rows.js';
import { indexStage, loadModel, shardEntry, trainStage, weightsStage, writeIndex, type IndexedShard } from '../../src/pipeline/stages.js';
import { readWeights } from '../../src/store/files.js';
import { keys } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { LoadedShard } from '../../src/store/loaded-shard.js';
import { readManifest, verifyVersion, type Manifest, type ShardEntry } from '../../src/versions/manifest.js';
import { publishVersion } from '../../src/versions/publish.js';
import { readDeleted } from '../../src/versions/tombstones.js';
import { putCorpusShard } from '../helpers/corpus-shards.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { weightObjects } from '../helpers/weight-objects.js';

setLogLevel('warn');
const tmp = makeTmpDir();
after(tmp.cleanup);
const DIM = 32;
const H = 128;
const corpus = generateCorpus({ docs: 1000, queries: 60, dim: DIM, seed: 5, minTokens: 8, maxTokens: 40 });
const fit = { mPrime: 256, nLearn: 6000, olsSamples: 512, hidden: H, epochs: 3, seed: 1 };
const SOURCES: [string, number, number][] = [['sources/a.parquet', 0, 600], ['sources/b.parquet', 600, 900]];
// every third document of a, a few of b: sq8 ranges trained on the survivors differ from the shard's
const DELETED = [...Array.from({ length: 200 }, (_, i) => `doc-${3 * i}`), 'doc-601', 'doc-777', 'doc-899'];
let modelBytes: Buffer;

/** A store with the corpus sources and the trained model (trained once, copied into each store). */
async function freshStore(name: string): Promise<LocalStore> {
  const store = new LocalStore(join(tmp.dir, name));
  for (const [key, from, to] of SOURCES) await putCorpusShard(store, key, corpus, from, to);
  await store.put(keys.model('v1'), modelBytes);
  return store;
}

interface Built {
  built: IndexedShard[];
  /** The W rows each shard was indexed from, by shard id (read before publishing deletes them). */
  W: Map<string, Float32Array>;
}

async function buildShards(store: LocalStore, version: string, shards: LoadedShard[], storage: IpStorage): Promise<Built> {
  const built: IndexedShard[] = [];
  const W = new Map<string, Float32Array>();
  for (const s of shards) {
    const w = await weightsStage(store, version, keys.model('v1'), s);
    W.set(s.shardId, await readWeights(store, w.weightsKey));
    built.push(await indexStage(store, version, w, { storage }));
  }
  return { built, W };
}

async function loadSources(store: LocalStore, sources = SOURCES): Promise<LoadedShard[]> {
  return Promise.all(sources.map(([key]) => loadShard(store, key, { dim: DIM, dtype: 'float16' })));
}

/** Positions of a shard that are not tombstoned. */
async function survivors(store: LocalStore, s: ShardEntry): Promise<number[]> {
  const dead = new Set(await readDeleted(store, s));
  return Array.from({ length: s.docs }, (_, p) => p).filter((p) => !dead.has(p));
}

/** The bytes writeIndex gives for these rows: what a build of exactly the survivors would publish. */
async function cleanIndexBytes(store: LocalStore, rows: Float32Array, storage: IpStorage): Promise<Buffer> {
  await writeIndex(store, 'reference/index.faiss', rows, rows.length / H, { storage });
  return store.get('reference/index.faiss');
}

/** Deletes DELETED in version `del`, compacts into `cmp`; the survivors' original W rows per rewritten shard id. */
async function deleteAndCompact(store: LocalStore, W: Map<string, Float32Array>): Promise<{ after: Manifest; rows: Map<string, Float32Array> }> {
  const d = await deleteDocs(store, DELETED, 'del');
  assert.equal(d.deleted, DELETED.length);
  const before = await readManifest(store, 'del');
  const c = await compact(store, 'cmp', { mergeBelow: 0 });
  assert.deepEqual([c.rewritten, c.removed], [2, DELETED.length]);
  const after = await verifyVersion(store, 'cmp');
  const rows = new Map<string, Float32Array>();
  for (const s of before.shards) rows.set(s.shardId, pickRows(W.get(s.shardId)!, s.docs, await survivors(store, s)));
  return { after, rows };
}

/** The sq8 grid step of each dimension for rows W (n × H): (max - min) / 255, as sq8 trains it. */
function sq8Steps(W: Float32Array): number[] {
  const lo = new Float32Array(H).fill(Infinity);
  const hi = new Float32Array(H).fill(-Infinity);
  for (let i = 0; i < W.length; i++) {
    lo[i % H] = Math.min(lo[i % H]!, W[i]!);
    hi[i % H] = Math.max(hi[i % H]!, W[i]!);
  }
  return Array.from(lo, (l, j) => (hi[j]! - l) / 255);
}

/**
 * An sq8 index against a clean sq8 rebuild of the same rows: the worst error of its decoded rows
 * (in steps), and recall@10 of its exact scan and HNSW search against the exact fp32 top 10.
 */
async function sq8Quality(bytes: Uint8Array, cleanBytes: Uint8Array, rows: Float32Array, step: number[], F: Float32Array): Promise<{ worst: number; scan: number; scanClean: number; search: number; searchClean: number }> {
  const nq = F.length / H;
  const truth = (await innerProductTopK(F, rows, H, 10)).labels;
  const recall = (labels: BigInt64Array): number => {
    let hit = 0;
    for (let q = 0; q < nq; q++) {
      const want = new Set(truth.subarray(q * 10, q * 10 + 10));
      for (let i = 0; i < 10; i++) if (want.has(labels[q * 10 + i]!)) hit++;
    }
    return hit / (nq * 10);
  };
  const ix = await IpIndex.deserialize(bytes);
  const clean = await IpIndex.deserialize(cleanBytes);
  try {
    const decoded = await ix.reconstructRange(0, ix.ntotal);
    let worst = 0;
    for (let i = 0; i < decoded.length; i++) worst = Math.max(worst, Math.abs(decoded[i]! - rows[i]!) / step[i % H]!);
    return {
      worst,
      scan: recall((await ix.scan(F, 10)).labels),
      scanClean: recall((await clean.scan(F, 10)).labels),
      search: recall((await ix.search(F, 10, { efSearch: 64 })).labels),
      searchClean: recall((await clean.search(F, 10, { efSearch: 64 })).labels),
    };
  } finally {
    ix.close();
    clean.close();
  }
}

before(async () => {
  const store = new LocalStore(join(tmp.dir, 'train'));
  for (const [key, from, to] of SOURCES) await putCorpusShard(store, key, corpus, from, to);
  await trainStage(store, 'v1', await loadSources(store), fit);
  modelBytes = await store.get(keys.model('v1'));
});

describe('compaction without W.f32', () => {
  for (const storage of ['fp32', 'fp16', 'sq8'] as const) {
    // sq8 shards keep W.f32 (stages.ts keepsWeights), the others rebuild from their index's rows
    const keeps = storage === 'sq8';
    it(`${storage} rows: ${keeps ? 'W.f32 kept; ' : 'no W.f32; '}the compacted index is the bytes of an index of the survivors' original W rows, also when merged`, async () => {
      const store = await freshStore(storage);
      const { built, W } = await buildShards(store, 'v1', await loadSources(store), storage);
      const m = await publishBuild(store, { version: 'v1', modelKey: keys.model('v1'), encoding: { tokens: 'float16', index: storage } }, built);
      assert.ok(m.shards.every((s) => (s.weightsKey !== undefined) === keeps));
      assert.equal((await weightObjects(store, 'v1')).length, keeps ? 2 : 0, 'publish deletes the W rows it does not list');
      const { after, rows } = await deleteAndCompact(store, W);
      assert.equal((await weightObjects(store, 'cmp')).length, keeps ? 2 : 0);
      for (const s of after.shards) {
        assert.equal(s.weightsKey !== undefined, keeps);
        assert.ok((await store.get(s.indexKey)).equals(await cleanIndexBytes(store, rows.get(s.shardId)!, storage)), `${s.shardId}: index bytes`);
      }
      // a second compaction merges both shards, from the rebuilt indexes (or the W they kept)
      const merged = await compact(store, 'mrg', { mergeBelow: 10_000 });
      assert.equal(merged.merged, 2);
      const mm = await verifyVersion(store, 'mrg');
      const all = new Float32Array([...rows.get(after.shards[0]!.shardId)!, ...rows.get(after.shards[1]!.shardId)!]);
      assert.ok((await store.get(mm.shards[0]!.indexKey)).equals(await cleanIndexBytes(store, all, storage)), 'merged index bytes');
    });
  }

  it('sq8 rows without W.f32 are re-quantised off their grid, more with every compaction: measured against a clean sq8 rebuild (why sq8 keeps W)', async (t: TestContext) => {
    const store = await freshStore('sq8-no-w');
    const { built, W } = await buildShards(store, 'v1', await loadSources(store), 'sq8');
    // index jobs of an older release report no storage: their sq8 shards are published without W
    await publishBuild(store, { version: 'v1', modelKey: keys.model('v1'), encoding: { tokens: 'float16', index: 'sq8' } }, built.map(({ storage: _, ...b }) => b));
    assert.deepEqual(await weightObjects(store, 'v1'), []);
    const { after, rows } = await deleteAndCompact(store, W);
    const model = await loadModel(store, keys.model('v1'));
    const F = await model.features(corpus.queryVectors, corpus.queryCounts);
    model.close();
    const check = async (what: string, bytes: Uint8Array, kept: Float32Array, step: number[], maxSteps: number, tolerance: number): Promise<void> => {
      const q = await sq8Quality(bytes, await cleanIndexBytes(store, kept, 'sq8'), kept, step, F);
      t.diagnostic(`${what} (${kept.length / H} docs): worst row error ${q.worst.toFixed(3)} steps; recall@10 scan ${q.scan.toFixed(3)} vs clean ${q.scanClean.toFixed(3)}, HNSW ${q.search.toFixed(3)} vs clean ${q.searchClean.toFixed(3)}`);
      assert.ok(q.worst <= maxSteps, `${what}: worst error ${q.worst} steps`);
      assert.ok(q.scan >= q.scanClean - tolerance && q.search >= q.searchClean - tolerance, `${what}: ${JSON.stringify(q)}`);
    };
    for (const s of after.shards) {
      const kept = rows.get(s.shardId)!;
      const step = sq8Steps(W.get(s.shardId)!);
      // the build's quantisation and the compaction's are within half a step each
      await check(`compacted once ${s.shardId}`, await store.get(s.indexKey), kept, step, 1.001, 0.03);
      // the compacted shard keeps its rows as W.f32, so the loss stops there; had it not, the next
      // compaction would re-quantise them once more:
      assert.ok(s.weightsKey);
      const again = await readShardRows(store, { ...s, weightsKey: undefined }, Array.from({ length: s.docs }, (_, p) => p));
      await writeIndex(store, 'reference/again.faiss', again, s.docs, { storage: 'sq8' });
      await check(`compacted twice ${s.shardId}`, await store.get('reference/again.faiss'), kept, step, 1.501, 0.15);
    }
  });

  it('a delete or compaction run again after it published (a job retried when its completion was lost) reports what it did and changes nothing', async () => {
    const store = await freshStore('retried');
    const { built } = await buildShards(store, 'v1', await loadSources(store), 'fp32');
    await publishBuild(store, { version: 'v1', modelKey: keys.model('v1') }, built);
    const ids = ['doc-3', 'doc-601', 'missing'];
    const d1 = await deleteDocs(store, ids, 'del');
    const del = await store.get(keys.manifest('del'));
    // current is `del` now, where the ids are no longer live: the retry must still derive from v1
    assert.deepEqual(await deleteDocs(store, ids, 'del'), d1);
    assert.ok((await store.get(keys.manifest('del'))).equals(del), 'the manifest is untouched');
    const c1 = await compact(store, 'cmp');
    const cmp = await store.get(keys.manifest('cmp'));
    assert.deepEqual(await compact(store, 'cmp'), c1);
    assert.ok((await store.get(keys.manifest('cmp'))).equals(cmp));
    assert.deepEqual([d1.deleted, c1.removed, c1.merged], [2, 2, 2]);
    await verifyVersion(store, 'cmp');
  });

  it('a version an older release published with W.f32 verifies, takes an ingest and compacts from its W rows', async () => {
    const store = await freshStore('legacy');
    const { built, W } = await buildShards(store, 'v1', await loadSources(store), 'fp32');
    // the manifest as releases before W became build-only wrote it: W listed, no encoding (fp32 rows)
    const model = await loadModel(store, keys.model('v1'));
    const config = { ...model.config };
    model.close();
    const shards = built.map((b) => ({ ...shardEntry(b), weightsKey: b.weightsKey }));
    await publishVersion(store, 'v1', { operation: 'build', modelKey: keys.model('v1'), config, lineage: { trainedIn: 'v1', trainedDocs: 900, addedSinceTraining: 0 }, shards });
    assert.equal((await verifyVersion(store, 'v1')).artifacts.length, 1 + 3 * 2);
    // an ingest adds a shard without W and keeps the old shards' entries (and their W) as they are
    await putCorpusShard(store, 'incoming/c.parquet', corpus, 900, 1000);
    const c = await buildShards(store, 'ing', await loadSources(store, [['incoming/c.parquet', 900, 1000]]), 'fp32');
    const ing = await publishIngest(store, { version: 'ing', base: 'v1', modelKey: keys.model('v1') }, c.built);
    await verifyVersion(store, 'ing');
    assert.deepEqual(await weightObjects(store, 'ing'), []);
    assert.deepEqual(ing.manifest.shards.map((s) => s.weightsKey), [...shards.map((s) => s.weightsKey), undefined]);
    for (const s of shards) assert.ok(await store.head(s.weightsKey), 'W of the older version stays: its manifest lists it');
    for (const [id, w] of c.W) W.set(id, w);
    // compaction reads the old shards' rows from W.f32 and the ingested shard's from its index
    const d = await deleteDocs(store, ['doc-0', 'doc-650', 'doc-950'], 'del');
    assert.equal(d.deleted, 3);
    const before = await readManifest(store, 'del');
    const r = await compact(store, 'cmp', { mergeBelow: 0 });
    assert.deepEqual([r.rewritten, r.removed], [3, 3]);
    const cm = await verifyVersion(store, 'cmp');
    assert.deepEqual(await weightObjects(store, 'cmp'), []);
    for (const s of cm.shards) {
      assert.equal(s.weightsKey, undefined);
      const old = before.shards.find((b) => b.shardId === s.shardId)!;
      const rows = pickRows(W.get(s.shardId)!, old.docs, await survivors(store, old));
      assert.ok((await store.get(s.indexKey)).equals(await cleanIndexBytes(store, rows, 'fp32')), `${s.shardId}: index bytes`);
    }
  });
});
