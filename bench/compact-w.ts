/**
 * Claim: storing W rows as fp16 or sq8 inside the HNSW index (IpIndex `storage`) cuts the bytes
 * per document to 1/2 and 1/4 of fp32 at a small recall cost, and builds and searches no slower.
 * Measures, in one run, on real W rows (the dataset's documents weighted by a fitted model; --model
 * PATH reuses or saves it, as bench/query-engine.ts): per storage the build time (median of
 * rounds that alternate the storages), bytes per stored row and per document of the index file,
 * batch QPS and recall@10 against the exact fp32 inner-product top-10 at several efSearch, one
 * query at a time (the engine's shape: k' 100, efSearch 200) p50 latency, the exact scan of the
 * stored rows (1 query at a time and batched) with its recall@10, and the engine's end-to-end
 * recall@10 (exact MaxSim rerank of HNSW candidates) against the dataset's ground truth. Every
 * ratio is against fp32 measured in the same run.
 */
import { parseArgs } from 'node:util';

import { config } from '../src/config.js';
import { setLogLevel } from '../src/log.js';
import { IP_STORAGES, IpIndex, type IpStorage } from '../src/native/ip-index.js';
import { innerProductTopK } from '../src/native/ols.js';
import { QueryEngine } from '../src/query/query-engine.js';
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
const h = model.hidden;
progress(`weighting ${nDocs} documents (h = ${h})`);
const W = await model.weights(store, undefined, { threads });
const F = await model.features(corpus.queryVectors, corpus.queryCounts, { threads });
const positions = BigInt64Array.from({ length: nDocs }, (_, i) => BigInt(i));
const exact = await innerProductTopK(F, W, h, 10, { threads });

/** recall@10 of rows of labels (k per query) against the exact fp32 inner-product top-10. */
function ipRecall(labels: BigInt64Array, k: number): number {
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const want = new Set(exact.labels.subarray(q * 10, q * 10 + 10));
    for (let i = 0; i < 10; i++) if (want.has(labels[q * k + i]!)) hit++;
  }
  return hit / (nq * 10);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];

// builds: rounds alternate the storages, so drift of the shared machine hits them alike
const rounds = quick ? 1 : 3;
const buildS: Record<IpStorage, number[]> = { fp32: [], fp16: [], sq8: [] };
const indexes = {} as Record<IpStorage, IpIndex>;
for (let r = 0; r < rounds; r++) {
  for (const storage of IP_STORAGES) {
    progress(`build ${r + 1}/${rounds}: ${storage}`);
    indexes[storage]?.close();
    const ix = IpIndex.create({ d: h, kind: 'hnsw', M: 32, efConstruction: 40, storage });
    const t = performance.now();
    await ix.add(W, positions, { threads });
    buildS[storage].push((performance.now() - t) / 1000);
    indexes[storage] = ix;
  }
}

const qOff: number[] = [0];
for (const c of corpus.queryCounts) qOff.push(qOff[qOff.length - 1]! + c);
const singles = Math.min(nq, quick ? 50 : 200);
const efs = [40, 100, 200, 400];

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, (performance.now() - t) / 1000];
}

const results = [];
for (const storage of IP_STORAGES) {
  const ix = indexes[storage];
  progress(`searching ${storage}`);
  const fileBytes = (await ix.serialize()).length;
  const search = [];
  for (const ef of efs) {
    await ix.search(F, 10, { efSearch: ef, threads }); // warm-up
    const runs: number[] = [];
    let labels: BigInt64Array = new BigInt64Array(0);
    for (let i = 0; i < 3; i++) {
      const [r, s] = await timed(() => ix.search(F, 10, { efSearch: ef, threads }));
      runs.push(s);
      labels = r.labels;
    }
    search.push({ ef_search: ef, qps: Math.round(nq / median(runs)), qps_spread: spread(runs).map((s) => Math.round(nq / s)).reverse(), recall_at_10: round(ipRecall(labels, 10), 4) });
  }
  // one query at a time, the engine's candidate shape (k' 100, efSearch 2k'), and the scan
  const lat: number[] = [];
  const scanLat: number[] = [];
  for (let q = 0; q < singles; q++) {
    const f = F.subarray(q * h, (q + 1) * h);
    lat.push((await timed(() => ix.search(f, 100, { efSearch: 200, threads })))[1] * 1000);
    scanLat.push((await timed(() => ix.scan(f, 100, { threads })))[1] * 1000);
  }
  const [scanAll, scanS] = await timed(() => ix.scan(F, 10, { threads }));
  const engine = new QueryEngine(model, [{ store, ids: positions, W, hnsw: ix }]);
  const e2e = await engine.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: 100, efSearch: 200, candidates: 'hnsw', threads });
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const want = new Set(Array.from(gt.subarray(q * 100, q * 100 + 10)));
    for (let i = 0; i < 10; i++) if (e2e.ids[q * 10 + i] !== null && want.has(Number(e2e.ids[q * 10 + i]))) hit++;
  }
  const row = {
    storage,
    bytes_per_vector: ix.bytesPerVector,
    file_bytes_per_doc: Math.round(fileBytes / nDocs),
    build_s: round(median(buildS[storage]), 3),
    build_s_spread: spread(buildS[storage]).map((s) => round(s, 3)),
    search,
    single_hnsw_k100_ef200_p50_ms: round(median(lat), 3),
    single_scan_k100_p50_ms: round(median(scanLat), 3),
    scan_batch_qps: Math.round(nq / scanS),
    scan_recall_at_10: round(ipRecall(scanAll.labels, 10), 4),
    engine_recall_at_10: round(hit / (nq * 10), 4),
  };
  progress(JSON.stringify(row));
  results.push(row);
}
for (const ix of Object.values(indexes)) ix.close();
model.close();
ds.cleanup();

const base = results[0]!;
const ratios = results.map((r) => ({
  storage: r.storage,
  bytes_per_vector: round(r.bytes_per_vector / base.bytes_per_vector, 3),
  file_bytes: round(r.file_bytes_per_doc / base.file_bytes_per_doc, 3),
  build_time: round(r.build_s / base.build_s, 3),
  qps: Object.fromEntries(r.search.map((s, i) => [`ef_${s.ef_search}`, round(s.qps / base.search[i]!.qps, 3)])),
  single_hnsw_p50: round(r.single_hnsw_k100_ef200_p50_ms / base.single_hnsw_k100_ef200_p50_ms, 3),
  single_scan_p50: round(r.single_scan_k100_p50_ms / base.single_scan_k100_p50_ms, 3),
  scan_batch_qps: round(r.scan_batch_qps / base.scan_batch_qps, 3),
}));
emit(
  {
    bench: 'compact-w',
    machine: machineInfo(),
    dataset: ds.summary,
    threads,
    docs: nDocs,
    queries: nq,
    hidden: h,
    hnsw: { M: 32, ef_construction: 40 },
    build_rounds: rounds,
    single_query_samples: singles,
    results,
    ratio_vs_fp32: ratios,
  },
  values.json ?? false,
);
