/**
 * TokenStoreWriter: writes a token store batch by batch (native/core/token_store_writer.h), so a
 * loader holds one batch of documents, never the whole store. The file is byte for byte what
 * TokenStore.write gives for the same documents, and appears atomically at finish(); a writer
 * aborted (or collected) before that leaves nothing on disk. It does not read stores: TokenStore.
 */
import { ClosedError, InvalidArgumentError, ResourceBusyError } from '../errors.js';
import { binding, callNative, closeNative, type NativeTokenStoreWriter } from './binding.js';
import { assertInt } from './check.js';
import { assertDocs, assertDType, type StoreDType } from './token-store.js';

export interface TokenStoreWriterOptions {
  /** 1 … 2^20 */
  dim: number;
  /** Documents the store will hold: exactly this many must be appended before finish(). */
  nDocs: number;
  idKind: 'int64' | 'string';
  /** Stored precision. @defaultValue 'float32' */
  dtype?: StoreDType;
}

export class TokenStoreWriter {
  #native: NativeTokenStoreWriter | undefined;
  #busy = false;
  readonly path: string;
  readonly dim: number;
  readonly idKind: 'int64' | 'string';

  private constructor(native: NativeTokenStoreWriter, path: string, options: TokenStoreWriterOptions) {
    this.#native = native;
    this.path = path;
    this.dim = options.dim;
    this.idKind = options.idKind;
  }

  /**
   * Creates the temp file beside `path`.
   * @throws InvalidArgumentError (dim, nDocs, idKind, dtype), IoError
   * @example
   * const w = await TokenStoreWriter.open('/tmp/s.lts', { dim: 128, nDocs: 2, idKind: 'int64' });
   * try {
   *   await w.append(vectors, Int32Array.of(3, 5), BigInt64Array.of(7n, 9n));
   *   await w.finish();
   * } finally { w.abort(); }
   */
  static async open(path: string, options: TokenStoreWriterOptions): Promise<TokenStoreWriter> {
    if (typeof path !== 'string' || path === '') throw new InvalidArgumentError(`Expected a file path but received '${String(path)}'`);
    const dtype = options.dtype ?? 'float32';
    assertInt('dim', options.dim, { min: 1, max: 1 << 20 });
    assertInt('nDocs', options.nDocs, { min: 0 });
    assertDType(dtype);
    if (options.idKind !== 'int64' && options.idKind !== 'string') throw new InvalidArgumentError(`Expected idKind 'int64' or 'string' but received '${String(options.idKind)}'`);
    const native = await callNative(() => binding.openTokenStoreWriter(path, options.dim, dtype, options.idKind, options.nDocs), path);
    return new TokenStoreWriter(native, path, options);
  }

  /**
   * Checks and writes documents after those appended before: sum(counts) × dim vectors, one id
   * per document (unique across every batch). Do not modify the inputs until the promise
   * settles; one append at a time.
   * @throws InputDataError (non-finite value, empty doc, duplicate id; row = position in the
   *   store), InvalidArgumentError (shapes, more documents than nDocs), ResourceBusyError, ClosedError, IoError
   */
  async append(vectors: Float32Array, counts: Int32Array, ids: BigInt64Array | string[]): Promise<void> {
    const native = this.#take();
    try {
      assertDocs(vectors, counts, this.dim, ids);
      if ((ids instanceof BigInt64Array ? 'int64' : 'string') !== this.idKind) throw new InvalidArgumentError(`Expected ${this.idKind} ids for ${this.path}`);
      await callNative(() => native.append(vectors, counts, ids), this.path);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Writes offsets, ids and checksums and renames the file into place; the writer is closed after.
   * @throws InvalidArgumentError (fewer documents than nDocs), IoError, ResourceBusyError, ClosedError
   */
  async finish(): Promise<void> {
    const native = this.#take();
    try {
      await callNative(() => native.finish(), this.path);
    } finally {
      this.#busy = false;
    }
    this.abort();
  }

  /** Discards an unfinished file (nothing after finish()). Idempotent; afterwards every method throws ClosedError. @throws ResourceBusyError during an append or finish */
  abort(): void {
    if (!this.#native) return;
    closeNative(this.#native, `token store writer ${this.path}`);
    this.#native = undefined;
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  #take(): NativeTokenStoreWriter {
    if (!this.#native) throw new ClosedError(`token store writer ${this.path}`);
    if (this.#busy) throw new ResourceBusyError(`token store writer ${this.path}: one append or finish at a time; await the previous one`);
    this.#busy = true;
    return this.#native;
  }
}
