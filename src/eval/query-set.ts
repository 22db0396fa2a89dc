/**
 * A set of multi-vector queries (token vectors, per-query counts, ids), slices of it, and the
 * held-out sample a scheduled rebuild is judged on when no query file is given.
 */
import { Random } from '../data/random.js';
import { InputDataError, InvalidArgumentError } from '../errors.js';
import type { QueryEngine } from '../query/query-engine.js';

export interface QuerySet {
  dim: number;
  vectors: Float32Array;
  counts: Int32Array;
  ids: string[];
}

/** Queries must have the dim of the model that answers them: the error names both dims and the file. */
export function checkQueryDim(q: QuerySet, source: string, version: string, modelDim: number): void {
  if (q.dim !== modelDim) throw new InputDataError(`${source}: query token vectors have dim ${q.dim}, the model of version ${version} has dim ${modelDim}`, { file: source, field: 'dim' });
}

/** Queries [from, to) as their own set (vectors copied out). */
export function sliceQueries(q: QuerySet, from: number, to: number): QuerySet {
  if (from < 0 || to > q.counts.length || from >= to) throw new InvalidArgumentError(`Expected 0 <= from < to <= ${q.counts.length} but received [${from}, ${to})`);
  let start = 0;
  for (let i = 0; i < from; i++) start += q.counts[i]!;
  let end = start;
  for (let i = from; i < to; i++) end += q.counts[i]!;
  return { dim: q.dim, vectors: q.vectors.slice(start * q.dim, end * q.dim), counts: q.counts.slice(from, to), ids: q.ids.slice(from, to) };
}

/**
 * `n` seeded queries of `docsPerQuery` × `tokensPerDoc` corpus tokens, each query mixing tokens
 * of a few random stored documents (tombstoned ones too: their tokens still look like the
 * corpus, as LEMUR's proxy queries do) while being no document, so both versions of a
 * comparison are judged on the same unseen queries.
 */
export function heldOutQueries(engine: QueryEngine, n: number, seed: number, docsPerQuery = 4, tokensPerDoc = 8): QuerySet {
  const rng = new Random(seed);
  const shards = engine.shards;
  const dim = shards[0]!.store.dim;
  const total = shards.reduce((a, s) => a + s.store.nDocs, 0);
  const vectors: number[] = [];
  const counts = new Int32Array(n);
  for (let q = 0; q < n; q++) {
    for (let d = 0; d < docsPerQuery; d++) {
      let g = rng.int(total);
      let si = 0;
      while (g >= shards[si]!.store.nDocs) g -= shards[si++]!.store.nDocs;
      const toks = shards[si]!.store.docTokens(g);
      const nt = toks.length / dim;
      for (let t = 0; t < tokensPerDoc; t++) {
        const row = rng.int(nt);
        for (let j = 0; j < dim; j++) vectors.push(toks[row * dim + j]!);
      }
      counts[q]! += tokensPerDoc;
    }
  }
  return { dim, vectors: Float32Array.from(vectors), counts, ids: Array.from({ length: n }, (_, i) => `heldout-${i}`) };
}

/** Mean over queries of |found ∩ truth| / k, on rows of k ids (null = no result). */
export function recallAtK(found: readonly (unknown | null)[], truth: readonly (unknown | null)[], nq: number, k: number): number {
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const t = new Set(truth.slice(q * k, (q + 1) * k).filter((x) => x !== null).map(String));
    for (const id of found.slice(q * k, (q + 1) * k)) if (id !== null && t.has(String(id))) hit++;
  }
  return hit / (nq * k);
}
