/**
 * The object store every stage reads and writes: a local folder (the embedded default) or an
 * S3-compatible bucket. Keys are '/'-separated relative paths. Writes are atomic: a reader sees
 * the old object or the complete new one, never a part. Artifacts (token stores, models, W
 * rows, indexes) move between the store and local files as streams (getFile, putFile,
 * getStream), never as one Buffer: an artifact can outgrow RAM and Node's Buffer limit. Reads
 * can be ranged (Parquet footers and row groups, without downloading whole shards); `get` is for
 * small objects (manifests, JSON records, the pointer).
 */
import type { Readable } from 'node:stream';

import { InvalidArgumentError } from '../errors.js';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Changes whenever the content does (S3 ETag; size-mtime for local files). */
  etag: string;
}

export interface TransferOptions {
  /**
   * Bytes moved so far and the object's size, as data moves (per chunk; per part for an S3
   * upload). It should not throw: one that does fails the transfer, but an upload whose last
   * report throws may already have written the object.
   */
  onProgress?: (done: number, total: number) => void;
}

export interface PutFileOptions extends TransferOptions {
  /**
   * The caller is done with the file: a LocalStore renames it into place when it can (same
   * filesystem) instead of copying, and every store removes it after a successful upload.
   * @defaultValue false
   */
  move?: boolean;
}

export interface ObjectStore {
  /** Where this store points (for logs and errors). */
  readonly url: string;
  /** Writes an object atomically. */
  put(key: string, body: Uint8Array | Readable): Promise<void>;
  /**
   * Uploads a local file as `key`, streamed (multipart on S3), atomically: a failed upload leaves
   * the old object or none, never a part. Fails if the file changes size while it is read.
   * @throws StoreError
   */
  putFile(key: string, path: string, options?: PutFileOptions): Promise<void>;
  /**
   * The whole object as one Buffer: for small objects only (manifests, JSON records, the
   * pointer); artifacts go through getFile, getStream or getRange.
   * @throws StoreError (NOT_FOUND when missing)
   */
  get(key: string): Promise<Buffer>;
  /**
   * The whole object as a stream of chunks (hashing, reading into a preallocated array). A
   * missing object rejects here, before any stream exists; the caller must consume or destroy
   * the stream. @throws StoreError (NOT_FOUND when missing)
   */
  getStream(key: string): Promise<Readable>;
  /**
   * Downloads an object into the local file `path` (parent folders created), streamed through a
   * temporary file beside it that is fsynced and renamed over `path`: a failed download leaves
   * what was at `path` before and no partial file. Returns the size and etag of the bytes written.
   * @throws StoreError (NOT_FOUND when missing)
   */
  getFile(key: string, path: string, options?: TransferOptions): Promise<ObjectInfo>;
  /** Bytes [start, end) of an object. */
  getRange(key: string, start: number, end: number): Promise<Buffer>;
  /** Size and etag, or undefined when the object does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object under a prefix, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Removes an object; missing objects are fine. */
  delete(key: string): Promise<void>;
  /**
   * Compare-and-swap for small objects (the `current` pointer): writes `body` only if the object
   * still holds exactly `expected` (undefined: only if it does not exist). Returns false, writing
   * nothing, when another writer changed it first.
   */
  swap(key: string, expected: Uint8Array | undefined, body: Uint8Array): Promise<boolean>;
}

/** Rejects keys that could escape the store's root: absolute, empty segments, '.', '..'. */
export function checkKey(key: string): string {
  if (typeof key !== 'string' || key === '' || key.startsWith('/') || key.includes('\\')) {
    throw new InvalidArgumentError(`Expected a relative object key but received '${String(key)}'`);
  }
  for (const part of key.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new InvalidArgumentError(`Expected an object key without empty, '.' or '..' segments but received '${key}'`);
  }
  return key;
}
