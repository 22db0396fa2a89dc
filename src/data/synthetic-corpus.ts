/**
 * A ColBERT-like synthetic corpus, generated in process: L2-normalised token vectors clustered
 * around a Zipf-distributed term vocabulary, documents with a topic, queries derived from a
 * source document plus [MASK]-like tokens. For the demo, tests and benchmarks when no dataset
 * of ../shared/data is given; it is not the shared generator and makes no claim to match it.
 */
import { Random, drawCdf, zipfCdf } from './random.js';

export interface SyntheticCorpusOptions {
  docs: number;
  queries: number;
  /** @defaultValue 128 */
  dim?: number;
  /** @defaultValue 1 */
  seed?: number;
  /** Token count range of documents; lengths are drawn around a mean of ~70. @defaultValue [30, 180] */
  minTokens?: number;
  maxTokens?: number;
  /** @defaultValue 32 */
  queryTokens?: number;
  /** Vocabulary size. @defaultValue 8192 */
  vocab?: number;
}

export interface Corpus {
  dim: number;
  docVectors: Float32Array;
  docCounts: Int32Array;
  queryVectors: Float32Array;
  queryCounts: Int32Array;
  /** The document each query was derived from. */
  querySourceDoc: Int32Array;
}

function normalizeInto(dst: Float32Array, at: number, dim: number): void {
  let s = 0;
  for (let k = 0; k < dim; k++) s += dst[at + k]! * dst[at + k]!;
  const inv = 1 / Math.sqrt(s || 1);
  for (let k = 0; k < dim; k++) dst[at + k]! *= inv;
}

export function generateCorpus(o: SyntheticCorpusOptions): Corpus {
  const dim = o.dim ?? 128;
  const minT = o.minTokens ?? 30;
  const maxT = o.maxTokens ?? 180;
  const qTokens = o.queryTokens ?? 32;
  const vocab = o.vocab ?? 8192;
  const topics = 64;
  const rng = new Random(o.seed ?? 1);
  const centroids = new Float32Array(vocab * dim);
  for (let i = 0; i < centroids.length; i++) centroids[i] = rng.normal();
  for (let v = 0; v < vocab; v++) normalizeInto(centroids, v * dim, dim);
  const globalCdf = zipfCdf(vocab, 1.0);
  const topicCdf = zipfCdf(256, 1.1);
  const topicBase = Int32Array.from({ length: topics }, () => rng.int(vocab));
  const noise = 0.45 / Math.sqrt(dim);

  const term = (topic: number): number =>
    rng.next() < 0.5 ? drawCdf(globalCdf, rng.next()) : (topicBase[topic]! + drawCdf(topicCdf, rng.next()) * 31) % vocab;

  const docCounts = new Int32Array(o.docs);
  const docTopic = new Int32Array(o.docs);
  let total = 0;
  for (let d = 0; d < o.docs; d++) {
    // log-normal lengths around 70, clamped to the range
    const len = Math.round(Math.exp(Math.log(62) + 0.5 * rng.normal()));
    docCounts[d] = Math.min(maxT, Math.max(minT, len));
    docTopic[d] = rng.int(topics);
    total += docCounts[d]!;
  }
  const docTerms = new Int32Array(total);
  const docVectors = new Float32Array(total * dim);
  let t = 0;
  for (let d = 0; d < o.docs; d++) {
    for (let i = 0; i < docCounts[d]!; i++, t++) {
      const v = term(docTopic[d]!);
      docTerms[t] = v;
      for (let k = 0; k < dim; k++) docVectors[t * dim + k] = centroids[v * dim + k]! + noise * rng.normal();
      normalizeInto(docVectors, t * dim, dim);
    }
  }
  const docStart = new Int32Array(o.docs + 1);
  for (let d = 0; d < o.docs; d++) docStart[d + 1] = docStart[d]! + docCounts[d]!;

  const queryCounts = new Int32Array(o.queries).fill(qTokens);
  const querySourceDoc = new Int32Array(o.queries);
  const queryVectors = new Float32Array(o.queries * qTokens * dim);
  const realTokens = Math.max(1, Math.round(qTokens * 0.6));
  for (let q = 0; q < o.queries; q++) {
    const src = rng.int(o.docs);
    querySourceDoc[q] = src;
    const base = q * qTokens * dim;
    const mean = new Float32Array(dim);
    for (let i = 0; i < qTokens; i++) {
      const at = base + i * dim;
      if (i < realTokens) {
        // a term of the source doc, re-noised: the query "mentions" the document
        const v = docTerms[docStart[src]! + rng.int(docCounts[src]!)]!;
        for (let k = 0; k < dim; k++) queryVectors[at + k] = centroids[v * dim + k]! + noise * rng.normal();
        normalizeInto(queryVectors, at, dim);
        for (let k = 0; k < dim; k++) mean[k]! += queryVectors[at + k]!;
      } else {
        // [MASK]-like augmentation: near the query's mean direction
        for (let k = 0; k < dim; k++) queryVectors[at + k] = mean[k]! / realTokens + 1.5 * noise * rng.normal();
        normalizeInto(queryVectors, at, dim);
      }
    }
  }
  return { dim, docVectors, docCounts, queryVectors, queryCounts, querySourceDoc };
}
