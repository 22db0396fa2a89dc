/**
 * The body of POST /v1/search, checked and turned into what the engine takes: token vectors as
 * one Float32Array and tokens per query. Two encodings of the embeddings:
 *   - `queries`: JSON, one array of token vectors per query ([[[0.1, …], …], …]);
 *   - `tensor`: { dtype: 'float32' | 'float16', shape: [tokens, dim], data: base64 of the
 *     little-endian values, counts?: tokens per query (default: one query of every token) }.
 * The JSON schema (fastify/ajv) checks the outline; the values are checked here, in the one pass
 * that copies them, so a message can name the exact element (`queries[1][4][17]`).
 */
import { decodeHalves } from '../parquet/float16.js';
import { RequestError } from './serve-errors.js';

export interface SearchLimits {
  /** Queries in one request. @defaultValue 64 */
  maxQueries: number;
  /** Tokens in one query. @defaultValue 512 */
  maxTokens: number;
  /** @defaultValue 1000 */
  maxK: number;
  /** @defaultValue 10 000 */
  maxKPrime: number;
  /** @defaultValue 20 000 */
  maxEfSearch: number;
}

export const DEFAULT_LIMITS: SearchLimits = { maxQueries: 64, maxTokens: 512, maxK: 1000, maxKPrime: 10_000, maxEfSearch: 20_000 };

/** Defaults of a search when the request leaves them out. */
export const SEARCH_DEFAULTS = { k: 10, kPrime: 100 } as const;

export interface SearchBody {
  queries?: number[][][];
  tensor?: { dtype: 'float32' | 'float16'; shape: number[]; data: string; counts?: number[] };
  k?: number;
  kPrime?: number;
  efSearch?: number;
  version?: string;
}

export interface SearchRequest {
  vectors: Float32Array;
  counts: Int32Array;
  k: number;
  kPrime: number;
  efSearch: number | undefined;
  version: string | undefined;
}

const uint = { type: 'integer', minimum: 1 } as const;

/** The outline fastify validates before the handler runs (unknown fields are refused). */
export const searchBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    queries: { type: 'array', minItems: 1, items: { type: 'array', items: { type: 'array' } } },
    tensor: {
      type: 'object',
      additionalProperties: false,
      required: ['dtype', 'shape', 'data'],
      properties: {
        dtype: { enum: ['float32', 'float16'] },
        shape: { type: 'array', minItems: 2, maxItems: 2, items: uint },
        data: { type: 'string' },
        counts: { type: 'array', minItems: 1, items: uint },
      },
    },
    k: uint,
    kPrime: uint,
    efSearch: uint,
    version: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 200 },
  },
} as const;

function checkCount(field: string, n: number, max: number, what: string): void {
  if (n > max) throw new RequestError(field, `${n} ${what}, more than the limit of ${max}`);
}

function checkFinite(field: (i: number) => string, v: Float32Array): void {
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) throw new RequestError(field(i), `value ${v[i]} is not a finite float32`);
  }
}

function fromJson(queries: number[][][], dim: number, limits: SearchLimits): { vectors: Float32Array; counts: Int32Array } {
  checkCount('queries', queries.length, limits.maxQueries, 'queries');
  const counts = new Int32Array(queries.length);
  let total = 0;
  queries.forEach((q, i) => {
    if (q.length === 0) throw new RequestError(`queries[${i}]`, 'a query needs at least one token vector');
    checkCount(`queries[${i}]`, q.length, limits.maxTokens, 'tokens');
    counts[i] = q.length;
    total += q.length;
  });
  const vectors = new Float32Array(total * dim);
  let o = 0;
  queries.forEach((q, i) => {
    q.forEach((t, j) => {
      if (t.length !== dim) throw new RequestError(`queries[${i}][${j}]`, `${t.length} values, expected dim ${dim}`);
      for (let c = 0; c < dim; c++) {
        const x = t[c];
        // JSON cannot carry NaN, but 1e39 overflows float32 and a string is not a number
        if (typeof x !== 'number' || !Number.isFinite(Math.fround(x))) throw new RequestError(`queries[${i}][${j}][${c}]`, `${JSON.stringify(x)} is not a finite float32`);
        vectors[o++] = x;
      }
    });
  });
  return { vectors, counts };
}

