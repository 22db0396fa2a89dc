/** Moving local files into the store and small artifacts out of it. */
import { createReadStream } from 'node:fs';

import type { ObjectStore } from './object-store.js';

/** Uploads a local file (streamed) under `key`. */
export async function putFile(store: ObjectStore, key: string, path: string): Promise<void> {
  await store.put(key, createReadStream(path));
}

/** Reads a W file (docs × hidden float32, little-endian) as float32 rows. */
export async function readWeights(store: ObjectStore, key: string): Promise<Float32Array> {
  const raw = await store.get(key);
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

/** Keys of the Parquet objects under a prefix (sorted, as ObjectStore.list returns them). */
export async function listParquet(store: ObjectStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((o) => o.key).filter((k) => k.toLowerCase().endsWith('.parquet'));
}
