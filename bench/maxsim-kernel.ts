/**
 * Claim: the MaxSim kernel runs close to the core's FMA peak. Measures, in one run, the fp32 FMA
 * peak of the kernel in use (LEMUR_KERNEL, else the best: two probe shapes sized to that ISA's
 * registers), exact rerank of random candidates (fp32 and fp16 stores, 1 and 2 threads, every
 * kernel at 1 thread), an L2-resident rerank (kernel-bound), and the targets kernel.
 * FLOPs = 2 × query tokens × doc tokens × dim per (query, doc).
 */
import { join } from 'node:path';

import type { KernelName } from '../src/config.js';
import { Random } from '../src/data/random.js';
import { fmaPeak, kernelInfo, type FmaPeak } from '../src/native/cpu.js';
import { maxsimRerank, maxsimTargets } from '../src/native/maxsim.js';
import { TokenStore, type StoreDType } from '../src/native/token-store.js';
import { makeTmpDir } from '../test/helpers/tmp-dir.js';
import { loadBenchDataset } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { benchArgs, emit, progress } from './lib/report.js';
import { round, timeRuns } from './lib/timer.js';

const args = benchArgs();
const ds = loadBenchDataset(args.data, { docs: args.quick ? 2000 : 10000, queries: 200, seed: 42 });
const { corpus } = ds;
const dim = corpus.dim;
const nDocs = corpus.docCounts.length;
const tmp = makeTmpDir('lemur-bench-');

// 32-token queries: the first queries of the dataset that have exactly 32 tokens
const qOff: number[] = [0];
for (const c of corpus.queryCounts) qOff.push(qOff[qOff.length - 1]! + c);
const pick = [...corpus.queryCounts.keys()].filter((i) => corpus.queryCounts[i] === 32).slice(0, args.quick ? 20 : 100);
const nq = pick.length;
const queries = new Float32Array(nq * 32 * dim);
pick.forEach((qi, i) => queries.set(corpus.queryVectors.subarray(qOff[qi]! * dim, (qOff[qi]! + 32) * dim), i * 32 * dim));
const queryCounts = new Int32Array(nq).fill(32);

async function openStore(dtype: StoreDType): Promise<TokenStore> {
  const path = join(tmp.dir, `bench-${dtype}.lts`);
  progress(`writing ${dtype} token store (${nDocs} docs)`);
  await TokenStore.write(path, { vectors: corpus.docVectors, counts: corpus.docCounts, dim, ids: BigInt64Array.from({ length: nDocs }, (_, i) => BigInt(i)), dtype });
  return TokenStore.open(path);
}

function candidates(kPrime: number, pool: number, seed: number): BigInt64Array {
  const rng = new Random(seed);
  const c = new BigInt64Array(nq * kPrime);
  for (let i = 0; i < c.length; i++) c[i] = BigInt(rng.int(pool));
  return c;
}

function flopsOf(cand: BigInt64Array): { flops: number; docs: number } {
  let tokens = 0;
  for (const j of cand) tokens += corpus.docCounts[Number(j)]!;
  return { flops: 2 * 32 * dim * tokens, docs: cand.length };
}

const peakSamples: FmaPeak[] = [];

interface Row {
  kernel: KernelName;
  dtype: StoreDType;
  threads: number;
  /** random: the whole batch in one call (grouped by document); random_single: one call per query */
  candidates: 'random' | 'random_single' | 'l2_resident';
  /** from the median run */
  gflops: number;
  /** from the fastest run */
  gflops_best: number;
  /** the FMA peak sampled right before this row (best and median ~10 ms sample) */
  peak_gflops: number;
  peak_median_gflops: number;
  /** median GFLOP/s over threads x the best peak sample of the row's ISA in this run */
  ratio_to_peak?: number;
  docs_per_s: number;
  median_s: number;
  spread_s: [number, number];
}

async function rerankRow(store: TokenStore, kernel: KernelName, threads: number, cand: BigInt64Array, kind: Row['candidates']): Promise<Row> {
  const { flops, docs } = flopsOf(cand);
  // The machine is shared: sample the peak next to each row so each ratio compares like times.
  const p = await fmaPeak(kernel, 0.2);
  peakSamples.push(p);
  const kp = cand.length / nq;
  const call =
    kind === 'random_single'
      ? async (): Promise<void> => {
          for (let i = 0; i < nq; i++) {
            await maxsimRerank(queries.subarray(i * 32 * dim, (i + 1) * 32 * dim), queryCounts.subarray(i, i + 1), store, cand.subarray(i * kp, (i + 1) * kp), 10, { kernel, threads });
          }
        }
      : async (): Promise<void> => {
          await maxsimRerank(queries, queryCounts, store, cand, 10, { kernel, threads });
        };
  const t = await timeRuns(call, args.quick ? 3 : 5);
  const row: Row = {
    kernel,
    dtype: store.dtype,
    threads,
    candidates: kind,
    gflops: round(flops / t.median_s / 1e9, 1),
    gflops_best: round(flops / t.min_s / 1e9, 1),
    peak_gflops: round(p.gflops, 1),
    peak_median_gflops: round(p.medianGflops, 1),
    docs_per_s: Math.round(docs / t.median_s),
    median_s: round(t.median_s, 4),
    spread_s: [round(t.min_s, 4), round(t.max_s, 4)],
  };
  progress(JSON.stringify(row));
  return row;
}

