/**
 * The query half of `bench scale`, in a fresh process so its memory is the serving process's own:
 * opens a published version (token stores and HNSW indexes memory-mapped), computes the
 * exact MaxSim top-10 of the queries with our kernel over the stored tokens (ground truth without
 * holding the corpus in RAM), then per k'/efSearch the batched QPS, recall@10 and single-query
 * p50/p99 through HNSW (after one untimed warm-up search), and once the exact scan of the stored
 * rows as candidates. Prints one JSON
 * object; RssAnon is what the version costs in anonymous memory (mapped files come on top).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { setLogLevel } from '../src/log.js';
import { openVersion } from '../src/query/open-version.js';
import type { CandidateSource, EngineResult } from '../src/query/query-engine.js';
import { LocalStore } from '../src/store/local-store.js';
import { GiB, MemorySampler, procMemory } from '../test/helpers/proc-memory.js';
import { progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    version: { type: 'string' },
    queries: { type: 'string' },
    counts: { type: 'string' },
    settings: { type: 'string', default: '100/100,200/200,500/500,1000/1000' },
    single: { type: 'string', default: '50' },
  },
  strict: true,
});
setLogLevel('warn');
const buf = readFileSync(values.queries!);
const queries = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
const cbuf = readFileSync(values.counts!);
const counts = new Int32Array(cbuf.buffer, cbuf.byteOffset, cbuf.byteLength / 4);
const nq = counts.length;
const dim = queries.length / counts.reduce((a, c) => a + c, 0);
const offsets = [0];
for (const c of counts) offsets.push(offsets.at(-1)! + c);

const sampler = new MemorySampler(100);
sampler.watch('self', 'self');
const gib = (b: number): number => round(b / GiB, 2);

let t0 = performance.now();
const opened = await openVersion(new LocalStore(values.store!), values.version);
const openS = (performance.now() - t0) / 1000;
const afterOpen = procMemory()!;
progress(`opened ${opened.manifest.docs} docs in ${round(openS, 1)} s: RssAnon ${gib(afterOpen.rssAnon)} GiB, RssFile ${gib(afterOpen.rssFile)} GiB`);
const { engine } = opened;

t0 = performance.now();
const truth = await engine.exact(queries, counts, { k: 10 });
const exactS = (performance.now() - t0) / 1000;
progress(`exact top-10 of ${nq} queries: ${round(exactS, 1)} s`);

function recallAt10(r: EngineResult): number {
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const want = new Set(truth.row(q).ids.map(String));
    for (const id of r.row(q).ids.slice(0, 10)) if (id !== null && want.has(String(id))) hit++;
  }
  return hit / (10 * nq);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

// one untimed batched search first: the exact pass above read every token store, so the
// indexes' pages may have left the page cache; the first setting would pay for bringing them back
await engine.search(queries, counts, { k: 10, kPrime: 100, efSearch: 100, candidates: 'hnsw' });

const settings = [];
for (const s of values.settings!.split(',')) {
  const [kPrime, efSearch] = s.split('/').map(Number) as [number, number];
  const opts = { k: 10, kPrime, efSearch, candidates: 'hnsw' as CandidateSource };
  t0 = performance.now();
  const r = await engine.search(queries, counts, opts);
  const batchS = (performance.now() - t0) / 1000;
  const lat: number[] = [];
  for (let q = 0; q < Math.min(nq, Number(values.single)); q++) {
    const one = queries.subarray(offsets[q]! * dim, offsets[q + 1]! * dim);
    const t = performance.now();
    await engine.search(one, counts.subarray(q, q + 1), opts);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  const row = { kPrime, efSearch, recall_at_10: round(recallAt10(r), 4), batched_qps: round(nq / batchS, 1), single_p50_ms: round(percentile(lat, 0.5), 2), single_p99_ms: round(percentile(lat, 0.99), 2) };
  progress(JSON.stringify(row));
  settings.push(row);
}

// the exact scan of every stored row as candidates: what HNSW approximates, at the first k'
const k0 = settings[0]!.kPrime;
t0 = performance.now();
const scan = await engine.search(queries, counts, { k: 10, kPrime: k0, candidates: 'bruteforce' });
const scanS = (performance.now() - t0) / 1000;
const best = settings.reduce((a, b) => (b.recall_at_10 > a.recall_at_10 ? b : a));
const peak = sampler.peaks()['self']!;
sampler.stop();
opened.close();
process.stdout.write(
  `${JSON.stringify({
    queries: nq,
    open_s: round(openS, 1),
    rss_anon_after_open_gib: gib(afterOpen.rssAnon),
    rss_file_after_open_gib: gib(afterOpen.rssFile),
    rss_anon_gib: gib(peak.rssAnon),
    vm_hwm_gib: gib(peak.vmHwm),
    exact_top10_s: round(exactS, 1),
    hnsw: settings,
    best,
    scan_candidates: { kPrime: k0, recall_at_10: round(recallAt10(scan), 4), batched_qps: round(nq / scanS, 1) },
  })}\n`,
);
