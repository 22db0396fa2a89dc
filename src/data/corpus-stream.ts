/**
 * The synthetic corpus of src/data/synthetic-corpus.ts (Zipf vocabulary, a topic per document,
 * log-normal lengths around 70, queries derived from a source document plus [MASK]-like tokens),
 * generated block by block so a corpus of any size never has to fit in memory: the scale
 * benchmark writes a million documents as Parquet shards from it. Block b of a stream is the same
 * whatever blocks were generated before it (its own seeded generator), so shards can be written
 * in any order. Token noise comes from a seeded pool of normals at random offsets (one draw per
 * token instead of dim Box–Muller draws: ~20× faster, and as isotropic at this scale).
 */
import { InvalidArgumentError } from '../errors.js';
import { Random, drawCdf, zipfCdf } from './random.js';

export interface CorpusStreamOptions {
  /** Documents in the whole corpus. */
  docs: number;
  /** Queries, each derived from a document drawn uniformly from the corpus. @defaultValue 0 */
  queries?: number;
  /** @defaultValue 128 */
  dim?: number;
  /** @defaultValue 1 */
  seed?: number;
  /** Documents per block (the unit of generation and of a Parquet row group). @defaultValue 4096 */
  blockDocs?: number;
  /** Vocabulary size. @defaultValue 8192 */
  vocab?: number;
}

/** Documents [first, first + counts.length) of the corpus. */
export interface DocBlock {
  first: number;
  /** Tokens per document. */
  counts: Int32Array;
  /** sum(counts) × dim, L2-normalised token vectors, documents one after another. */
  vectors: Float32Array;
}

const TOPICS = 64;
const QUERY_TOKENS = 32;
const NOISE_POOL = 1 << 20;

function normalizeInto(v: Float32Array, at: number, dim: number): void {
  let s = 0;
  for (let k = 0; k < dim; k++) s += v[at + k]! * v[at + k]!;
  const inv = 1 / Math.sqrt(s || 1);
  for (let k = 0; k < dim; k++) v[at + k]! *= inv;
}

export class CorpusStream {
  readonly docs: number;
  readonly dim: number;
  readonly blockDocs: number;
  readonly #seed: number;
  readonly #centroids: Float32Array;
  readonly #noise: Float32Array;
  readonly #globalCdf: Float64Array;
  readonly #topicCdf: Float64Array;
  readonly #topicBase: Int32Array;
  /** Source document of each query, ascending; queries are made as their block is generated. */
  readonly #querySource: Int32Array;
  readonly #queryVectors: Float32Array;
  #queriesMade = 0;