const info = kernelInfo();
// The kernel under test is the one in use, so LEMUR_KERNEL=avx2 measures the AVX2 kernel (what
// AVX2-only CPUs run) against the AVX2 peak on an AVX-512 machine.
const tested = info.kernel;
progress(`measuring the ${tested} FMA peak`);
const peak = await fmaPeak(tested, 0.5);
progress(`peak: ${JSON.stringify(peak)}`);
const s32 = await openStore('float32');
const s16 = await openStore('float16');
const kPrime = args.quick ? 200 : 1000;
const random = candidates(kPrime, nDocs, 1);
// ~28 docs (~1 MB fp32) that stay in L2: the kernel's own speed, without memory stalls
const hot = candidates(kPrime, Math.min(28, nDocs), 2);

const rows: Row[] = [];
for (const kernel of info.available) {
  const sub = kernel === 'scalar' ? candidates(Math.max(10, kPrime / 10), nDocs, 3) : random;
  rows.push(await rerankRow(s32, kernel, 1, sub, 'random'));
}
rows.push(await rerankRow(s32, tested, 2, random, 'random'));
rows.push(await rerankRow(s32, tested, 1, random, 'random_single'));
rows.push(await rerankRow(s32, tested, 1, hot, 'l2_resident'));
rows.push(await rerankRow(s16, tested, 1, random, 'random'));
rows.push(await rerankRow(s16, tested, 2, random, 'random'));
rows.push(await rerankRow(s16, tested, 1, hot, 'l2_resident'));

// targets: 4096 probe vectors (doc tokens) × 512 docs, single thread
const nProbe = args.quick ? 1024 : 4096;
const probes = corpus.docVectors.subarray(0, nProbe * dim);
const tdocs = BigInt64Array.from({ length: Math.min(512, nDocs) }, (_, i) => BigInt((i * 7919) % nDocs));
let tTokens = 0;
for (const j of tdocs) tTokens += corpus.docCounts[Number(j)]!;
const out = new Float32Array(nProbe * tdocs.length);
const tt = await timeRuns(() => maxsimTargets(probes, s32, tdocs, { out, threads: 1 }), 3);
const targetsGflops = (2 * nProbe * tTokens * dim) / tt.median_s / 1e9;
progress(`targets ${round(targetsGflops, 1)} GFLOP/s`);

// The core's capability is the best peak sample seen anywhere in this run: a row whose
// neighbouring sample was depressed by another tenant must not look better than it is.
const same = [peak, ...peakSamples.filter((p) => p.isa === tested)];
const peakBest = Math.max(...same.map((p) => p.gflops));
// per probe shape, the best sample of the run
const probeRows = peak.probes.map((pr, i) => ({
  name: pr.name,
  chains: pr.chains,
  gflops: round(Math.max(...same.map((p) => p.probes[i]!.gflops)), 1),
  median_gflops: round(pr.medianGflops, 1),
}));
const topProbe = same.find((p) => p.gflops === peakBest)!.probe;
for (const r of rows) {
  const isaPeak = Math.max(...peakSamples.filter((p) => p.isa === r.kernel).map((p) => p.gflops), r.kernel === tested ? peakBest : 0);
  r.ratio_to_peak = round(r.gflops / (r.threads * isaPeak), 3);
}
const find = (p: Partial<Row>): Row => rows.find((r) => Object.entries(p).every(([k, v]) => r[k as keyof Row] === v))!;
const r1 = find({ kernel: tested, dtype: 'float32', threads: 1, candidates: 'random' });
const r2 = find({ kernel: tested, dtype: 'float32', threads: 2, candidates: 'random' });
const hot1 = find({ kernel: tested, dtype: 'float32', threads: 1, candidates: 'l2_resident' });
const f16 = find({ kernel: tested, dtype: 'float16', threads: 1, candidates: 'random' });
s32.close();
s16.close();
tmp.cleanup();

emit(
  {
    bench: 'maxsim',
    machine: machineInfo(),
    dataset: ds.summary,
    shape: { query_tokens: 32, dim, mean_doc_tokens: round(corpus.docVectors.length / dim / nDocs, 1), queries: nq, kprime: kPrime },
    kernel: info.kernel,
    peak_gflops_1t: round(peakBest, 1),
    // the probe that set the peak, and both probe shapes (a cross-check of each other)
    peak_probe: { isa: tested, name: topProbe.name, chains: topProbe.chains },
    peak_probes: probeRows,
    peak_median_gflops_1t: round(peak.medianGflops, 1),
    rerank_gflops_1t: r1.gflops,
    rerank_gflops_2t: r2.gflops,
    ratio_2t: r2.ratio_to_peak,
    rerank_docs_per_s_1t: r1.docs_per_s,
    // capability over capability: fastest run against the best peak sample of the run
    ratio_1t: round(r1.gflops_best / peakBest, 3),
    // typical over typical: median run against the median peak sample taken next to it
    ratio_median_1t: round(r1.gflops / r1.peak_median_gflops, 3),
    rerank_single_query_gflops_1t: find({ kernel: tested, dtype: 'float32', threads: 1, candidates: 'random_single' }).gflops,
    rerank_l2_resident_gflops_1t: hot1.gflops,
    ratio_l2_resident_1t: round(hot1.gflops_best / peakBest, 3),
    rerank_fp16_gflops_1t: f16.gflops,
    targets_gflops_1t: round(targetsGflops, 1),
    scalar_gflops_1t: find({ kernel: 'scalar' }).gflops,
    speedup_vs_scalar_1t: round(r1.gflops / find({ kernel: 'scalar' }).gflops, 1),
    rows,
  },
  args.json,
);
