/**
 * Claim: LEMUR fits natively at the reference's quality in far less time and memory. Measures
 * the fit stages (targets, ψ epochs, OLS basis), OLS weights for the whole corpus, and query
 * quality/speed with brute-force candidates (features + sgemm inner-product top-k' over all W
 * rows + exact MaxSim rerank to top-10) for k' ∈ {50, 100, 200, 500, 1000}, all queries batched.
 * Recall is against the dataset's exact-MaxSim ground truth (or ours, computed in the same run,
 * for a generated corpus).
 */
import { parseArgs } from 'node:util';

import { config } from '../src/config.js';
import { setLogLevel } from '../src/log.js';
import { fitLemur, type FitLemurOptions } from '../src/model/fit-lemur.js';
import { lemurSearch } from '../test/helpers/lemur-search.js';
import { openBenchCorpus } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: { data: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false }, 'save-model': { type: 'string' } },
  strict: true,
});
const args = { data: values.data, json: values.json ?? false, quick: values.quick ?? false };
setLogLevel('warn');
const ds = await openBenchCorpus(args.data, args.quick);
const { corpus, nDocs, nq, store, gt } = ds;
const threads = config().threads;

const fitOptions: FitLemurOptions = args.quick ? { mPrime: 2048, nLearn: 30000, olsSamples: 4096, hidden: 1024, epochs: 3 } : {};
progress(`fitting LEMUR ${JSON.stringify(fitOptions)}`);
const epochSeconds: number[] = [];
const { model, timings } = await fitLemur(store, {
  ...fitOptions,
  onEpoch: (e) => {
    epochSeconds.push(e.seconds);
    progress(`epoch ${e.epoch}: loss ${e.trainLoss.toFixed(4)} in ${e.seconds.toFixed(1)} s`);
  },
});
const fitPeakRssGb = process.resourceUsage().maxRSS / 1e6;
progress(`fit done in ${timings.total_s.toFixed(1)} s`);
// compare hands the fitted model on to the query bench, so the fit is not repeated
if (values['save-model']) await model.save(values['save-model']);

let t = performance.now();
const W = await model.weights(store);
const weightsS = (performance.now() - t) / 1000;
progress(`weights: ${(nDocs / weightsS).toFixed(0)} docs/s`);

const query = [];
for (const kPrime of [50, 100, 200, 500, 1000].filter((x) => x <= nDocs)) {
  await lemurSearch(model, W, store, corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime, threads }); // warm-up
  const runs: number[] = [];
  let last;
  for (let i = 0; i < 3; i++) {
    t = performance.now();
    last = await lemurSearch(model, W, store, corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime, threads });
    runs.push((performance.now() - t) / 1000);
  }
  runs.sort((a, b) => a - b);
  const s = runs[1]!;
  let hit = 0;
  let cand = 0;
  for (let q = 0; q < nq; q++) {
    const top10 = new Set(Array.from(gt.subarray(q * 100, q * 100 + 10)));
    const top100 = new Set(Array.from(gt.subarray(q * 100, q * 100 + 100)));
    for (const l of last!.result.row(q).labels) if (top10.has(Number(l))) hit++;
    for (const l of last!.candidates.row(q).labels) if (top100.has(Number(l))) cand++;
  }
  const row = {
    kprime: kPrime,
    qps: Math.round(nq / s),
    recall_at_10: round(hit / (nq * 10), 4),
    cand_recall_at_100: round(cand / (nq * 100), 4),
    seconds: { total: round(s, 4), features: round(last!.timings.features_s, 4), candidates: round(last!.timings.candidates_s, 4), rerank: round(last!.timings.rerank_s, 4) },
  };
  progress(JSON.stringify(row));
  query.push(row);
}
ds.cleanup();

const epochs = model.info.epochs;
emit(
  {
    bench: 'lemur',
    machine: machineInfo(),
    dataset: ds.summary,
    threads,
    blas_coretype: process.env['OPENBLAS_CORETYPE'] ?? null,
    params: model.config,
    targets_s: round(timings.targets_s, 2),
    train_s_per_epoch: epochSeconds.length ? round(epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length, 2) : 0,
    epochs: epochs.length,
    loss_first_last: epochs.length ? [round(epochs[0]!.trainLoss, 4), round(epochs[epochs.length - 1]!.trainLoss, 4)] : [],
    ols_basis_s: round(timings.ols_basis_s, 2),
    fit_s: round(timings.total_s, 2),
    fit_peak_rss_gb: round(fitPeakRssGb, 2),
    ols_weights_s: round(weightsS, 2),
    ols_docs_per_s: Math.round(nDocs / (weightsS + timings.ols_basis_s)),
    ols_docs_per_s_excl_svd: Math.round(nDocs / weightsS),
    ols_rank: model.info.olsRank,
    query,
  },
  args.json,
);
