/**
 * Loads the addon and declares its raw surface. Not exported from the package: callers use the
 * typed wrappers (token-store.ts, maxsim.ts, cpu.ts), which validate arguments first.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { config } from '../config.js';
import { fromNativeError } from '../errors.js';

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
  readIds(): Promise<BigInt64Array | string[]>;
  docTokens(position: number): Float32Array;
}

export interface NativeCpuInfo {
  kernel: string;
  best: string;
  available: string[];
  cpu: string;
}

interface Binding {
  cpuInfo(): NativeCpuInfo;
  setDefaultKernel(name: string): void;
  fmaPeak(kernel: string, seconds: number): Promise<{ gflops: number; medianGflops: number }>;
  openTokenStore(path: string, verify: boolean): Promise<NativeTokenStore>;
  writeTokenStore(
    path: string,
    vectors: Float32Array,
    counts: Int32Array,
    dim: number,
    dtype: string,
    ids: BigInt64Array | string[],
  ): Promise<void>;
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
  ): Promise<Float32Array>;
}

function load(): Binding {
  const require = createRequire(import.meta.url);
  // dist/src/native/binding.js -> <package>/native/build/Release/lemur.node
  const path = fileURLToPath(new URL('../../../native/build/Release/lemur.node', import.meta.url));
  const b = require(path) as Binding;
  const forced = config().kernel;
  if (forced !== undefined) {
    try {
      b.setDefaultKernel(forced);
    } catch (err) {
      throw fromNativeError(err);
    }
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
