/**
 * The query engine end to end: shards fan out and merge to exactly the single-shard answer,
 * tombstoned documents never come back, and every candidate source agrees on exact candidates.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { generateCorpus, type Corpus } from '../../src/data/synthetic-corpus.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { setLogLevel } from '../../src/log.js';
import { fitLemur } from '../../src/model/fit-lemur.js';
import type { LemurModel } from '../../src/model/lemur-model.js';
import { maxsimExactTopK } from '../../src/native/maxsim.js';
import { TokenStore } from '../../src/native/token-store.js';
import { QueryEngine } from '../../src/query/query-engine.js';
import { offsetsOf } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('warn');
const tmp = makeTmpDir();
const DOCS = 600;
let corpus: Corpus;
let model: LemurModel;
const stores: TokenStore[] = [];
let one: QueryEngine;
let two: QueryEngine;

async function storeOf(name: string, from: number, to: number): Promise<TokenStore> {
  const off = offsetsOf(corpus.docCounts);
  const path = join(tmp.dir, name);
  await TokenStore.write(path, {
    vectors: corpus.docVectors.subarray(off[from]! * 128, off[to]! * 128),
    counts: corpus.docCounts.subarray(from, to),
    dim: 128,
    ids: Array.from({ length: to - from }, (_, i) => `doc-${from + i}`),
  });
  const s = await TokenStore.open(path);
  stores.push(s);
  return s;
}

before(async () => {
  corpus = generateCorpus({ docs: DOCS, queries: 20, seed: 21 });
  const all = await storeOf('all.lts', 0, DOCS);
  const parts = [await storeOf('a.lts', 0, 250), await storeOf('b.lts', 250, DOCS)];
  // fitted across the two shard stores, as the pipeline's train stage does
  ({ model } = await fitLemur(parts, { mPrime: 256, nLearn: 5000, olsSamples: 512, hidden: 128, epochs: 2, seed: 2 }));
  one = await QueryEngine.build(model, [all]);
  two = await QueryEngine.build(model, parts);
});
after(() => {
  one.close();
  two.close();
  for (const s of stores) s.close();
  tmp.cleanup();
});

describe('QueryEngine', () => {
  it('2 shards give the same top-k as the same docs in 1 shard (exact candidates)', async () => {
    for (const candidates of ['flat', 'bruteforce'] as const) {
      const a = await one.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: DOCS, candidates });
      const b = await two.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: DOCS, candidates });
      assert.deepEqual(b.ids, a.ids, candidates);
      assert.deepEqual(b.scores, a.scores, candidates);
    }
  });

  it("2 shards rerank the global top k', not k' each: the same answer as 1 shard at the same k'", async () => {
    const a = await one.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: 40, candidates: 'bruteforce' });
    const b = await two.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: 40, candidates: 'bruteforce' });
    assert.deepEqual(b.ids, a.ids);
    assert.deepEqual(b.scores, a.scores);
  });

  it('finds most of the exact top-10 with a model fitted across shards', async () => {
    const exact = await maxsimExactTopK(corpus.queryVectors, corpus.queryCounts, stores[0]!, 10);
    const r = await two.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: 120 }); // 20 % of the corpus: a small model
    let hit = 0;
    for (let q = 0; q < 20; q++) {
      const want = new Set(Array.from(exact.row(q).labels, (p) => `doc-${p}`));
      for (const id of r.row(q).ids) if (want.has(String(id))) hit++;
    }
    assert.ok(hit / 200 >= 0.6, `recall@10 ${hit / 200}`);
  });

  it('HNSW, flat and brute-force candidates agree when k\' covers the shard', async () => {
    const h = await one.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: DOCS, candidates: 'hnsw', efSearch: 1200 });
    const f = await one.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: DOCS, candidates: 'flat' });
    assert.deepEqual(h.ids, f.ids);
  });

  it('never returns a tombstoned id, and still fills k results', async () => {
    const before = await two.search(corpus.queryVectors, corpus.queryCounts, { k: 5, kPrime: 50 });
    const victims = new Set<string>();
    for (let q = 0; q < 20; q++) for (const id of before.row(q).ids.slice(0, 2)) victims.add(String(id));
    assert.equal(two.delete(victims), victims.size);
    const after = await two.search(corpus.queryVectors, corpus.queryCounts, { k: 5, kPrime: 50 });
    for (const id of after.ids) {
      assert.notEqual(id, null);
      assert.ok(!victims.has(String(id)), `deleted ${id} returned`);
    }
  });

  it('rejects k <= 0, kPrime < k and a missing index', async () => {
    await assert.rejects(one.search(corpus.queryVectors, corpus.queryCounts, { k: 0 }), InvalidArgumentError);
    await assert.rejects(one.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: 5 }), InvalidArgumentError);
    const bare = new QueryEngine(model, [{ ...one.shards[0]!, hnsw: undefined, flat: undefined }]);
    await assert.rejects(bare.search(corpus.queryVectors, corpus.queryCounts, { candidates: 'hnsw' }), /no hnsw index/);
  });
});
