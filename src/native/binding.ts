/**
 * Loads the addon and declares its raw surface. Not exported from the package: callers use the
 * typed wrappers (token-store.ts, maxsim.ts, cpu.ts), which validate arguments first.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { config } from '../config.js';
import { ResourceBusyError, fromNativeError } from '../errors.js';

export interface NativeHits {
  labels: BigInt64Array;
  distances: Float32Array;
}

export interface NativeStoreInfo {
  path: string;
  dim: number;
  nDocs: number;
  nTokens: number;
  dtype: 'float32' | 'float16';
  idKind: 'int64' | 'string';
  fileBytes: number;
}

export interface NativeTokenStore {
  close(): void;
  info(): NativeStoreInfo;
  dropResident(): void;
  readIds(): Promise<BigInt64Array | string[]>;
  docTokens(position: number): Float32Array;
}

/** A token store being written batch by batch (native/core/token_store_writer.h). */
export interface NativeTokenStoreWriter {
  close(): void;
  append(vectors: Float32Array, counts: Int32Array, ids: BigInt64Array | string[]): Promise<void>;
  finish(): Promise<void>;
}

export interface NativeFmaProbe {
  name: string;
  chains: number;
  gflops: number;
  medianGflops: number;
}

export interface NativeCpuInfo {
  kernel: string;
  blasCore: string;
  /** OpenBLAS's process-wide thread count (set once at load from LEMUR_THREADS). */
  blasThreads: number;
  best: string;
  available: string[];
  cpu: string;
}

/** ψ weights as they cross the boundary (PyTorch layouts: weight is out × in). */
export interface NativePsiLayer {
  in: number;
  out: number;
  weight: Float32Array;
  bias: Float32Array;
  gamma?: Float32Array;
  beta?: Float32Array;
  geluBeforeNorm: boolean;
}

export interface NativePsi {
  dim: number;
  hidden: number;
  layers: NativePsiLayer[];
}

/** ψ weights held by native code: loaded once per model, used by every forward/features call. */
export interface NativePsiHandle {
  close(): void;
  info(): { dim: number; hidden: number; layers: number };
  forward(X: Float32Array, out: Float32Array, threads: number): Promise<Float32Array>;
  queryFeatures(Q: Float32Array, counts: Int32Array, divisor: number, out: Float32Array, threads: number): Promise<Float32Array>;
}

export interface NativeEpoch {
  epoch: number;
  trainLoss: number;
  valLoss: number | null;
  seconds: number;
}

/** Progress within a ψ epoch (native/core/psi_trainer.h BatchStats). */
export interface NativeBatch {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
}

/** (done, total) from a long native call, through a thread-safe function (progress_binding.h). */
export type NativeProgress = (done: number, total: number) => void;

/** ψ training's events, in the order training produced them (one thread-safe function). */
export type NativeTrainEvent = (...event: ['epoch', NativeEpoch] | ['batch', NativeBatch]) => void;

export interface NativeTrainOptions {
  hidden: number;
  numLayers: number;
  epochs: number;
  batch: number;
  lr: number;
  clip: number;
  valFraction: number;
  seed: number;
  threads: number;
}

export interface NativeIpIndexInfo {
  d: number;
  ntotal: number;
  kind: 'hnsw' | 'flat';
  M: number;
  efConstruction: number;
  storage: 'fp32' | 'fp16' | 'sq8';
  bytesPerVector: number;
  /** Opened by mapIpIndex: rows and graph read from the mapped file; read-only. */
  mapped: boolean;
}

export interface NativeIpIndex {
  close(): void;
  info(): NativeIpIndexInfo;
  add(vectors: Float32Array, ids: BigInt64Array, threads: number, onProgress?: NativeProgress): Promise<void>;
  search(queries: Float32Array, k: number, efSearch: number, threads: number): Promise<NativeHits>;
  scan(queries: Float32Array, k: number, threads: number): Promise<NativeHits>;
  reconstruct(ids: BigInt64Array, threads: number, out: Float32Array): Promise<Float32Array>;
  reconstructRange(start: number, n: number, threads: number, out: Float32Array): Promise<Float32Array>;
  writeFile(path: string): Promise<void>;
  serialize(): Promise<Uint8Array>;
}

