/**
 * The OLS stage: the pseudo-inverse recovers exactly-linear weights; document rows equal the
 * float64 formula pinv(Z)·((Y−mean)/std); a row is bit-identical whether computed with the whole
 * corpus or alone (incremental ingestion); standardisation and inner-product top-k match plain TS.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { maxsimTargets } from '../../src/native/maxsim.js';
import { innerProductTopK, olsBasis, olsWeights, standardizeTargets } from '../../src/native/ols.js';
import { TokenStore } from '../../src/native/token-store.js';
import { randomItems, sequentialIds } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const normal = (rng: Random, n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * s);

/** pinv(Z) · y from pinvT (s × h): w[c] = Σ_r pinvT[r, c] · y[r], float64. */
function applyPinv(pinvT: Float32Array, s: number, h: number, y: ArrayLike<number>): Float64Array {
  const w = new Float64Array(h);
  for (let r = 0; r < s; r++) for (let c = 0; c < h; c++) w[c]! += pinvT[r * h + c]! * y[r]!;
  return w;
}

describe('olsBasis', () => {
  it('recovers the weights of an exactly linear problem', async () => {
    const rng = new Random(1);
    const [s, h] = [300, 24];
    const Z = normal(rng, s * h);
    const wTrue = normal(rng, h);
    const y = new Float64Array(s);
    for (let r = 0; r < s; r++) for (let c = 0; c < h; c++) y[r]! += Z[r * h + c]! * wTrue[c]!;
    const { pinvT, rank } = await olsBasis(Z, h, { threads: 1 });
    assert.equal(rank, h);
    const w = applyPinv(pinvT, s, h, y);
    for (let c = 0; c < h; c++) assert.ok(Math.abs(w[c]! - wTrue[c]!) < 1e-4, `w[${c}] = ${w[c]} vs ${wTrue[c]}`);
  });

  it('drops directions below the cutoff of a rank-deficient Z', async () => {
    const rng = new Random(2);
    const [s, h] = [100, 8];
    const Z = normal(rng, s * h);
    for (let r = 0; r < s; r++) Z[r * h + 7] = Z[r * h + 3]!; // column 7 repeats column 3
    const { rank } = await olsBasis(Z, h, { threads: 1 });
    assert.equal(rank, 7);
  });

  it('rejects an underdetermined sample', async () => {
    await assert.rejects(olsBasis(new Float32Array(10 * 16), 16), InvalidArgumentError);
  });
});

