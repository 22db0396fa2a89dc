/**
 * Exact MaxSim on the native kernels: rerank candidate lists, brute-force top-k (ground truth),
 * and LEMUR's target matrix. All calls run off the event loop and return Promises; do not
 * modify inputs until the promise settles.
 *
 * MaxSim(Q, D) = Σ over query tokens q of max over doc tokens d of ⟨q, d⟩.
 */
import { config, type KernelName } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import { binding, callNative } from './binding.js';
import {
  assertBigInt64Array,
  assertCounts,
  assertFinite,
  assertFloat32Array,
  assertInt,
  assertInt32Array,
  assertPositions,
} from './check.js';
import { withProgress, type ProgressCallback } from './progress.js';
import type { TokenStore } from './token-store.js';

export interface MaxsimOptions {
  /** Threads for this call. @defaultValue LEMUR_THREADS, else the machine's cores */
  threads?: number;
  /** Force a kernel for this call (tests, benchmarks). @defaultValue LEMUR_KERNEL, else the best available */
  kernel?: KernelName;
}

/** Per-query results, flat: row i is labels/distances [i*k, (i+1)*k). Label -1 = no result. */
export class SearchResult {
  constructor(
    readonly nq: number,
    readonly k: number,
    readonly labels: BigInt64Array,
    readonly distances: Float32Array,
  ) {}

  /** Query i's labels and scores (views, no copy). */
  row(i: number): { labels: BigInt64Array; distances: Float32Array } {
    assertInt('i', i, { min: 0, max: this.nq - 1 });
    return { labels: this.labels.subarray(i * this.k, (i + 1) * this.k), distances: this.distances.subarray(i * this.k, (i + 1) * this.k) };
  }
}

function nativeOptions(o: MaxsimOptions): [number, string] {
  const threads = o.threads ?? config().threads;
  assertInt('threads', threads, { min: 1, max: 1024 });
  if (o.kernel !== undefined && !['scalar', 'avx2', 'avx512'].includes(o.kernel)) {
    throw new InvalidArgumentError(`Expected kernel 'scalar', 'avx2' or 'avx512' but received '${String(o.kernel)}'`);
  }
  return [threads, o.kernel ?? ''];
}

function checkQueries(queries: Float32Array, queryCounts: Int32Array, dim: number): void {
  assertFloat32Array('queries', queries);
  assertInt32Array('queryCounts', queryCounts);
  if (queryCounts.length === 0) throw new InvalidArgumentError('Expected at least one query but received queryCounts of length 0');
  assertCounts('queryCounts', queryCounts, 'queries', queries, dim);
  assertFinite('queries', queries, dim);
}

/**
 * Reranks candidate docs of each query by exact MaxSim and keeps the k best.
 * @param queries sum(queryCounts) × store.dim values, query after query
 * @param queryCounts tokens per query (any length ≥ 1)
 * @param candidates nq × kPrime doc positions of the store (-1 = no candidate); kPrime = candidates.length / nq
 * @param k results per query, 1 ≤ k ≤ kPrime
 * @returns per query the top-k positions by MaxSim, descending, ties to the lower position;
 *   duplicate candidates count once; missing results are label -1, score -Infinity
 * @throws InvalidArgumentError (shapes, ranges), InputDataError (non-finite query values), ClosedError
 * @example
 * const r = await maxsimRerank(q, new Int32Array([32]), store, new BigInt64Array([5n, 9n, 2n]), 2);
 * r.row(0).labels; // BigInt64Array [9n, 5n]
 */