interface Binding {
  createIpIndex(d: number, kind: string, M: number, efConstruction: number, kernel: string, storage: string): NativeIpIndex;
  readIpIndex(path: string, kernel: string): Promise<NativeIpIndex>;
  mapIpIndex(path: string, kernel: string): Promise<NativeIpIndex>;
  deserializeIpIndex(bytes: Uint8Array, kernel: string): Promise<NativeIpIndex>;
  ipKernelDot(a: Float32Array, b: Float32Array, d: number, kernel: string, out: Float32Array): Promise<Float32Array>;
  xxh64(data: ArrayBufferView): Promise<string>;
  trainPsi(
    X: Float32Array,
    dim: number,
    Y: Float32Array,
    m: number,
    options: NativeTrainOptions,
    onEvent?: NativeTrainEvent,
  ): Promise<{ psi: NativePsi; epochs: NativeEpoch[]; bestEpoch: number; batches: number }>;
  psiGradients(psi: NativePsi, outW: Float32Array, X: Float32Array, T: Float32Array, m: number): Promise<{ loss: number; grads: Float32Array[] }>;
  psiLoad(psi: NativePsi): Promise<NativePsiHandle>;
  olsBasis(Z: Float32Array, h: number, threads: number): Promise<{ pinvT: Float32Array; rank: number }>;
  olsWeights(
    store: NativeTokenStore,
    sample: Float32Array,
    pinvT: Float32Array,
    h: number,
    mean: number,
    std: number,
    docIndices: BigInt64Array,
    out: Float32Array,
    threads: number,
    kernel: string,
    onProgress?: NativeProgress,
  ): Promise<Float32Array>;
  olsProject(Y: Float32Array, nb: number, pinvT: Float32Array, h: number, out: Float32Array, threads: number, kernel: string): Promise<Float32Array>;
  standardize(Y: Float32Array, threads: number): Promise<{ mean: number; std: number }>;
  ipTopK(F: Float32Array, W: Float32Array, h: number, k: number, threads: number): Promise<NativeHits>;
  gatherTokens(store: NativeTokenStore, tokenIndices: BigInt64Array, out: Float32Array): Promise<Float32Array>;
  cpuInfo(): NativeCpuInfo;
  setDefaultKernel(name: string): void;
  setBlasThreads(threads: number): void;
  fmaPeak(
    kernel: string,
    seconds: number,
  ): Promise<{ isa: string; gflops: number; medianGflops: number; probe: NativeFmaProbe; probes: NativeFmaProbe[] }>;
  openTokenStore(path: string, verify: boolean): Promise<NativeTokenStore>;
  writeTokenStore(
    path: string,
    vectors: Float32Array,
    counts: Int32Array,
    dim: number,
    dtype: string,
    ids: BigInt64Array | string[],
  ): Promise<void>;
  openTokenStoreWriter(path: string, dim: number, dtype: string, idKind: string, nDocs: number): Promise<NativeTokenStoreWriter>;
  maxsimRerank(
    queries: Float32Array,
    queryCounts: Int32Array,
    store: NativeTokenStore,
    candidates: BigInt64Array,
    kPrime: number,
    k: number,
    threads: number,
    kernel: string,
  ): Promise<NativeHits>;
  maxsimExactTopK(
    queries: Float32Array,
    queryCounts: Int32Array,
    store: NativeTokenStore,
    k: number,
    threads: number,
    kernel: string,
  ): Promise<NativeHits>;
  maxsimTargets(
    vectors: Float32Array,
    store: NativeTokenStore,
    docIndices: BigInt64Array,
    out: Float32Array,
    threads: number,
    kernel: string,
    onProgress?: NativeProgress,
  ): Promise<Float32Array>;
}

function load(): Binding {
  // Faiss runs on OpenMP. With the default (spinning) wait policy, idle OpenMP workers keep
  // burning a core after every parallel region; on a 2-core machine that starves the event
  // loop and the other pool thread and made single queries 2-4x slower. libgomp reads this
  // when it loads, i.e. with the addon below, so it is set here, before the require.
  process.env['OMP_WAIT_POLICY'] ??= 'PASSIVE';
  const require = createRequire(import.meta.url);
  // dist/src/native/binding.js -> <package>/native/build/Release/lemur.node
  const path = fileURLToPath(new URL('../../../native/build/Release/lemur.node', import.meta.url));
  const b = require(path) as Binding;
  const { kernel, threads } = config();
  try {
    if (kernel !== undefined) b.setDefaultKernel(kernel);
    // OpenBLAS's thread count is process-global: set here, once, never per call (native/core/blas.h).
    b.setBlasThreads(threads);
  } catch (err) {
    throw fromNativeError(err);
  }
  return b;
}

export const binding: Binding = load();

/**
 * Runs one addon call, turning whatever it throws or rejects with into a LemurError carrying
 * the caller's stack. `file` names the file the call works on, for error context.
 */
export async function callNative<T>(fn: () => Promise<T>, file?: string): Promise<T> {
  const stack = new Error().stack;
  try {
    return await fn();
  } catch (err) {
    throw fromNativeError(err, stack, file);
  }
}

/**
 * close() of a native handle, its error mapped; a ResourceBusyError is prefixed with `what`
 * (e.g. the file the handle maps) when given.
 */
export function closeNative(native: { close(): void }, what?: string): void {
  try {
    native.close();
  } catch (err) {
    const e = fromNativeError(err);
    if (what !== undefined && e instanceof ResourceBusyError) throw new ResourceBusyError(`${what}: ${e.message}`);
    throw e;
  }
}
