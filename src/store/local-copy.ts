/**
 * A local file for an object: the file itself for a LocalStore (no copy), else a download into
 * a scratch folder. Native code (mmap'd token stores, Faiss, model files) reads local paths.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';
import { makeScratchDir } from './scratch.js';

export interface LocalCopy {
  path: string;
  /** Removes the download (no-op for a LocalStore's own file). */
  release: () => void;
}

export async function localCopy(store: ObjectStore, key: string): Promise<LocalCopy> {
  if (store instanceof LocalStore) return { path: join(store.root, key), release: () => undefined };
  const scratch = makeScratchDir('lemur-copy-');
  const path = join(scratch.dir, key.split('/').pop()!);
  await writeFile(path, await store.get(key));
  return { path, release: scratch.cleanup };
}
