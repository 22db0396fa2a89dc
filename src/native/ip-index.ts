/**
 * IpIndex: the candidate index over W rows, on the real Faiss library. IndexIDMap2 (64-bit
 * external ids) over an HNSW graph with the inner-product metric, or over the bare storage
 * (exact; the better choice for small shards). Rows are stored as fp32, fp16 or sq8 (Faiss's
 * IndexFlatIP / IndexScalarQuantizer, so a stock Faiss reads the files); the index can give its
 * rows back (reconstruct) and scan them exactly (scan), so a caller needs no second copy of W.
 * Lifetime is explicit: close() frees it.
 *
 * Memory: an index made by create() or load() lives in this process's heap, rows and graph
 * (Faiss 1.7.3 cannot map HNSW or scalar-quantizer files): ~4.4 GB of anonymous memory at a
 * million 2048-d fp16 documents. `load(path, { mmap: true })` maps the file read-only instead
 * and searches it in place: rows and neighbour lists are read from the page cache, which the
 * kernel shares between processes mapping the same file and may drop under pressure (a cold
 * search then reads from disk). The heap holds 16 bytes a row (id map and graph offsets; 16 more
 * when the ids are not the positions 0..n-1). Such an index searches, scans, reconstructs and
 * saves like any other, with the loaded index's labels and distance bits at the same efSearch
 * (a flat fp32 index: same labels, distances within float rounding), but cannot add().
 * Replacing the file while it is mapped is safe only by rename (what save() does): truncating it
 * in place would fault the readers.
 */
import { KERNEL_NAMES, config, type KernelName } from '../config.js';
import { ClosedError, InvalidArgumentError, fromNativeError } from '../errors.js';
import { binding, callNative, closeNative, type NativeIpIndex } from './binding.js';
import { assertBigInt64Array, assertFinite, assertFloat32Array, assertInt } from './check.js';
import { SearchResult } from './maxsim.js';
import { withProgress, type ProgressCallback } from './progress.js';

export type IpIndexKind = 'hnsw' | 'flat';

/**
 * How the index stores its rows (bytes per row at d = 2048):
 * - `fp32`: as given (8 KiB);
 * - `fp16`: IEEE half, rounded to nearest even (4 KiB); rows must stay within ±65504;
 * - `sq8`: one byte per dimension, Faiss's ScalarQuantizer QT_8bit: each dimension's min and
 *   range are trained on the rows of the first add, later rows are clamped to them (2 KiB).
 * Scores are the inner product of the fp32 query with the stored (decoded) row, the same bits on
 * every kernel; the HNSW graph is built on the stored rows.
 */
export type IpStorage = 'fp32' | 'fp16' | 'sq8';
export const IP_STORAGES: readonly IpStorage[] = ['fp32', 'fp16', 'sq8'];

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
  /** Row storage (see {@link IpStorage}). @defaultValue 'fp32' */
  storage?: IpStorage;
}

export interface IpLoadOptions {
  /** Kernel of the distance computations. @defaultValue LEMUR_KERNEL, else the best available */
  kernel?: KernelName;
  /** Map the file read-only instead of reading it into the heap (see {@link IpIndex}). @defaultValue false */
  mmap?: boolean;
}

export interface IpScanOptions {
  /** @defaultValue LEMUR_THREADS */
  threads?: number;
}

export interface IpReconstructOptions {
  /** @defaultValue LEMUR_THREADS */
  threads?: number;
  /** Where to write the rows (n × d floats): a big read need not allocate twice. @defaultValue a new array */
  out?: Float32Array;
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
  /** The mapped file, for the CorruptFileError a search may meet in it. */
  readonly #path: string | undefined;

  private constructor(native: NativeIpIndex, path?: string) {
    this.#native = native;
    this.#path = path;
  }

