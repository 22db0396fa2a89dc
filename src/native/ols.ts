/**
 * LEMUR's OLS stage in native code: the pinned basis pinv(Z), per-document weight rows, target
 * standardisation, exact inner-product top-k over W, and gathering token rows from a store.
 */
import { config, type KernelName } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import { binding, callNative } from './binding.js';
import { assertBigInt64Array, assertFinite, assertFloat32Array, assertInt, assertPositions } from './check.js';
import { SearchResult } from './maxsim.js';
import { withProgress, type ProgressCallback } from './progress.js';
import type { TokenStore } from './token-store.js';

/**
 * pinv(Z)ᵀ (s × h) by SVD, dropping singular values below ε·max(s, h)·σmax.
 * @param Z s × h, s ≥ h
 */
export async function olsBasis(Z: Float32Array, h: number, options: { threads?: number } = {}): Promise<{ pinvT: Float32Array; rank: number }> {
  assertFloat32Array('Z', Z);
  assertInt('h', h, { min: 1 });
  if (Z.length % h !== 0) throw new InvalidArgumentError(`Expected Z.length to be a multiple of h = ${h} but received ${Z.length}`);
  if (Z.length / h < h) throw new InvalidArgumentError(`Expected at least h = ${h} sample rows for OLS but received ${Z.length / h}`);
  assertFinite('Z', Z, h);
  return callNative(() => binding.olsBasis(Z, h, options.threads ?? config().threads));
}

export interface OlsWeightsInput {
  /** The pinned OLS sample, s × dim token vectors. */
  sample: Float32Array;
  /** pinv(ψ(sample))ᵀ, s × h. */
  pinvT: Float32Array;
  h: number;
  /** Standardisation of the targets (the model's). */
  mean: number;
  std: number;
}

export interface OlsWeightsOptions {
  /** @defaultValue LEMUR_THREADS */
  threads?: number;
  /** @defaultValue LEMUR_KERNEL, else the best available */
  kernel?: KernelName;
  /** Preallocated docIndices.length × h output. */
  out?: Float32Array;
  /**
   * Progress in documents (a block of documents counts as its targets fill): at most every
   * ~200 ms, then (total, total) before the promise resolves. Does not change a bit of W.
   */
  onProgress?: ProgressCallback;
}

/**
 * W rows (docIndices.length × h) for documents of a store: pinv(Z) · ((Y_j − mean)/std).
 * Bit-identical for a document whatever else is weighted in the same call.
 * @throws InvalidArgumentError, ClosedError; whatever onProgress throws
 */
export async function olsWeights(store: TokenStore, input: OlsWeightsInput, docIndices: BigInt64Array, options: OlsWeightsOptions = {}): Promise<Float32Array> {
  const handle = store.nativeHandle();
  const { sample, pinvT, h, mean, std } = input;
  assertFloat32Array('sample', sample);
  assertFloat32Array('pinvT', pinvT);
  assertBigInt64Array('docIndices', docIndices);
  assertPositions('docIndices', docIndices, store.nDocs, false);
  if (sample.length % store.dim !== 0) throw new InvalidArgumentError(`Expected the OLS sample to have the store's dim ${store.dim}`);
  if (pinvT.length !== (sample.length / store.dim) * h) throw new InvalidArgumentError(`Expected pinvT of ${(sample.length / store.dim) * h} values but received ${pinvT.length}`);
  const out = options.out ?? new Float32Array(docIndices.length * h);
  if (out.length !== docIndices.length * h) throw new InvalidArgumentError(`Expected out.length = ${docIndices.length * h} but received ${out.length}`);
  const threads = options.threads ?? config().threads;
  return withProgress(options.onProgress, docIndices.length, (onProgress) =>
    callNative(() => binding.olsWeights(handle, sample, pinvT, h, mean, std, docIndices, out, threads, options.kernel ?? '', onProgress), store.path),
  );
}

/**
 * W rows from standardised targets: out (nb × h) = Yᵀ · pinvT, with Y the s × nb targets of nb
 * documents (column j = document j) — the projection step of {@link olsWeights}. Each element
 * is one fused multiply-add chain over the s rows in ascending order, on every kernel: a row's
 * bits depend only on its own column of Y and on pinvT.
 */
export async function olsProject(
  Y: Float32Array,
  nb: number,
  pinvT: Float32Array,
  h: number,
  options: { threads?: number; kernel?: KernelName; out?: Float32Array } = {},
): Promise<Float32Array> {
  assertFloat32Array('Y', Y);
  assertFloat32Array('pinvT', pinvT);
  assertInt('nb', nb, { min: 1 });
  assertInt('h', h, { min: 1 });
  if (Y.length % nb !== 0) throw new InvalidArgumentError(`Expected Y.length to be a multiple of nb = ${nb} but received ${Y.length}`);
  const s = Y.length / nb;
  if (pinvT.length !== s * h) throw new InvalidArgumentError(`Expected pinvT of ${s} × ${h} = ${s * h} values but received ${pinvT.length}`);
  const out = options.out ?? new Float32Array(nb * h);
  if (out.length !== nb * h) throw new InvalidArgumentError(`Expected out.length = ${nb * h} but received ${out.length}`);
  return callNative(() => binding.olsProject(Y, nb, pinvT, h, out, options.threads ?? config().threads, options.kernel ?? ''));
}

/** (Y − mean)/std in place with the global mean and population std; returns them. */
export async function standardizeTargets(Y: Float32Array, options: { threads?: number } = {}): Promise<{ mean: number; std: number }> {
  assertFloat32Array('Y', Y);
  return callNative(() => binding.standardize(Y, options.threads ?? config().threads));
}

/**
 * Exact inner-product top-k of features (nq × h) over the rows of W (n × h), by blocked sgemm.
 * Labels are row positions of W.
 */
export async function innerProductTopK(features: Float32Array, W: Float32Array, h: number, k: number, options: { threads?: number } = {}): Promise<SearchResult> {
  assertFloat32Array('features', features);
  assertFloat32Array('W', W);
  assertInt('h', h, { min: 1 });
  if (features.length % h !== 0 || W.length % h !== 0) throw new InvalidArgumentError(`Expected features and W with ${h} columns`);
  const n = W.length / h;
  assertInt('k', k, { min: 1, max: Math.max(1, n) });
  const r = await callNative(() => binding.ipTopK(features, W, h, k, options.threads ?? config().threads));
  return new SearchResult(features.length / h, k, r.labels, r.distances);
}

/** Token rows of a store by global token index (n × dim, fp16 widened). */
export async function gatherTokens(store: TokenStore, tokenIndices: BigInt64Array): Promise<Float32Array> {
  const handle = store.nativeHandle();
  assertBigInt64Array('tokenIndices', tokenIndices);
  const out = new Float32Array(tokenIndices.length * store.dim);
  return callNative(() => binding.gatherTokens(handle, tokenIndices, out), store.path);
}
