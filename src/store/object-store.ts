/**
 * The object store every stage reads and writes: a local folder (the embedded default) or an
 * S3-compatible bucket. Keys are '/'-separated relative paths. Writes are atomic: a reader sees
 * the old object or the complete new one, never a part. Reads can be ranged (Parquet footers
 * and row groups, without downloading whole shards).
 */
import type { Readable } from 'node:stream';

import { InvalidArgumentError } from '../errors.js';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Changes whenever the content does (S3 ETag; size-mtime for local files). */
  etag: string;
}

export interface ObjectStore {
  /** Where this store points (for logs and errors). */
  readonly url: string;
  /** Writes an object atomically. */
  put(key: string, body: Uint8Array | Readable): Promise<void>;
  /** The whole object. @throws StoreError (NOT_FOUND when missing) */
  get(key: string): Promise<Buffer>;
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