  /**
   * An empty index. O(1), synchronous. @throws InvalidArgumentError, UnsupportedCpuError (a forced kernel the CPU lacks)
   * @example
   * const ix = IpIndex.create({ d: 2048, kind: 'hnsw', M: 32, efConstruction: 40, storage: 'sq8' });
   */
  static create(options: IpIndexOptions): IpIndex {
    assertInt('d', options.d, { min: 1, max: 1 << 20 });
    const kind = options.kind ?? 'hnsw';
    if (kind !== 'hnsw' && kind !== 'flat') throw new InvalidArgumentError(`Expected kind 'hnsw' or 'flat' but received '${String(kind)}'`);
    const M = options.M ?? 32;
    const efc = options.efConstruction ?? 40;
    assertInt('M', M, { min: 2, max: 512 });
    assertInt('efConstruction', efc, { min: 1, max: 1 << 16 });
    const storage = options.storage ?? 'fp32';
    if (!IP_STORAGES.includes(storage)) throw new InvalidArgumentError(`Expected storage in ${IP_STORAGES.join(', ')} but received '${String(storage)}'`);
    try {
      return new IpIndex(binding.createIpIndex(options.d, kind, M, efc, options.kernel ?? '', storage));
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /**
   * Reads an index written by save(), into the heap or (`mmap: true`) mapped read-only; see the
   * class comment for the memory model. A mapped index checks the file's layout when opened and
   * each graph link as a search follows it: a damaged file fails with CorruptFileError, at open
   * or at the search that meets the damage.
   * @throws CorruptFileError (not an index file, truncated, tables that disagree), IoError
   * @example
   * const ix = await IpIndex.load(path, { mmap: true }); // RssAnon grows by ~16 bytes a row
   */
  static async load(path: string, options: IpLoadOptions = {}): Promise<IpIndex> {
    if (options.mmap) return new IpIndex(await callNative(() => binding.mapIpIndex(path, options.kernel ?? ''), path), path);
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

  /** How the rows are stored (a loaded index reports its file's storage). */
  get storage(): IpStorage {
    return this.#handle().info().storage;
  }

  /** Bytes of one stored row: 4d (fp32), 2d (fp16) or d (sq8); the graph and ids come on top. */
  get bytesPerVector(): number {
    return this.#handle().info().bytesPerVector;
  }

  /** Whether the index was opened with `mmap: true` (read-only: add() throws). */
  get mapped(): boolean {
    return this.#handle().info().mapped;
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Adds n vectors (n × d) with their 64-bit ids. Do not modify inputs until the promise settles.
   * An sq8 index trains its per-dimension ranges on its first add: add a shard's rows in one call.
   * @throws InvalidArgumentError (also for a mapped index), InputDataError (non-finite vectors; fp16 storage: a value beyond ±65504), ClosedError; whatever onProgress throws
   * @example
   * await index.add(W, ids, { onProgress: (done, total) => job.updateProgress(Math.round((100 * done) / total)) });
   */
  async add(vectors: Float32Array, ids: BigInt64Array, options: IpAddOptions = {}): Promise<void> {
    const n = this.#handle();
    const { d, mapped } = n.info();
    if (mapped) throw new InvalidArgumentError('Cannot add to a memory-mapped index (read-only): load it without mmap');
    assertFloat32Array('vectors', vectors);
    assertBigInt64Array('ids', ids);
    if (vectors.length !== ids.length * d) throw new InvalidArgumentError(`Expected vectors.length = ids.length × d = ${ids.length * d} but received ${vectors.length}`);
    assertFinite('vectors', vectors, d);
    const threads = options.threads ?? config().threads;
    await withProgress(options.onProgress, ids.length, (onProgress) => callNative(() => n.add(vectors, ids, threads, onProgress)));
  }

  /** The handle, after the checks search() and scan() share: queries a whole number of rows of the index's dim, 1 ≤ k, a non-empty index. */
  #topKArgs(queries: Float32Array, k: number, what: 'search' | 'scan'): NativeIpIndex {
    const n = this.#handle();
    const d = n.info().d;
    assertFloat32Array('queries', queries);
    if (queries.length === 0 || queries.length % d !== 0) {
      throw new InvalidArgumentError(`Expected queries.length to be a positive multiple of the index dim ${d} but received ${queries.length}`);
    }
    assertInt('k', k, { min: 1, max: 1 << 20 });
    if (n.info().ntotal === 0) throw new InvalidArgumentError(`Cannot ${what} an empty index: add vectors first`);
    return n;
  }

  /**
   * The k largest inner products per query (nq × d queries). Labels are the ids given to add();
   * -1 (score -Infinity) where the index has fewer than k vectors.
   * @throws InvalidArgumentError (k ≤ 0, dim mismatch), ClosedError, CorruptFileError (a mapped index: a damaged link met on the way)
   */
  async search(queries: Float32Array, k: number, options: IpSearchOptions = {}): Promise<SearchResult> {
    const n = this.#topKArgs(queries, k, 'search');
    const d = n.info().d;
    const ef = options.efSearch ?? Math.max(k, 64);
    assertInt('efSearch', ef, { min: 1, max: 1 << 20 });
    assertFinite('queries', queries, d);
    const r = await callNative(() => n.search(queries, k, ef, options.threads ?? config().threads), this.#path);
    return new SearchResult(queries.length / d, k, r.labels, r.distances);
  }

  /**
   * Exact top-k per query (nq × d) over every stored row, by the index's own inner product:
   * what a brute-force candidate pass needs, without a second copy of W. Labels are the ids given
   * to add(). Up to 7 queries per call: one threaded pass over the rows whose scores are the bits
   * search() reports for the same rows, on every kernel and thread count; larger batches decode
   * blocks of rows and use sgemm (faster; a score may differ in its last bits).
   * @throws InvalidArgumentError (k ≤ 0, dim mismatch, empty index), ClosedError
   * @example
   * const r = await ix.scan(features, 100); // r.row(0).labels: the best 100 ids of query 0
   */
  async scan(queries: Float32Array, k: number, options: IpScanOptions = {}): Promise<SearchResult> {
    const n = this.#topKArgs(queries, k, 'scan');
    const d = n.info().d;
    assertFinite('queries', queries, d);
    const r = await callNative(() => n.scan(queries, k, options.threads ?? config().threads));
    return new SearchResult(queries.length / d, k, r.labels, r.distances);
  }

  /**
   * The stored rows of the given ids, decoded to fp32 (ids.length × d): exactly the vectors the
   * index scores against (fp16 and sq8 rows are approximations of what was added).
   * @throws InvalidArgumentError (an id the index does not hold, a wrong-sized out), ClosedError
   */
  async reconstruct(ids: BigInt64Array, options: IpReconstructOptions = {}): Promise<Float32Array> {
    const n = this.#handle();
    const d = n.info().d;
    assertBigInt64Array('ids', ids);
    const out = options.out ?? new Float32Array(ids.length * d);
    assertFloat32Array('out', out);
    if (out.length !== ids.length * d) throw new InvalidArgumentError(`Expected out.length = ids.length × d = ${ids.length * d} but received ${out.length}`);
    return callNative(() => n.reconstruct(ids, options.threads ?? config().threads, out));
  }

  /**
   * The stored rows at positions [start, start + n) in the order they were added, decoded to fp32
   * (n × d). With the pipeline's ids (positions) this is W's rows start.. as the index holds them.
   * @throws InvalidArgumentError (a range outside [0, ntotal), a wrong-sized out), ClosedError
   */
  async reconstructRange(start: number, count: number, options: IpReconstructOptions = {}): Promise<Float32Array> {
    const n = this.#handle();
    const { d, ntotal } = n.info();
    assertInt('start', start, { min: 0, max: ntotal });
    assertInt('count', count, { min: 0, max: ntotal - start });
    const out = options.out ?? new Float32Array(count * d);
    assertFloat32Array('out', out);
    if (out.length !== count * d) throw new InvalidArgumentError(`Expected out.length = count × d = ${count * d} but received ${out.length}`);
    return callNative(() => n.reconstructRange(start, count, options.threads ?? config().threads, out));
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
