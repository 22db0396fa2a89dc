/** Random token data for kernel tests: normal values scaled so dot products are O(1). */
import { Random } from '../../src/data/random.js';

export interface Docs {
  vectors: Float32Array;
  counts: Int32Array;
}

/** n items of lengths in [minTok, maxTok], dim values per token, entries ~ N(0, 1/dim). */
export function randomItems(rng: Random, n: number, dim: number, minTok: number, maxTok: number): Docs {
  const counts = new Int32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    counts[i] = minTok + rng.int(maxTok - minTok + 1);
    total += counts[i]!;
  }
  const vectors = new Float32Array(total * dim);
  const scale = 1 / Math.sqrt(dim);
  for (let i = 0; i < vectors.length; i++) vectors[i] = rng.normal() * scale;
  return { vectors, counts };
}

/** Row offsets (in tokens) of each item. */
export function offsetsOf(counts: Int32Array): Int32Array {
  const off = new Int32Array(counts.length + 1);
  for (let i = 0; i < counts.length; i++) off[i + 1] = off[i]! + counts[i]!;
  return off;
}

/**
 * count rows of dim values near `centres` (nc × dim, one drawn per row): centre + noise · N(0, 1)
 * per value. Clustered rows give HNSW the near-ties and dense regions random rows lack.
 */
export function clusteredRows(rng: Random, centres: Float32Array, dim: number, count: number, noise: number): Float32Array {
  const nc = centres.length / dim;
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const c = rng.int(nc);
    for (let j = 0; j < dim; j++) out[i * dim + j] = centres[c * dim + j]! + noise * rng.normal();
  }
  return out;
}

export function sequentialIds(n: number, start = 0): BigInt64Array {
  return BigInt64Array.from({ length: n }, (_, i) => BigInt(start + i));
}

/** The items of a followed by the items of b. */
export function concatItems(a: Docs, b: Docs): Docs {
  const vectors = new Float32Array(a.vectors.length + b.vectors.length);
  vectors.set(a.vectors);
  vectors.set(b.vectors, a.vectors.length);
  const counts = new Int32Array(a.counts.length + b.counts.length);
  counts.set(a.counts);
  counts.set(b.counts, a.counts.length);
  return { vectors, counts };
}