function fromTensor(t: NonNullable<SearchBody['tensor']>, dim: number, limits: SearchLimits): { vectors: Float32Array; counts: Int32Array } {
  const [tokens, width] = t.shape as [number, number];
  if (width !== dim) throw new RequestError('tensor.shape[1]', `dim ${width}, expected ${dim}`);
  const bytesPer = t.dtype === 'float16' ? 2 : 4;
  const expected = tokens * dim * bytesPer;
  // base64 length bounds the decoded size: data far beyond the shape fails before it is decoded
  // (line breaks, which Buffer.from skips, only make the text longer, never the bytes)
  if (Math.floor((t.data.length * 3) / 4) > expected + 4 * 1024) throw new RequestError('tensor.data', `about ${Math.floor((t.data.length * 3) / 4)} bytes of base64, expected ${tokens} × ${dim} ${t.dtype} = ${expected}`);
  const raw = Buffer.from(t.data, 'base64');
  if (raw.length !== expected) throw new RequestError('tensor.data', `${raw.length} bytes after base64, expected ${tokens} × ${dim} ${t.dtype} = ${expected}`);
  const counts = Int32Array.from(t.counts ?? [tokens]);
  checkCount('tensor.counts', counts.length, limits.maxQueries, 'queries');
  let sum = 0;
  counts.forEach((c, i) => {
    checkCount(`tensor.counts[${i}]`, c, limits.maxTokens, 'tokens');
    sum += c;
  });
  if (sum !== tokens) throw new RequestError('tensor.counts', `sum ${sum}, expected tensor.shape[0] = ${tokens}`);
  let vectors: Float32Array;
  if (t.dtype === 'float16') {
    vectors = decodeHalves(raw);
  } else {
    vectors = new Float32Array(tokens * dim);
    new Uint8Array(vectors.buffer).set(raw); // copy: the Buffer may be unaligned; little-endian hosts only (x86-64)
  }
  checkFinite((i) => `tensor.data[${Math.floor(i / dim)}][${i % dim}]`, vectors);
  return { vectors, counts };
}

/**
 * Checks a validated body against the version's dim and the limits.
 * @throws RequestError naming the field
 */
export function parseSearchBody(body: SearchBody, dim: number, limits: SearchLimits = DEFAULT_LIMITS): SearchRequest {
  if ((body.queries === undefined) === (body.tensor === undefined)) throw new RequestError('queries', 'give the embeddings either as `queries` (JSON arrays) or as `tensor` (base64), exactly one of them');
  const { vectors, counts } = body.queries ? fromJson(body.queries, dim, limits) : fromTensor(body.tensor!, dim, limits);
  const k = body.k ?? SEARCH_DEFAULTS.k;
  const kPrime = body.kPrime ?? Math.max(SEARCH_DEFAULTS.kPrime, k);
  checkCount('k', k, limits.maxK, 'results');
  checkCount('kPrime', kPrime, limits.maxKPrime, 'candidates');
  if (kPrime < k) throw new RequestError('kPrime', `${kPrime} is below k = ${k}: the rerank needs at least k candidates`);
  if (body.efSearch !== undefined) {
    checkCount('efSearch', body.efSearch, limits.maxEfSearch, 'as beam width');
    if (body.efSearch < kPrime) throw new RequestError('efSearch', `${body.efSearch} is below kPrime = ${kPrime}: the HNSW beam must hold the k' candidates`);
  }
  return { vectors, counts, k, kPrime, efSearch: body.efSearch, version: body.version };
}
