/**
 * A local file for an object, for native code that reads paths (mmap'd token stores, Faiss,
 * model files): a LocalStore's own file in place (no copy), else a copy in the machine's
 * artifact cache (LEMUR_CACHE_DIR, trimmed to LEMUR_CACHE_BYTES; src/store/artifact-cache.ts),
 * shared by every process and version that reads the same object.
 */
import { config } from '../config.js';
import { ObjectNotFoundError } from '../errors.js';
import { ArtifactCache, type LocalCopy } from './artifact-cache.js';
import { LocalStore } from './local-store.js';
import type { ObjectStore, TransferOptions } from './object-store.js';

export type { LocalCopy } from './artifact-cache.js';

export interface LocalCopyOptions extends TransferOptions {
  /** @defaultValue the process's cache: LEMUR_CACHE_DIR, LEMUR_CACHE_BYTES */
  cache?: ArtifactCache;
}

const caches = new Map<string, ArtifactCache>();

/** The cache named by LEMUR_CACHE_DIR and LEMUR_CACHE_BYTES (one instance per process). */
export function defaultArtifactCache(): ArtifactCache {
  const { cacheDir, cacheBytes } = config();
  let c = caches.get(cacheDir);
  if (!c) {
    c = new ArtifactCache({ dir: cacheDir, maxBytes: cacheBytes });
    caches.set(cacheDir, c);
  }
  return c;
}

/**
 * A local file holding `key`, usable until release(). Hold it while a native object has the
 * file open; the cache never removes a held copy.
 * @throws StoreError (NOT_FOUND when the object is missing)
 * @example
 * const copy = await localCopy(store, shard.tokensKey);
 * const ts = await TokenStore.open(copy.path);
 * try { … } finally { ts.close(); copy.release(); }
 */
export async function localCopy(store: ObjectStore, key: string, options: LocalCopyOptions = {}): Promise<LocalCopy> {
  if (store instanceof LocalStore) {
    const path = store.localPath(key);
    if (!(await store.head(key))) throw new ObjectNotFoundError(store.url, key);
    return { path, release: () => undefined };
  }
  const { cache, ...transfer } = options;
  return (cache ?? defaultArtifactCache()).acquire(store, key, transfer);
}
