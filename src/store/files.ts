/**
 * Reading artifacts out of the store without one Buffer per object: streamed hashes, objects
 * streamed into a preallocated typed array, ranged reads as a Parquet reader's buffer, and the
 * Parquet keys under a prefix. (Whole files move with ObjectStore.getFile / putFile.)
 */
import { createHash } from 'node:crypto';

import { CorruptFileError, LemurError, ObjectNotFoundError, StoreError } from '../errors.js';
import type { ObjectStore } from './object-store.js';

/** A failure mid-stream (a cut connection, a short read) as a StoreError naming the object. */
function streamFailure(store: ObjectStore, key: string, err: unknown): Error {
  if (err instanceof LemurError) return err;
  return new StoreError(`${store.url}: reading '${key}' failed: ${(err as Error)?.message ?? String(err)}`, key, false, { cause: err });
}

/** An object's size and sha256, hashed while it streams (one chunk in memory at a time). */
export async function hashObject(store: ObjectStore, key: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = await store.getStream(key);
  try {
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (err) {
    throw streamFailure(store, key, err);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Streams a whole object into `target`, which must be exactly its size (the caller's typed
 * array, so the bytes are held once, not in a Buffer and then copied).
 * @throws CorruptFileError when the object is not target.byteLength bytes; StoreError (NOT_FOUND when missing)
 */
export async function readObjectInto(store: ObjectStore, key: string, target: Uint8Array): Promise<void> {
  const stream = await store.getStream(key);
  let at = 0;
  try {
    for await (const chunk of stream) {
      const c = chunk as Buffer;
      if (at + c.length > target.byteLength) {
        throw new CorruptFileError(`${store.url}/${key}: more than the expected ${target.byteLength} bytes`, `${store.url}/${key}`);
      }
      target.set(c, at);
      at += c.length;
    }
  } catch (err) {
    throw streamFailure(store, key, err);
  } finally {
    stream.destroy();
  }
  if (at !== target.byteLength) throw new CorruptFileError(`${store.url}/${key}: ${at} bytes, expected ${target.byteLength}`, `${store.url}/${key}`);
}

/**
 * Reads a W file (docs × hidden float32, little-endian like every x86-64 and arm64 host) as
 * float32 rows, streamed into the array: memory is the array itself, once. The rows stay in
 * memory because the query engine scans them there.
 * @throws StoreError (NOT_FOUND when missing); CorruptFileError when the size is not a multiple of 4
 */
export async function readWeights(store: ObjectStore, key: string): Promise<Float32Array> {
  const info = await store.head(key);
  if (!info) throw new ObjectNotFoundError(store.url, key);
  if (info.size % 4 !== 0) throw new CorruptFileError(`${store.url}/${key}: ${info.size} bytes is not a whole number of float32 values`, `${store.url}/${key}`);
  const W = new Float32Array(info.size / 4);
  await readObjectInto(store, key, new Uint8Array(W.buffer, W.byteOffset, W.byteLength));
  return W;
}

/**
 * A Parquet reader's buffer (hyparquet's AsyncBuffer shape) over ranged reads of one object of
 * `size` bytes: the reader fetches the footer, then the column chunks it needs.
 */
export function objectBuffer(store: ObjectStore, key: string, size: number): { byteLength: number; slice: (start: number, end?: number) => Promise<ArrayBuffer> } {
  return {
    byteLength: size,
    slice: async (start: number, end?: number): Promise<ArrayBuffer> => {
      const b = await store.getRange(key, start, end ?? size);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
  };
}

/** Keys of the Parquet objects under a prefix (sorted, as ObjectStore.list returns them). */
export async function listParquet(store: ObjectStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((o) => o.key).filter((k) => k.toLowerCase().endsWith('.parquet'));
}
