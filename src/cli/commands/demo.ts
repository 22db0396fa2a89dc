/**
 * `lemur demo`: the main job end to end on embedded defaults, in one process. Generates a
 * ColBERT-like corpus, writes its token store under the local store folder, fits a LEMUR model
 * (reduced sizes so the demo takes about a minute), weights every document, builds the Faiss
 * index, runs every query through the query engine and checks recall against exact MaxSim.
 * Prints one JSON line. (The queue-driven pipeline replaces the in-process build later.)
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { config } from '../../config.js';
import { generateCorpus } from '../../data/synthetic-corpus.js';
import { ConfigError } from '../../errors.js';
import { log } from '../../log.js';
import { fitLemur } from '../../model/fit-lemur.js';
import { kernelInfo } from '../../native/cpu.js';
import { maxsimExactTopK } from '../../native/maxsim.js';
import { TokenStore } from '../../native/token-store.js';
import { QueryEngine } from '../../query/query-engine.js';

export interface DemoOptions {
  docs: number;
  queries: number;
  seed: number;
}

export async function runDemo(o: DemoOptions): Promise<Record<string, unknown>> {
  const root = config().store;
  if (root.startsWith('s3://')) throw new ConfigError('the demo writes to a local folder; unset LEMUR_STORE or point it at a folder');
  const dir = resolve(root.replace(/^file:\/\//, ''), 'demo');
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  log.info('generating corpus', { docs: o.docs, queries: o.queries, seed: o.seed });
  const c = generateCorpus({ docs: o.docs, queries: o.queries, seed: o.seed });
  const storePath = join(dir, 'corpus.lts');
  await TokenStore.write(storePath, { vectors: c.docVectors, counts: c.docCounts, dim: c.dim, ids: Array.from({ length: o.docs }, (_, i) => `doc-${i}`) });
  const store = await TokenStore.open(storePath);
  try {
    const { model, timings } = await fitLemur(store, { mPrime: Math.min(2048, o.docs), nLearn: Math.min(30000, 10 * o.docs), olsSamples: 4096, hidden: 1024, epochs: 3, seed: o.seed });
    await model.save(join(dir, 'model.lemur'));
    const engine = await QueryEngine.build(model, [store], { kinds: ['hnsw'] });
    const buildS = (performance.now() - t0) / 1000;
    try {
      const k = 10;
      const exact = await maxsimExactTopK(c.queryVectors, c.queryCounts, store, k);
      const ids = await store.ids();
      let t = performance.now();
      const r = await engine.search(c.queryVectors, c.queryCounts, { k, kPrime: 100, candidates: 'hnsw', efSearch: 200 });
      const searchS = (performance.now() - t) / 1000;
      let hit = 0;
      for (let q = 0; q < o.queries; q++) {
        const want = new Set(Array.from(exact.row(q).labels, (p) => ids[Number(p)]));
        for (const id of r.row(q).ids) if (id !== null && want.has(id)) hit++;
      }
      t = performance.now();
      return {
        docs: o.docs,
        queries: o.queries,
        kernel: kernelInfo().kernel,
        recall_at_10: hit / (o.queries * k),
        qps: Math.round(o.queries / searchS),
        build_s: Math.round(buildS * 10) / 10,
        fit_s: Math.round(timings.total_s * 10) / 10,
        store: dir,
      };
    } finally {
      engine.close();
    }
  } finally {
    store.close();
  }
}
