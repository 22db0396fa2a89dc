/**
 * Claim: the query engine's best setting beats the reference's query speed at equal recall, and
 * HNSW beats a brute-force scan one query at a time. Measures, in one run: HNSW build speed and
 * size; for k' ∈ {100, 200, 500}, candidates from Faiss HNSW (efSearch ∈ {k', 2k', 4k'}), Faiss
 * flat and our sgemm scan, each batched (all queries, QPS) and one query at a time (p50/p99
 * latency); recall@10 against the exact-MaxSim ground truth. `--model PATH` reuses (or saves)
 * the fitted model so the fit is not repeated between runs.
 */
import { parseArgs } from 'node:util';

import { config } from '../src/config.js';
import { setLogLevel } from '../src/log.js';
import { IpIndex } from '../src/native/ip-index.js';
import { QueryEngine, type CandidateSource } from '../src/query/query-engine.js';
import { benchModel } from './lib/bench-model.js';
import { openBenchCorpus } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: { data: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false }, model: { type: 'string' } },
  strict: true,
});
setLogLevel('warn');
const quick = values.quick ?? false;
const ds = await openBenchCorpus(values.data, quick);
const { corpus, nDocs, nq, store, gt } = ds;
const threads = config().threads;

const model = await benchModel(values.model, store, quick);
const W = await model.weights(store);
const positions = BigInt64Array.from({ length: nDocs }, (_, i) => BigInt(i));

progress('building HNSW (M 32, efConstruction 40)');
const hnsw = IpIndex.create({ d: model.hidden, kind: 'hnsw', M: 32, efConstruction: 40 });
let t = performance.now();
await hnsw.add(W, positions, { threads });
const buildS = (performance.now() - t) / 1000;
const indexBytes = (await hnsw.serialize()).length;
const flat = IpIndex.create({ d: model.hidden, kind: 'flat' });
await flat.add(W, positions, { threads });
const engine = new QueryEngine(model, [{ store, ids: positions, W, hnsw, flat }]);

function recall(ids: (bigint | string | null)[]): number {
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const want = new Set(Array.from(gt.subarray(q * 100, q * 100 + 10)));
    for (let i = 0; i < 10; i++) if (ids[q * 10 + i] !== null && want.has(Number(ids[q * 10 + i]))) hit++;
  }
  return hit / (nq * 10);
}

const qOff: number[] = [0];
for (const c of corpus.queryCounts) qOff.push(qOff[qOff.length - 1]! + c);
const singles = Math.min(nq, quick ? 50 : 200);

const results = [];
for (const kPrime of [100, 200, 500].filter((x) => x <= nDocs)) {
  const settings: { candidates: CandidateSource; ef_search: number | null }[] = [
    ...[kPrime, 2 * kPrime, 4 * kPrime].map((ef) => ({ candidates: 'hnsw' as const, ef_search: ef })),
    { candidates: 'flat', ef_search: null },
    { candidates: 'bruteforce', ef_search: null },
  ];
  for (const s of settings) {
    const opts = { k: 10, kPrime, candidates: s.candidates, threads, ...(s.ef_search ? { efSearch: s.ef_search } : {}) };
    await engine.search(corpus.queryVectors, corpus.queryCounts, opts); // warm-up
    const runs: number[] = [];
    let ids: (bigint | string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      t = performance.now();
      ids = (await engine.search(corpus.queryVectors, corpus.queryCounts, opts)).ids;
      runs.push((performance.now() - t) / 1000);
    }
    runs.sort((a, b) => a - b);
    const lat: number[] = [];
    for (let q = 0; q < singles; q++) {
      t = performance.now();
      await engine.search(corpus.queryVectors.subarray(qOff[q]! * corpus.dim, qOff[q + 1]! * corpus.dim), corpus.queryCounts.subarray(q, q + 1), opts);
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    const row = {
      ...s,
      kprime: kPrime,
      qps: Math.round(nq / runs[1]!),
      recall_at_10: round(recall(ids), 4),
      p50_ms: round(lat[Math.floor(lat.length * 0.5)]!, 2),
      p99_ms: round(lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!, 2),
      single_qps: Math.round(1000 / (lat.reduce((a, b) => a + b, 0) / lat.length)),
    };
    progress(JSON.stringify(row));
    results.push(row);
  }
}
hnsw.close();
flat.close();
ds.cleanup();

const best = results.filter((r) => r.recall_at_10 >= 0.95).sort((a, b) => b.qps - a.qps)[0] ?? null;
emit(
  {
    bench: 'query',
    machine: machineInfo(),
    dataset: ds.summary,
    threads,
    docs: nDocs,
    queries: nq,
    single_query_samples: singles,
    build_docs_per_s: Math.round(nDocs / buildS),
    build_s: round(buildS, 2),
    index_bytes: indexBytes,
    best_at_recall_0_95: best,
    results,
  },
  values.json ?? false,
);
