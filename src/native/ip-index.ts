/**
 * IpIndex: the candidate index over W rows, on the real Faiss library. IndexIDMap2 (64-bit
 * external ids) over IndexHNSWFlat with the inner-product metric, or over IndexFlatIP (exact;
 * the better choice for small shards). Lifetime is explicit: close() frees it.
 */
import { KERNEL_NAMES, config, type KernelName } from '../config.js';
import { ClosedError, InvalidArgumentError, fromNativeError } from '../errors.js';
import { binding, callNative, closeNative, type NativeIpIndex } from './binding.js';
import { assertBigInt64Array, assertFinite, assertFloat32Array, assertInt } from './check.js';
import { SearchResult } from './maxsim.js';
import { withProgress, type ProgressCallback } from './progress.js';

export type IpIndexKind = 'hnsw' | 'flat';

export interface IpIndexOptions {
  d: number;
  /** @defaultValue 'hnsw' */
  kind?: IpIndexKind;
  /** HNSW neighbours per node. @defaultValue 32 */
  M?: number;
  /** HNSW build beam width. @defaultValue 40 */
  efConstruction?: number;
  /** Kernel of the HNSW distance computer. @defaultValue LEMUR_KERNEL, else the best available */
  kernel?: KernelName;
}

export interface IpSearchOptions {
  /** HNSW search beam width (at least k is used). @defaultValue max(k, 64) */
  efSearch?: number;
  /** @defaultValue LEMUR_THREADS */
  threads?: number;
}

export interface IpAddOptions {
  /** @defaultValue LEMUR_THREADS */
  threads?: number;
  /**
   * Progress in vectors linked into the HNSW graph (a flat index reports only the end): at most
   * every ~200 ms, then (n, n) before the promise resolves. Does not change a byte of the index.
   */
  onProgress?: ProgressCallback;
}

export class IpIndex {
  #native: NativeIpIndex | undefined;

  private constructor(native: NativeIpIndex) {
    this.#native = native;
  }

  /** An empty index. O(1), synchronous. @throws InvalidArgumentError */
  static create(options: IpIndexOptions): IpIndex {
    assertInt('d', options.d, { min: 1, max: 1 << 20 });
    const kind = options.kind ?? 'hnsw';
    if (kind !== 'hnsw' && kind !== 'flat') throw new InvalidArgumentError(`Expected kind 'hnsw' or 'flat' but received '${String(kind)}'`);
    const M = options.M ?? 32;
    const efc = options.efConstruction ?? 40;
    assertInt('M', M, { min: 2, max: 512 });
    assertInt('efConstruction', efc, { min: 1, max: 1 << 16 });
    try {
      return new IpIndex(binding.createIpIndex(options.d, kind, M, efc, options.kernel ?? ''));
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Reads an index written by save(). @throws CorruptFileError, IoError */
  static async load(path: string, options: { kernel?: KernelName } = {}): Promise<IpIndex> {
    return new IpIndex(await callNative(() => binding.readIpIndex(path, options.kernel ?? ''), path));
  }

  /** Rebuilds an index from serialize()'s bytes. @throws CorruptFileError */
  static async deserialize(bytes: Uint8Array, options: { kernel?: KernelName } = {}): Promise<IpIndex> {
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('Expected a Uint8Array of index bytes');
    return new IpIndex(await callNative(() => binding.deserializeIpIndex(bytes, options.kernel ?? '')));
  }

  #handle(): NativeIpIndex {
    if (!this.#native) throw new ClosedError('index');
    return this.#native;
  }

  get d(): number {
    return this.#handle().info().d;
  }

  get ntotal(): number {
    return this.#handle().info().ntotal;
  }

  get kind(): IpIndexKind {
    return this.#handle().info().kind;
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Adds n vectors (n × d) with their 64-bit ids. Do not modify inputs until the promise settles.
   * @throws InvalidArgumentError, InputDataError (non-finite vectors), ClosedError; whatever onProgress throws
   * @example
   * await index.add(W, ids, { onProgress: (done, total) => job.updateProgress(Math.round((100 * done) / total)) });
   */
  async add(vectors: Float32Array, ids: BigInt64Array, options: IpAddOptions = {}): Promise<void> {
    const n = this.#handle();
    const d = n.info().d;
    assertFloat32Array('vectors', vectors);
    assertBigInt64Array('ids', ids);
    if (vectors.length !== ids.length * d) throw new InvalidArgumentError(`Expected vectors.length = ids.length × d = ${ids.length * d} but received ${vectors.length}`);
    assertFinite('vectors', vectors, d);
    const threads = options.threads ?? config().threads;
    await withProgress(options.onProgress, ids.length, (onProgress) => callNative(() => n.add(vectors, ids, threads, onProgress)));
  }

  /**
   * The k largest inner products per query (nq × d queries). Labels are the ids given to add();
   * -1 (score -Infinity) where the index has fewer than k vectors.
   * @throws InvalidArgumentError (k ≤ 0, dim mismatch), ClosedError
   */
  async search(queries: Float32Array, k: number, options: IpSearchOptions = {}): Promise<SearchResult> {
    const n = this.#handle();
    const d = n.info().d;
    assertFloat32Array('queries', queries);
    if (queries.length === 0 || queries.length % d !== 0) {
      throw new InvalidArgumentError(`Expected queries.length to be a positive multiple of the index dim ${d} but received ${queries.length}`);
    }
    assertInt('k', k, { min: 1, max: 1 << 20 });
    if (n.info().ntotal === 0) throw new InvalidArgumentError('Cannot search an empty index: add vectors first');
    const ef = options.efSearch ?? Math.max(k, 64);
    assertInt('efSearch', ef, { min: 1, max: 1 << 20 });
    assertFinite('queries', queries, d);
    const r = await callNative(() => n.search(queries, k, ef, options.threads ?? config().threads));
    return new SearchResult(queries.length / d, k, r.labels, r.distances);
  }

  /** Writes the index to a file (temp file + rename). */
  async save(path: string): Promise<void> {
    const n = this.#handle();
    await callNative(() => n.writeFile(path), path);
  }

  async serialize(): Promise<Uint8Array> {
    const n = this.#handle();
    return callNative(() => n.serialize());
  }

  /** Frees the index. Idempotent. @throws ResourceBusyError while a call is in flight */
  close(): void {
    if (!this.#native) return;
    closeNative(this.#native);
    this.#native = undefined;
  }
}

/**
 * Row-wise inner products `<a_i, b_i>` (n × d each) with one kernel's dot product, the distance
 * the HNSW graph is built with. Every kernel sums in the same fixed order, so the results are
 * bit-identical across kernels; this exists so tests can check exactly that.
 * @throws InvalidArgumentError (shapes, kernel name), UnsupportedCpuError (kernel the CPU lacks)
 */
export async function kernelDot(a: Float32Array, b: Float32Array, d: number, kernel: KernelName): Promise<Float32Array> {
  assertFloat32Array('a', a);
  assertFloat32Array('b', b);
  assertInt('d', d, { min: 1, max: 1 << 20 });
  if (a.length % d !== 0 || b.length !== a.length) throw new InvalidArgumentError(`Expected a.length = b.length = n × d (d = ${d}) but received ${a.length} and ${b.length}`);
  if (!KERNEL_NAMES.includes(kernel)) throw new InvalidArgumentError(`Expected kernel in ${KERNEL_NAMES.join(', ')} but received '${String(kernel)}'`);
  return callNative(() => binding.ipKernelDot(a, b, d, kernel, new Float32Array(a.length / d)));
}