export async function maxsimRerank(
  queries: Float32Array,
  queryCounts: Int32Array,
  store: TokenStore,
  candidates: BigInt64Array,
  k: number,
  options: MaxsimOptions = {},
): Promise<SearchResult> {
  const handle = store.nativeHandle();
  checkQueries(queries, queryCounts, store.dim);
  assertBigInt64Array('candidates', candidates);
  const nq = queryCounts.length;
  if (candidates.length === 0 || candidates.length % nq !== 0) {
    throw new InvalidArgumentError(`Expected candidates.length to be a positive multiple of nq = ${nq} but received ${candidates.length}`);
  }
  const kPrime = candidates.length / nq;
  assertInt('k', k, { min: 1, max: kPrime });
  assertPositions('candidates', candidates, store.nDocs, true);
  const [threads, kernel] = nativeOptions(options);
  const r = await callNative(() => binding.maxsimRerank(queries, queryCounts, handle, candidates, kPrime, k, threads, kernel), store.path);
  return new SearchResult(nq, k, r.labels, r.distances);
}

/**
 * Exact brute-force MaxSim top-k over every document of the store (ground truth). Memory is
 * O(nq·k) beyond the inputs whatever the store size.
 * @param k 1 ≤ k ≤ store.nDocs
 * @throws InvalidArgumentError, InputDataError, ClosedError
 */
export async function maxsimExactTopK(
  queries: Float32Array,
  queryCounts: Int32Array,
  store: TokenStore,
  k: number,
  options: MaxsimOptions = {},
): Promise<SearchResult> {
  const handle = store.nativeHandle();
  checkQueries(queries, queryCounts, store.dim);
  assertInt('k', k, { min: 1, max: Math.max(1, store.nDocs) });
  if (store.nDocs === 0) throw new InvalidArgumentError('Expected a non-empty token store');
  const [threads, kernel] = nativeOptions(options);
  const r = await callNative(() => binding.maxsimExactTopK(queries, queryCounts, handle, k, threads, kernel), store.path);
  return new SearchResult(queryCounts.length, k, r.labels, r.distances);
}

export interface TargetsOptions extends MaxsimOptions {
  /** Preallocated n × docIndices.length output (a multi-GB Y is then never allocated twice). */
  out?: Float32Array;
  /**
   * Progress in learn vectors (rows of Y; a row counts as it fills): at most every ~200 ms, then
   * (n, n) before the promise resolves. Does not change a bit of Y.
   */
  onProgress?: ProgressCallback;
}

/**
 * LEMUR's targets: Y[i·m + j] = max over tokens c of doc docIndices[j] of ⟨x_i, c⟩.
 * @param vectors n × store.dim probe vectors
 * @param docIndices m doc positions of the store
 * @returns Y, n × m row-major (options.out when given)
 * @throws InvalidArgumentError, InputDataError, ClosedError; whatever onProgress throws
 * @example
 * const Y = await maxsimTargets(learn, store, docIndices, { onProgress: (done, total) => bar.update(done, { total }) });
 */
export async function maxsimTargets(
  vectors: Float32Array,
  store: TokenStore,
  docIndices: BigInt64Array,
  options: TargetsOptions = {},
): Promise<Float32Array> {
  const handle = store.nativeHandle();
  assertFloat32Array('vectors', vectors);
  if (vectors.length === 0 || vectors.length % store.dim !== 0) {
    throw new InvalidArgumentError(`Expected vectors.length to be a positive multiple of dim = ${store.dim} but received ${vectors.length}`);
  }
  assertFinite('vectors', vectors, store.dim);
  assertBigInt64Array('docIndices', docIndices);
  if (docIndices.length === 0) throw new InvalidArgumentError('Expected at least one doc index');
  assertPositions('docIndices', docIndices, store.nDocs, false);
  const n = vectors.length / store.dim;
  const out = options.out ?? new Float32Array(n * docIndices.length);
  assertFloat32Array('out', out);
  if (out.length !== n * docIndices.length) {
    throw new InvalidArgumentError(`Expected out.length = ${n} × ${docIndices.length} = ${n * docIndices.length} but received ${out.length}`);
  }
  const [threads, kernel] = nativeOptions(options);
  return withProgress(options.onProgress, n, (onProgress) =>
    callNative(() => binding.maxsimTargets(vectors, handle, docIndices, out, threads, kernel, onProgress), store.path),
  );
}
