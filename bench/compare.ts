/**
 * Our figures beside the reference LEMUR's for this CPU kind (AVX-512 or AVX2-only) on the same
 * dataset, with ratios and the issue goals. Runs the maxsim, lemur and query benchmarks one after
 * another in child processes (never two at once: two cores), or takes their JSON from earlier
 * runs (`--maxsim F --lemur F --query F`). The reference's figures are those of
 * ../shared/reference/README.md (bench/lib/reference-figures.ts); its runs were on another day,
 * so each ratio also carries what the in-run baselines say (FMA peak, recall).
 *
 * On AVX-512 CPUs the reference ran with OPENBLAS_CORETYPE=SkylakeX: the child benchmarks get
 * the same unless the environment sets a core already (`--blas-as-is` leaves it alone).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { kernelInfo } from '../src/native/cpu.js';
import { makeTmpDir } from '../test/helpers/tmp-dir.js';
import { machineInfo } from './lib/machine.js';
import { REFERENCE_PEAK_GFLOPS_1T, referenceFigures, type CpuKind } from './lib/reference-figures.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    json: { type: 'boolean', default: false },
    maxsim: { type: 'string' },
    lemur: { type: 'string' },
    query: { type: 'string' },
    'blas-as-is': { type: 'boolean', default: false },
  },
  strict: true,
});
if (!values.data) {
  process.stderr.write('usage: npm run bench -- compare --data DIR [--json] [--maxsim F] [--lemur F] [--query F] [--blas-as-is]\n');
  process.exit(2);
}
// The kernel in use decides the kind: LEMUR_KERNEL=avx2 on an AVX-512 CPU compares with the
// AVX2-only reference (with OPENBLAS_CORETYPE=Haswell or Zen, what such a CPU's OpenBLAS picks).
const cpuKind: CpuKind = kernelInfo().kernel === 'avx512' ? 'avx512' : 'avx2';
const childEnv = { ...process.env };
if (cpuKind === 'avx512' && !values['blas-as-is'] && !childEnv['OPENBLAS_CORETYPE']) childEnv['OPENBLAS_CORETYPE'] = 'SkylakeX';
const tmp = makeTmpDir('lemur-compare-');
const modelPath = join(tmp.dir, 'model.lemur');

// the child benchmarks' JSON, read by key
type Json = Record<string, any>;

function run(file: string, args: string[]): Json {
  progress(`running ${file} ${args.join(' ')} (OPENBLAS_CORETYPE=${childEnv['OPENBLAS_CORETYPE'] ?? 'auto'})`);
  const r = spawnSync(process.execPath, [fileURLToPath(new URL(file, import.meta.url)), '--data', values.data!, '--json', ...args], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${file} exited with ${r.status}`);
  return JSON.parse(r.stdout.toString()) as Json;
}
const load = (path: string | undefined, file: string, args: string[]): Json => (path ? (JSON.parse(readFileSync(path, 'utf8')) as Json) : run(file, args));

const maxsim = load(values.maxsim, 'maxsim-kernel.js', []);
const lemur = load(values.lemur, 'lemur.js', ['--save-model', modelPath]);
const query = load(values.query, 'query-engine.js', ['--model', modelPath]);
tmp.cleanup();

/** Our value (and recall, for query figures) for each reference key. */
function ours(): Record<string, { value: number; recall?: number; note?: string }> {
  const o: Record<string, { value: number; recall?: number; note?: string }> = {};
  o['maxsim_gflops_1t'] = { value: maxsim['rerank_gflops_1t'] };
  o['maxsim_gflops_2t'] = { value: maxsim['rerank_gflops_2t'] };
  const nq: number = lemur['dataset']?.['queries'] ?? 1000;
  for (const row of lemur['query'] as Json[]) {
    o[`qps_bruteforce_k${row['kprime']}`] = { value: row['qps'], recall: row['recall_at_10'] };
    if (row['kprime'] === 100) o['features_s_per_1000'] = { value: round((row['seconds']['features'] * 1000) / nq, 4) };
  }
  const candidates = [
    ...(lemur['query'] as Json[]).map((r) => ({ qps: r['qps'], recall: r['recall_at_10'], note: `lemur bench: sgemm scan, k' ${r['kprime']}` })),
    ...(query['results'] as Json[]).map((r) => ({ qps: r['qps'], recall: r['recall_at_10'], note: `query bench: ${r['candidates']} k' ${r['kprime']}${r['ef_search'] ? ` ef ${r['ef_search']}` : ''}` })),
  ].filter((c) => c.recall >= 0.95);
  const best = candidates.sort((a, b) => b.qps - a.qps)[0];
  if (best) o['best_qps_at_recall_0_95'] = { value: best.qps, recall: best.recall, note: best.note };
  const single = (query['results'] as Json[]).find((r) => r['kprime'] === 200 && r['candidates'] === 'bruteforce');
  if (single) o['single_query_p50_ms'] = { value: single['p50_ms'], recall: single['recall_at_10'], note: 'brute-force scan of W, as the reference (our threaded dot pass for one query)' };
  for (const key of ['targets_s', 'train_s_per_epoch', 'fit_s', 'fit_peak_rss_gb', 'ols_docs_per_s']) o[key] = { value: lemur[key] };
  o['hnsw_build_docs_per_s'] = { value: query['build_docs_per_s'] };
  const h = (query['results'] as Json[]).find((r) => r['candidates'] === 'hnsw' && r['kprime'] === 200 && r['ef_search'] === 200);
  if (h) o['hnsw_qps_k200_ef200'] = { value: h['qps'], recall: h['recall_at_10'] };
  return o;
}

