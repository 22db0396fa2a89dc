/**
 * Plain float64 MaxSim, independent of native/: the reference every kernel is pinned to.
 * Items are given as (vectors, counts) with rows of `dim` values.
 */
import { offsetsOf, type Docs } from '../helpers/data.js';

export function maxsimF64(q: Float32Array, qOff: number, nq: number, d: Float32Array, dOff: number, nd: number, dim: number): number {
  let sum = 0;
  for (let i = 0; i < nq; i++) {
    let best = -Infinity;
    for (let t = 0; t < nd; t++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += q[(qOff + i) * dim + k]! * d[(dOff + t) * dim + k]!;
      if (dot > best) best = dot;
    }
    sum += best;
  }
  return sum;
}

/** scores[qi][j] = MaxSim(query qi, doc j) in float64. */
export function allScoresF64(queries: Docs, docs: Docs, dim: number): Float64Array[] {
  const qo = offsetsOf(queries.counts);
  const dO = offsetsOf(docs.counts);
  return Array.from(queries.counts, (nqt, qi) => {
    const row = new Float64Array(docs.counts.length);
    for (let j = 0; j < docs.counts.length; j++) row[j] = maxsimF64(queries.vectors, qo[qi]!, nqt, docs.vectors, dO[j]!, docs.counts[j]!, dim);
    return row;
  });
}

/** Top-k doc positions by score, descending, ties to the lower position. */
export function topK(scores: Float64Array, k: number): number[] {
  return Array.from(scores.keys())
    .sort((a, b) => scores[b]! - scores[a]! || a - b)
    .slice(0, k);
}

/** max over tokens of doc j of <x, c> in float64. */
export function maxDotF64(x: Float32Array, xRow: number, d: Float32Array, dOff: number, nd: number, dim: number): number {
  return maxsimF64(x, xRow, 1, d, dOff, nd, dim);
}

/**
 * A float32-rounding error bound for one MaxSim of nqt query tokens: each dot of `dim` terms
 * accumulated in fp32 errs by at most ~dim·u·Σ|q_k·d_k| (u = 2^-24); with entries ~N(0, 1/dim)
 * Σ|q_k·d_k| is O(1), and the query's maxima add nqt such errors. Factor 4 for slack.
 */
export function fp32Tolerance(nqt: number, dim: number): number {
  return 4 * nqt * dim * 2 ** -24 * 3 + 1e-6;
}