  constructor(o: CorpusStreamOptions) {
    if (!Number.isInteger(o.docs) || o.docs < 1) throw new InvalidArgumentError(`Expected docs to be an integer >= 1 but received ${o.docs}`);
    this.docs = o.docs;
    this.dim = o.dim ?? 128;
    this.blockDocs = o.blockDocs ?? 4096;
    this.#seed = o.seed ?? 1;
    const vocab = o.vocab ?? 8192;
    const rng = new Random(this.#seed);
    const dim = this.dim;
    this.#centroids = new Float32Array(vocab * dim);
    for (let i = 0; i < this.#centroids.length; i++) this.#centroids[i] = rng.normal();
    for (let v = 0; v < vocab; v++) normalizeInto(this.#centroids, v * dim, dim);
    const sigma = 0.45 / Math.sqrt(dim);
    this.#noise = Float32Array.from({ length: NOISE_POOL }, () => sigma * rng.normal());
    this.#globalCdf = zipfCdf(vocab, 1.0);
    this.#topicCdf = zipfCdf(256, 1.1);
    this.#topicBase = Int32Array.from({ length: TOPICS }, () => rng.int(vocab));
    const nq = o.queries ?? 0;
    this.#querySource = Int32Array.from({ length: nq }, () => rng.int(this.docs)).sort();
    this.#queryVectors = new Float32Array(nq * QUERY_TOKENS * dim);
  }

  get blocks(): number {
    return Math.ceil(this.docs / this.blockDocs);
  }

  #term(rng: Random, topic: number): number {
    const vocab = this.#globalCdf.length;
    return rng.next() < 0.5 ? drawCdf(this.#globalCdf, rng.next()) : (this.#topicBase[topic]! + drawCdf(this.#topicCdf, rng.next()) * 31) % vocab;
  }

  /** centroid(term) + pooled noise, normalised, into v at `at`. */
  #token(rng: Random, term: number, v: Float32Array, at: number, noiseScale = 1): void {
    const dim = this.dim;
    const c = term * dim;
    const n = rng.int(NOISE_POOL - dim);
    for (let k = 0; k < dim; k++) v[at + k] = this.#centroids[c + k]! + noiseScale * this.#noise[n + k]!;
    normalizeInto(v, at, dim);
  }

  /**
   * Block b (documents [b·blockDocs, …)). Queries whose source document lies in it are made now:
   * generate every block once, in any order, before reading `queries`.
   */
  block(b: number): DocBlock {
    if (!Number.isInteger(b) || b < 0 || b >= this.blocks) throw new InvalidArgumentError(`Expected a block in [0, ${this.blocks}) but received ${b}`);
    const dim = this.dim;
    const first = b * this.blockDocs;
    const n = Math.min(this.blockDocs, this.docs - first);
    const rng = new Random((this.#seed * 1_000_003 + b + 1) >>> 0);
    const counts = new Int32Array(n);
    const topic = new Int32Array(n);
    let total = 0;
    for (let d = 0; d < n; d++) {
      const len = Math.round(Math.exp(Math.log(62) + 0.5 * rng.normal()));
      counts[d] = Math.min(180, Math.max(30, len));
      topic[d] = rng.int(TOPICS);
      total += counts[d]!;
    }
    const vectors = new Float32Array(total * dim);
    const terms = new Int32Array(total);
    for (let d = 0, t = 0; d < n; d++) {
      for (let i = 0; i < counts[d]!; i++, t++) {
        terms[t] = this.#term(rng, topic[d]!);
        this.#token(rng, terms[t]!, vectors, t * dim);
      }
    }
    this.#makeQueries(first, counts, terms, rng);
    return { first, counts, vectors };
  }

  #makeQueries(first: number, counts: Int32Array, terms: Int32Array, rng: Random): void {
    const dim = this.dim;
    const real = Math.round(QUERY_TOKENS * 0.6);
    const starts = new Int32Array(counts.length + 1);
    for (let d = 0; d < counts.length; d++) starts[d + 1] = starts[d]! + counts[d]!;
    const src = this.#querySource;
    for (let q = 0; q < src.length; q++) {
      const d = src[q]! - first;
      if (d < 0 || d >= counts.length) continue;
      const base = q * QUERY_TOKENS * dim;
      const mean = new Float32Array(dim);
      for (let i = 0; i < QUERY_TOKENS; i++) {
        const at = base + i * dim;
        if (i < real) {
          // a term of the source document, re-noised: the query "mentions" it
          this.#token(rng, terms[starts[d]! + rng.int(counts[d]!)]!, this.#queryVectors, at);
          for (let k = 0; k < dim; k++) mean[k]! += this.#queryVectors[at + k]!;
        } else {
          // [MASK]-like augmentation: near the query's mean direction
          const n = rng.int(NOISE_POOL - dim);
          for (let k = 0; k < dim; k++) this.#queryVectors[at + k] = mean[k]! / real + 1.5 * this.#noise[n + k]!;
          normalizeInto(this.#queryVectors, at, dim);
        }
      }
      this.#queriesMade++;
    }
  }

  /** The queries (32 tokens each) and their source documents, once every block has been generated. */
  get queries(): { vectors: Float32Array; counts: Int32Array; sourceDoc: Int32Array } {
    if (this.#queriesMade !== this.#querySource.length) {
      throw new InvalidArgumentError(`${this.#querySource.length - this.#queriesMade} of ${this.#querySource.length} queries come from blocks not generated yet`);
    }
    return { vectors: this.#queryVectors, counts: new Int32Array(this.#querySource.length).fill(QUERY_TOKENS), sourceDoc: this.#querySource };
  }
}
