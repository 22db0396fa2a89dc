/**
 * Opened versions kept warm in an eval worker: loading a version (model, token stores, W,
 * HNSW) costs far more than a batch of queries, so each worker opens a version once and keeps
 * the last few. Jobs run one at a time per worker, so an evicted version is not in use.
 */
import { openVersion, type OpenedVersion } from '../query/open-version.js';
import type { ObjectStore } from '../store/object-store.js';

export class VersionCache {
  readonly #store: ObjectStore;
  readonly #max: number;
  readonly #open = new Map<string, Promise<OpenedVersion>>();

  constructor(store: ObjectStore, max = 2) {
    this.#store = store;
    this.#max = max;
  }

  async get(version: string): Promise<OpenedVersion> {
    let p = this.#open.get(version);
    if (p) {
      this.#open.delete(version); // re-insert: most recently used last
      this.#open.set(version, p);
      return p;
    }
    p = openVersion(this.#store, version);
    this.#open.set(version, p);
    p.catch(() => this.#open.delete(version));
    while (this.#open.size > this.#max) {
      const [oldest, q] = this.#open.entries().next().value as [string, Promise<OpenedVersion>];
      this.#open.delete(oldest);
      void q.then((o) => o.close(), () => undefined);
    }
    return p;
  }

  async close(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    for (const p of all) await p.then((o) => o.close(), () => undefined);
  }
}
