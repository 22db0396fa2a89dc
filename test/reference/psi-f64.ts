/**
 * ψ and its training loss in plain float64 TypeScript, independent of native/: the reference
 * for the forward pass (LayerNorm, exact-erf GELU) and, by finite differences, the backward pass.
 */
import type { PsiWeights } from '../../src/native/psi.js';

/** erf to ~1e-15 (series for |x| < 3, continued fraction beyond). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz)
    let f = ax;
    for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
    r = 1 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * f);
  }
  return x < 0 ? -r : r;
}

export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** ψ(X) for n rows, float64. `w` may hold float64 arrays (finite differences perturb them). */
export function psiForwardF64(w: PsiLike, X: ArrayLike<number>, n: number): Float64Array {
  let input: ArrayLike<number> = X;
  let width = w.dim;
  for (const L of w.layers) {
    const out = new Float64Array(n * L.out);
    for (let i = 0; i < n; i++) {
      const pre = new Float64Array(L.out);
      for (let o = 0; o < L.out; o++) {
        let s = L.bias[o]!;
        for (let k = 0; k < width; k++) s += L.weight[o * width + k]! * input[i * width + k]!;
        pre[o] = L.geluBeforeNorm ? gelu(s) : s;
      }
      let mu = 0;
      for (const v of pre) mu += v;
      mu /= L.out;
      let va = 0;
      for (const v of pre) va += (v - mu) ** 2;
      va /= L.out;
      const rstd = 1 / Math.sqrt(va + 1e-5);
      for (let o = 0; o < L.out; o++) {
        const xh = (pre[o]! - mu) * rstd;
        const nv = L.gamma ? L.gamma[o]! * xh + L.beta![o]! : xh;
        out[i * L.out + o] = L.geluBeforeNorm ? nv : gelu(nv);
      }
    }
    input = out;
    width = L.out;
  }
  return input as Float64Array;
}

export interface PsiLike {
  dim: number;
  hidden: number;
  layers: { in: number; out: number; weight: ArrayLike<number>; bias: ArrayLike<number>; gamma?: ArrayLike<number>; beta?: ArrayLike<number>; geluBeforeNorm: boolean }[];
}

/** mean((ψ(X) · headᵀ − T)²), float64. */
export function lossF64(w: PsiLike, head: ArrayLike<number>, X: ArrayLike<number>, T: ArrayLike<number>, n: number, m: number): number {
  const Z = psiForwardF64(w, X, n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let o = 0;
      for (let k = 0; k < w.hidden; k++) o += Z[i * w.hidden + k]! * head[j * w.hidden + k]!;
      s += (o - T[i * m + j]!) ** 2;
    }
  }
  return s / (n * m);
}

/** A deep float64 copy whose arrays finite differences may perturb. */
export function toF64(w: PsiWeights): PsiLike & { layers: { weight: Float64Array; bias: Float64Array; gamma?: Float64Array; beta?: Float64Array }[] } {
  return {
    dim: w.dim,
    hidden: w.hidden,
    layers: w.layers.map((L) => {
      const l: { in: number; out: number; weight: Float64Array; bias: Float64Array; gamma?: Float64Array; beta?: Float64Array; geluBeforeNorm: boolean } = {
        in: L.in,
        out: L.out,
        weight: Float64Array.from(L.weight),
        bias: Float64Array.from(L.bias),
        geluBeforeNorm: L.geluBeforeNorm,
      };
      if (L.gamma) l.gamma = Float64Array.from(L.gamma);
      if (L.beta) l.beta = Float64Array.from(L.beta);
      return l;
    }),
  };
}
