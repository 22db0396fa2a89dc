/**
 * ψ's math pinned to a float64 TypeScript reference: forward (Linear, LayerNorm, exact-erf GELU,
 * extra hidden layers, the ELM variant), backward by finite differences, training behaviour.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { InputDataError, InvalidArgumentError } from '../../src/errors.js';
import { psiForward, psiGradients, trainPsi, type PsiWeights } from '../../src/native/psi.js';
import { lossF64, psiForwardF64, toF64 } from '../reference/psi-f64.js';

function randomPsi(rng: Random, dim: number, hidden: number, layers: number): PsiWeights {
  const u = (n: number, s: number): Float32Array => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  return {
    dim,
    hidden,
    layers: Array.from({ length: layers }, (_, i) => {
      const inp = i === 0 ? dim : hidden;
      return { in: inp, out: hidden, weight: u(hidden * inp, 1 / Math.sqrt(inp)), bias: u(hidden, 0.3), gamma: Float32Array.from({ length: hidden }, () => 0.5 + rng.next()), beta: u(hidden, 0.2), geluBeforeNorm: false };
    }),
  };
}

const normal = (rng: Random, n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * s);

describe('psiForward', () => {
  it('matches the float64 reference (Linear + LayerNorm + GELU, 2 layers, dim 7, h 33)', async () => {
    const rng = new Random(1);
    const psi = randomPsi(rng, 7, 33, 2);
    const X = normal(rng, 7 * 50);
    const Z = await psiForward(psi, X, { threads: 1 });
    const ref = psiForwardF64(psi, X, 50);
    for (let i = 0; i < Z.length; i++) assert.ok(Math.abs(Z[i]! - ref[i]!) <= 1e-5 * (1 + Math.abs(ref[i]!)), `Z[${i}] = ${Z[i]} vs ${ref[i]}`);
  });

  it('rejects X of the wrong width and non-finite values', async () => {
    const psi = randomPsi(new Random(2), 4, 8, 1);
    await assert.rejects(psiForward(psi, new Float32Array(7)), InvalidArgumentError);
    await assert.rejects(psiForward(psi, Float32Array.from([1, 2, NaN, 4])), InputDataError);
  });
});

describe('ψ backward', () => {
  it('matches finite differences of the float64 loss on a tiny 2-layer net', async () => {
    const rng = new Random(3);
    const [dim, h, m, n] = [5, 6, 4, 3];
    const psi = randomPsi(rng, dim, h, 2);
    const head = normal(rng, m * h, 0.5);
    const X = normal(rng, n * dim);
    const T = normal(rng, n * m);
    const { loss, grads } = await psiGradients(psi, head, X, T, m);
    const w = toF64(psi);
    const head64 = Float64Array.from(head);
    assert.ok(Math.abs(loss - lossF64(w, head64, X, T, n, m)) < 1e-5);
    const tensors: Float64Array[] = [];
    for (const L of w.layers) tensors.push(L.weight, L.bias, L.gamma!, L.beta!);
    tensors.push(head64);
    assert.equal(grads.length, tensors.length);
    const eps = 1e-4;
    tensors.forEach((p, ti) => {
      for (let i = 0; i < p.length; i++) {
        const keep = p[i]!;
        p[i] = keep + eps;
        const up = lossF64(w, head64, X, T, n, m);
        p[i] = keep - eps;
        const down = lossF64(w, head64, X, T, n, m);
        p[i] = keep;
        const fd = (up - down) / (2 * eps);
        const g = grads[ti]![i]!;
        assert.ok(Math.abs(g - fd) <= 2e-4 + 2e-3 * Math.abs(fd), `tensor ${ti}[${i}]: analytic ${g} vs finite difference ${fd}`);
      }
    });
  });
});

describe('trainPsi', () => {
  // a learnable problem: targets are a fixed smooth function of the inputs
  const rng = new Random(4);
  const [dim, m, n] = [8, 16, 2048];
  const X = normal(rng, n * dim);
  const A = normal(rng, m * dim);
  const Y = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += A[j * dim + k]! * X[i * dim + k]!;
    Y[i * m + j] = Math.tanh(s / 2);
  }
  const opts = { hidden: 64, epochs: 4, batch: 128, seed: 9, threads: 1 };

  it('lowers the loss every epoch and reports each epoch', async () => {
    const seen: number[] = [];
    const r = await trainPsi(X, dim, Y, m, { ...opts, onEpoch: (e) => seen.push(e.epoch) });
    assert.deepEqual(seen, [1, 2, 3, 4]);
    assert.equal(r.epochs.length, 4);
    for (let e = 1; e < 4; e++) assert.ok(r.epochs[e]!.trainLoss < r.epochs[e - 1]!.trainLoss, `epoch ${e + 1} loss ${r.epochs[e]!.trainLoss}`);
    assert.ok(r.epochs[3]!.trainLoss < 0.5 * r.epochs[0]!.trainLoss);
  });

  it('is reproducible for a given seed and thread count; another seed differs', async () => {
    const a = await trainPsi(X, dim, Y, m, opts);
    const b = await trainPsi(X, dim, Y, m, opts);
    const c = await trainPsi(X, dim, Y, m, { ...opts, seed: 10 });
    assert.deepEqual(a.psi, b.psi);
    assert.notDeepEqual(a.psi.layers[0]!.weight, c.psi.layers[0]!.weight);
  });

  it('keeps the best validation epoch when a validation split is given', async () => {
    const r = await trainPsi(X, dim, Y, m, { ...opts, valFraction: 0.2 });
    const losses = r.epochs.map((e) => e.valLoss!);
    assert.ok(losses.every((v) => Number.isFinite(v)));
    assert.equal(r.bestEpoch, losses.indexOf(Math.min(...losses)) + 1);
  });

  it('epochs: 0 gives random GELU features + LayerNorm without affine (ELM)', async () => {
    const r = await trainPsi(X, dim, Y, m, { ...opts, epochs: 0 });
    const L = r.psi.layers[0]!;
    assert.equal(L.geluBeforeNorm, true);
    assert.equal(L.gamma, undefined);
    const Z = await psiForward(r.psi, X.subarray(0, dim * 20), { threads: 1 });
    const ref = psiForwardF64(r.psi, X, 20);
    for (let i = 0; i < Z.length; i++) assert.ok(Math.abs(Z[i]! - ref[i]!) <= 1e-5 * (1 + Math.abs(ref[i]!)));
  });

  it('stops with an error naming the epoch when the loss becomes NaN, returning no model', async () => {
    await assert.rejects(trainPsi(X, dim, Y, m, { ...opts, lr: 1e38 }), (e: Error) => e instanceof InputDataError && /diverged.*epoch \d+/.test(e.message));
  });

  it('rejects bad inputs', async () => {
    const bad = X.slice();
    bad[5] = Infinity;
    await assert.rejects(trainPsi(bad, dim, Y, m, opts), InputDataError);
    await assert.rejects(trainPsi(X, dim, Y.subarray(1), m, opts), InvalidArgumentError);
    await assert.rejects(trainPsi(X, 7, Y, m, opts), InvalidArgumentError);
    await assert.rejects(trainPsi(X, dim, Y, m, { ...opts, valFraction: 1 }), InvalidArgumentError);
  });
});
