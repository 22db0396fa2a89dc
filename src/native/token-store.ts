/**
 * TokenStore: every document's token vectors, memory-mapped for exact MaxSim (format:
 * native/core/token_store_format.h, docs/token-store.md). Read-only once written; writing is a
 * separate static call that replaces a file atomically. Deletes are not done here: positions
 * never change, tombstones live beside the store.
 */
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { binding, callNative, closeNative, type NativeTokenStore } from './binding.js';
import { assertCounts, assertFloat32Array, assertInt, assertInt32Array } from './check.js';

export type StoreDType = 'float32' | 'float16';

export interface TokenStoreWriteInput {
  /** sum(counts) × dim values, token-major, documents one after another. */
  vectors: Float32Array;
  /** Tokens per document, each ≥ 1. */
  counts: Int32Array;
  dim: number;
  /** External ids, unique: int64 (BigInt64Array) or strings. */
  ids: BigInt64Array | string[];
  /** Stored precision; float16 halves memory and bandwidth. @defaultValue 'float32' */
  dtype?: StoreDType;
}

export interface TokenStoreOpenOptions {
  /** Check the body checksum on open (one pass over the file). @defaultValue true */
  verify?: boolean;
}

/** @throws InvalidArgumentError unless 'float32' or 'float16' */
export function assertDType(dtype: unknown): asserts dtype is StoreDType {
  if (dtype !== 'float32' && dtype !== 'float16') throw new InvalidArgumentError(`Expected dtype 'float32' or 'float16' but received '${String(dtype)}'`);
}

/**
 * Documents as TokenStore.write and TokenStoreWriter.append take them: one id per count, each
 * count >= 1 (InputDataError), sum(counts) × dim vectors.
 * @throws InvalidArgumentError, InputDataError
 */
export function assertDocs(vectors: unknown, counts: unknown, dim: number, ids: unknown): asserts ids is BigInt64Array | string[] {
  assertFloat32Array('vectors', vectors);
  assertInt32Array('counts', counts);
  if (!(ids instanceof BigInt64Array) && !Array.isArray(ids)) throw new InvalidArgumentError('Expected ids as a BigInt64Array or an array of strings');
  if (ids.length !== counts.length) throw new InvalidArgumentError(`Expected ${counts.length} ids (one per document) but received ${ids.length}`);
  assertCounts('counts', counts, 'vectors', vectors, dim);
}

export class TokenStore {
  #native: NativeTokenStore | undefined;
  readonly path: string;
  readonly dim: number;
  readonly nDocs: number;
  readonly nTokens: number;
  readonly dtype: StoreDType;
  readonly idKind: 'int64' | 'string';
  readonly fileBytes: number;

  private constructor(native: NativeTokenStore) {
    this.#native = native;
    const i = native.info();
    this.path = i.path;
    this.dim = i.dim;
    this.nDocs = i.nDocs;
    this.nTokens = i.nTokens;
    this.dtype = i.dtype;
    this.idKind = i.idKind;
    this.fileBytes = i.fileBytes;
  }

  /**
   * Maps a token store file and validates it.
   * @throws CorruptFileError (bad magic, unknown major version, size or checksum mismatch), IoError
   * @example
   * const store = await TokenStore.open('/data/shard-0.lts');
   * try { console.log(store.nDocs); } finally { store.close(); }
   */
  static async open(path: string, options: TokenStoreOpenOptions = {}): Promise<TokenStore> {
    if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`Expected a file path but received '${String(path)}'`);
    const native = await callNative(() => binding.openTokenStore(path, options.verify ?? true), path);
    return new TokenStore(native);
  }

  /**
   * Writes a token store atomically (temp file + rename). Do not modify the inputs until the
   * promise settles.
   * @throws InputDataError (non-finite value, empty doc, duplicate id; with row and field),
   *   InvalidArgumentError (shapes), IoError
   */
  static async write(path: string, input: TokenStoreWriteInput): Promise<void> {
    const { vectors, counts, dim, ids } = input;
    const dtype = input.dtype ?? 'float32';
    assertInt('dim', dim, { min: 1, max: 1 << 20 });
    assertDType(dtype);
    assertDocs(vectors, counts, dim, ids);
    await callNative(() => binding.writeTokenStore(path, vectors, counts, dim, dtype, ids), path);
  }

  /** @internal The native handle, for the maxsim wrappers. @throws ClosedError */
  nativeHandle(): NativeTokenStore {
    if (!this.#native) throw new ClosedError(`token store ${this.path}`);
    return this.#native;
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  /** External ids in position order. */
  async ids(): Promise<BigInt64Array | string[]> {
    const n = this.nativeHandle();
    return callNative(() => n.readIds(), this.path);
  }

  /** One document's token vectors (ntok × dim, widened to fp32). */
  docTokens(position: number): Float32Array {
    const n = this.nativeHandle();
    assertInt('position', position, { min: 0, max: this.nDocs - 1 });
    return n.docTokens(position);
  }

  /**
   * Drops this process's mapping of the store's pages; they stay in the page cache and come back
   * on the next read. For a pass over scattered pages (a fit's samples): each page fault maps its
   * neighbours too, and across a large corpus those would otherwise stay in the process's RSS
   * until close. Safe while other calls read the store (they fault the pages back in).
   * @throws ClosedError
   */
  releasePages(): void {
    this.nativeHandle().dropResident();
  }

  /**
   * Unmaps the file. Idempotent; afterwards every method throws ClosedError.
   * @throws ResourceBusyError while a call on this store is in flight
   */
  close(): void {
    if (!this.#native) return;
    closeNative(this.#native, `token store ${this.path}`);
    this.#native = undefined;
  }
}
