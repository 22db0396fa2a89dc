/**
 * Claim: OLS weights run at the speed of their targets — the projection pinv(Z)·y_j, computed
 * in a fixed per-document order so a row's bits never depend on the BLAS kernel or the row's
 * place in a batch, adds little on top. Measures, in one run, on the corpus's first documents:
 * olsWeights docs/s (targets + standardise + projection), the targets alone
 * (maxsimTargets on the same docs, the baseline), and the projection alone (olsProject on one
 * 256-document block of those targets, the shape olsWeights uses) in GFLOP/s against the
 * kernel's FMA peak. pinvT is a seeded random s × h matrix: throughput does not depend on a
 * trained model, so no fit is needed.
 */
import { parseArgs } from 'node:util';

import { config } from '../src/config.js';
import { Random } from '../src/data/random.js';
import { fmaPeak } from '../src/native/cpu.js';
import { maxsimTargets } from '../src/native/maxsim.js';
import { gatherTokens, olsProject, olsWeights } from '../src/native/ols.js';
import { setLogLevel } from '../src/log.js';
import { openBenchCorpus } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    docs: { type: 'string' },
    samples: { type: 'string', default: '16384' },
    hidden: { type: 'string', default: '2048' },
  },
  strict: true,
});
setLogLevel('warn');
const quick = values.quick ?? false;
const ds = await openBenchCorpus(values.data, quick);
const { store } = ds;
const threads = config().threads;
const s = Number(values.samples);
const h = Number(values.hidden);
const nDocs = Math.min(store.nDocs, Number(values.docs ?? (quick ? 512 : 2048)));

const rng = new Random(11);
const tokenIdx = BigInt64Array.from(rng.sample(store.nTokens, s), (t) => BigInt(t));
const sample = await gatherTokens(store, tokenIdx);
const pinvT = Float32Array.from({ length: s * h }, () => rng.normal() * 0.01);
const docIdx = BigInt64Array.from({ length: nDocs }, (_, i) => BigInt(i));
const input = { sample, pinvT, h, mean: 0.3, std: 0.1 };

/** Median of three timed runs after one warm-up. */
async function time(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await fn();
    runs.push((performance.now() - t) / 1000);
  }
  return runs.sort((a, b) => a - b)[1]!;
}

progress(`OLS weights for ${nDocs} docs, s = ${s}, h = ${h}, ${threads} threads`);
const weightsS = await time(() => olsWeights(store, input, docIdx, { threads }));
progress(`targets alone for the same docs`);
const targetsS = await time(() => maxsimTargets(sample, store, docIdx, { threads }));
progress(`projection alone (256-doc blocks)`);
const block = Math.min(256, nDocs);
const Y = await maxsimTargets(sample, store, docIdx.subarray(0, block), { threads });
const projectionS = await time(() => olsProject(Y, block, pinvT, h, { threads }));
const projectionGflops = (2 * s * h * block) / projectionS / 1e9;
const kernel = machineInfo().kernel;
const peak = await fmaPeak(kernel as Parameters<typeof fmaPeak>[0], 0.3);

emit(
  {
    bench: 'ols',
    machine: machineInfo(),
    dataset: ds.summary,
    threads,
    docs: nDocs,
    samples: s,
    hidden: h,
    ols_weights_s: round(weightsS, 3),
    ols_docs_per_s: Math.round(nDocs / weightsS),
    targets_s: round(targetsS, 3),
    targets_docs_per_s: Math.round(nDocs / targetsS),
    // how much of a weights call is its targets: 1.0 would mean the projection is free
    targets_share: round(targetsS / weightsS, 3),
    projection_block_s: round(projectionS, 4),
    projection_gflops: round(projectionGflops, 1),
    peak_gflops_1t: round(peak.gflops, 1),
    projection_vs_peak: round(projectionGflops / (peak.gflops * threads), 3),
  },
  values.json ?? false,
);
ds.cleanup();