describe('olsWeights', () => {
  const dim = 32;
  const h = 16;
  const s = 96;
  const rng = new Random(3);
  const docs = randomItems(rng, 150, dim, 1, 60);
  const sample = normal(rng, s * dim, 1 / Math.sqrt(dim));
  const Z = normal(rng, s * h);
  let store: TokenStore;
  let pinvT: Float32Array;
  const mean = 0.1;
  const std = 0.25;
  before(async () => {
    await TokenStore.write(join(tmp.dir, 'ols.lts'), { vectors: docs.vectors, counts: docs.counts, dim, ids: sequentialIds(150) });
    store = await TokenStore.open(join(tmp.dir, 'ols.lts'));
    pinvT = (await olsBasis(Z, h, { threads: 1 })).pinvT;
  });
  after(() => store.close());
  const input = (): Parameters<typeof olsWeights>[1] => ({ sample, pinvT, h, mean, std });

  it('equals pinv(Z)·((Y − mean)/std) computed in float64', async () => {
    const idx = BigInt64Array.from([4n, 140n, 0n, 77n]);
    const W = await olsWeights(store, input(), idx, { threads: 2 });
    const Y = await maxsimTargets(sample, store, idx, { threads: 1 });
    for (let j = 0; j < idx.length; j++) {
      const y = Array.from({ length: s }, (_, r) => (Y[r * idx.length + j]! - mean) / std);
      const want = applyPinv(pinvT, s, h, y);
      for (let c = 0; c < h; c++) assert.ok(Math.abs(W[j * h + c]! - want[c]!) <= 1e-4 * (1 + Math.abs(want[c]!)), `doc ${idx[j]} col ${c}: ${W[j * h + c]} vs ${want[c]}`);
    }
  });

  it('gives each document the same bits alone, in any batch and in the full build', async () => {
    const all = BigInt64Array.from({ length: 150 }, (_, i) => BigInt(i));
    const full = new Uint32Array((await olsWeights(store, input(), all, { threads: 2 })).buffer);
    const rowOf = (W: Float32Array, j: number): Uint32Array => new Uint32Array(W.buffer, W.byteOffset + j * h * 4, h);
    // alone
    for (const d of [0, 63, 64, 149]) {
      const one = await olsWeights(store, input(), BigInt64Array.from([BigInt(d)]), { threads: 2 });
      assert.deepEqual(rowOf(one, 0), full.subarray(d * h, (d + 1) * h), `doc ${d} alone`);
    }
    // a shuffled batch that puts documents at other block positions
    const order = Array.from(new Random(5).sample(150, 90));
    const batch = await olsWeights(store, input(), BigInt64Array.from(order, (v) => BigInt(v)), { threads: 1 });
    order.forEach((d, j) => assert.deepEqual(rowOf(batch, j), full.subarray(d * h, (d + 1) * h), `doc ${d} at position ${j}`));
  });

  it('rejects positions outside the store and mismatched shapes', async () => {
    await assert.rejects(olsWeights(store, input(), BigInt64Array.from([150n])), InvalidArgumentError);
    await assert.rejects(olsWeights(store, { ...input(), pinvT: pinvT.subarray(1) }, BigInt64Array.from([1n])), InvalidArgumentError);
    await assert.rejects(olsWeights(store, { ...input(), sample: sample.subarray(1) }, BigInt64Array.from([1n])), InvalidArgumentError);
  });
});

describe('standardizeTargets and innerProductTopK', () => {
  it('standardises with the global mean and population std', async () => {
    const rng = new Random(6);
    const Y = Float32Array.from({ length: 5000 }, () => 3 + 2 * rng.normal());
    const orig = Float64Array.from(Y);
    const { mean, std } = await standardizeTargets(Y, { threads: 2 });
    const mu = orig.reduce((a, b) => a + b, 0) / orig.length;
    const sd = Math.sqrt(orig.reduce((a, b) => a + (b - mu) ** 2, 0) / orig.length);
    assert.ok(Math.abs(mean - mu) < 1e-5 && Math.abs(std - sd) < 1e-5);
    for (let i = 0; i < Y.length; i += 97) assert.ok(Math.abs(Y[i]! - (orig[i]! - mean) / std) < 1e-5);
    await assert.rejects(standardizeTargets(new Float32Array(10).fill(1)), /constant/);
  });

  // 1 and 3 queries take the threaded dot-product scan, 9 the blocked sgemm
  for (const nq of [1, 3, 9]) {
    it(`finds the exact inner-product top-k, ties to the lower row (${nq} queries)`, async () => {
      const rng = new Random(7);
      const [n, h, k] = [5000, 24, 15];
      const F = normal(rng, nq * h);
      const W = normal(rng, n * h);
      W.set(W.subarray(10 * h, 11 * h), 20 * h); // row 20 ties row 10
      const r = await innerProductTopK(F, W, h, k, { threads: 2 });
      for (let q = 0; q < nq; q++) {
        const scores = Array.from({ length: n }, (_, j) => {
          let s = 0;
          for (let c = 0; c < h; c++) s += Math.fround(F[q * h + c]! * W[j * h + c]!);
          return s;
        });
        const want = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, k);
        const got = Array.from(r.row(q).labels, Number);
        for (let i = 0; i < k; i++) {
          if (got[i] !== want[i]) assert.ok(Math.abs(scores[got[i]!]! - scores[want[i]!]!) < 1e-4, `query ${q} rank ${i}`);
        }
        const at10 = got.indexOf(10);
        const at20 = got.indexOf(20);
        if (at10 >= 0 && at20 >= 0) assert.ok(at10 < at20, 'tie goes to the lower row');
      }
    });
  }
});