const mine = ours();
const docs: number = lemur['dataset']?.['docs'] ?? 0;
// This machine's peak against the reference machine's: the same CPU kind is not the same CPU.
const peak: number | null = maxsim['peak_gflops_1t'] ?? null;
const peakRatio = peak ? peak / REFERENCE_PEAK_GFLOPS_1T[cpuKind] : null;
const rows = referenceFigures(cpuKind, docs).map((f) => {
  const m = mine[f.key];
  const ratio = m && f.value ? m.value / f.value : null;
  // how many times better than the reference (> 1 = ahead), whichever direction is better
  const advantage = ratio === null ? null : f.better === 'higher' ? ratio : 1 / ratio;
  const met = f.goal === undefined || ratio === null ? null : f.better === 'higher' ? ratio >= f.goal : ratio <= f.goal;
  return {
    key: f.key,
    figure: f.label,
    unit: f.unit,
    reference: f.value,
    ours: m?.value ?? null,
    ratio: ratio === null ? null : round(ratio, 3),
    advantage: advantage === null ? null : round(advantage, 2),
    // the advantage per unit of FMA peak: what the same code would show on the reference's CPU
    // if the figure scales with the peak (an estimate, not a measurement)
    advantage_per_peak: advantage === null || peakRatio === null || f.notCompute ? null : round(advantage / peakRatio, 2),
    goal: f.goal === undefined ? null : `${f.better === 'higher' ? '≥' : '≤'} ${f.goal}×`,
    met,
    ...(f.recall !== undefined ? { recall_reference: f.recall } : {}),
    ...(m?.recall !== undefined ? { recall_ours: m.recall } : {}),
    ...(m?.note ? { note: m.note } : {}),
  };
});
if (rows.length === 0) progress(`no reference figures for ${docs} docs on ${cpuKind}: the table is empty`);

emit(
  {
    bench: 'compare',
    machine: machineInfo(),
    dataset: lemur['dataset'],
    cpu_kind: cpuKind,
    blas_coretype: childEnv['OPENBLAS_CORETYPE'] ?? null,
    peak_gflops_1t: peak,
    reference_peak_gflops_1t: REFERENCE_PEAK_GFLOPS_1T[cpuKind],
    peak_ratio: peakRatio === null ? null : round(peakRatio, 3),
    rows,
    runs: { maxsim, lemur, query },
  },
  values.json ?? false,
);
