/** An object store that records every ranged read of another (what a reader fetched, and how much). */
import type { ObjectStore } from '../../src/store/object-store.js';

export function spyStore(inner: ObjectStore): { store: ObjectStore; reads: [key: string, start: number, end: number][] } {
  const reads: [string, number, number][] = [];
  const store: ObjectStore = {
    url: inner.url,
    put: (k, b) => inner.put(k, b),
    putFile: (k, path, o) => inner.putFile(k, path, o),
    getStream: (k) => inner.getStream(k),
    getFile: (k, path, o) => inner.getFile(k, path, o),
    get: (k) => inner.get(k),
    getRange: (k, s, e) => {
      reads.push([k, s, e]);
      return inner.getRange(k, s, e);
    },
    head: (k) => inner.head(k),
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
    swap: (k, a, b) => inner.swap(k, a, b),
  };
  return { store, reads };
}
