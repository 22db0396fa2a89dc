/**
 * LEMUR search over one token store with brute-force candidates: query features, exact
 * inner-product top-k' over all W rows (sgemm), then exact MaxSim rerank to the top-k, each
 * stage timed. The reference path of tests and benchmarks (bench/lemur.ts); the pipeline serves
 * queries through QueryEngine (src/query/query-engine.ts).
 */
import { InvalidArgumentError } from '../../src/errors.js';
import { maxsimRerank, type SearchResult } from '../../src/native/maxsim.js';
import { innerProductTopK } from '../../src/native/ols.js';
import type { TokenStore } from '../../src/native/token-store.js';
import type { LemurModel } from '../../src/model/lemur-model.js';

export interface LemurSearchOptions {
  /** Results per query. @defaultValue 10 */
  k?: number;
  /** Candidates per query before the rerank. @defaultValue 100 */
  kPrime?: number;
  threads?: number;
}

export interface LemurSearchTimings {
  features_s: number;
  candidates_s: number;
  rerank_s: number;
}

export async function lemurSearch(
  model: LemurModel,
  W: Float32Array,
  store: TokenStore,
  queries: Float32Array,
  queryCounts: Int32Array,
  options: LemurSearchOptions = {},
): Promise<{ result: SearchResult; candidates: SearchResult; timings: LemurSearchTimings }> {
  const k = options.k ?? 10;
  const kPrime = Math.min(options.kPrime ?? 100, store.nDocs);
  if (W.length !== store.nDocs * model.hidden) throw new InvalidArgumentError(`W has ${W.length / model.hidden} rows, the store ${store.nDocs} documents`);
  const th = options.threads !== undefined ? { threads: options.threads } : {};
  let t = performance.now();
  const F = await model.features(queries, queryCounts, th);
  const featuresS = (performance.now() - t) / 1000;
  t = performance.now();
  const candidates = await innerProductTopK(F, W, model.hidden, kPrime, th);
  const candidatesS = (performance.now() - t) / 1000;
  t = performance.now();
  const result = await maxsimRerank(queries, queryCounts, store, candidates.labels, Math.min(k, kPrime), th);
  const rerankS = (performance.now() - t) / 1000;
  return { result, candidates, timings: { features_s: featuresS, candidates_s: candidatesS, rerank_s: rerankS } };
}
