/** Lifetime of the native ψ handle (PsiHandle) and of the LemurModel that loads it lazily. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { ClosedError, ResourceBusyError } from '../../src/errors.js';
import { PsiHandle, psiQueryFeatures, trainPsi, type PsiWeights } from '../../src/native/psi.js';
import { LemurModel } from '../../src/model/lemur-model.js';

const dim = 128;
const hidden = 2048;

async function elmPsi(): Promise<PsiWeights> {
  const rng = new Random(3);
  const X = Float32Array.from({ length: dim * 8 }, () => rng.normal());
  return (await trainPsi(X, dim, new Float32Array(8), 1, { hidden, epochs: 0, seed: 5 })).psi;
}

function queries(nq: number, tokens: number): { vectors: Float32Array; counts: Int32Array } {
  const rng = new Random(4);
  return { vectors: Float32Array.from({ length: nq * tokens * dim }, () => rng.normal()), counts: new Int32Array(nq).fill(tokens) };
}

describe('PsiHandle lifetime', () => {
  it('gives the same bits as plain weights; close() is idempotent and every later call throws ClosedError', async () => {
    const psi = await elmPsi();
    const q = queries(4, 32);
    const h = await PsiHandle.load(psi);
    assert.equal(h.dim, dim);
    assert.equal(h.hidden, hidden);
    const a = await h.queryFeatures(q.vectors, q.counts);
    assert.deepEqual(a, await psiQueryFeatures(psi, q.vectors, q.counts));
    h.close();
    h.close();
    assert.equal(h.closed, true);
    await assert.rejects(h.queryFeatures(q.vectors, q.counts), ClosedError);
    await assert.rejects(h.forward(q.vectors), ClosedError);
  });

  it('close() during a call in flight throws ResourceBusyError; after it settles, close() works', async () => {
    const h = await PsiHandle.load(await elmPsi());
    const q = queries(400, 32);
    const pending = h.queryFeatures(q.vectors, q.counts, { threads: 1 });
    assert.throws(() => h.close(), ResourceBusyError);
    assert.equal((await pending).length, 400 * hidden);
    h.close();
    assert.equal(h.closed, true);
  });

  it('keeps its own copy: changing the weights after load() changes nothing', async () => {
    const psi = await elmPsi();
    const q = queries(2, 8);
    const h = await PsiHandle.load(psi);
    try {
      const before = await h.queryFeatures(q.vectors, q.counts);
      psi.layers[0]!.weight.fill(0);
      assert.deepEqual(await h.queryFeatures(q.vectors, q.counts), before);
    } finally {
      h.close();
    }
  });
});

describe('LemurModel ψ handle', () => {
  function model(psi: PsiWeights): LemurModel {
    const config = { dim, hidden, numLayers: 1, mPrime: 1, nLearn: 8, olsSamples: 1, epochs: 0, batch: 8, lr: 1e-3, clip: 1, valFraction: 0, seed: 5, queryDivisor: 32 };
    return new LemurModel(config, psi, { mean: 0, std: 1 }, new Float32Array(dim), new Float32Array(hidden), { olsRank: 1, bestEpoch: 0, epochs: [] });
  }

  it('loads ψ once, lets close() wait for calls in flight, and is closed after close()', async () => {
    const psi = await elmPsi();
    const m = model(psi);
    const q = queries(200, 32);
    const first = await m.features(q.vectors, q.counts);
    const pending = m.features(q.vectors, q.counts, { threads: 1 });
    await new Promise((r) => setImmediate(r));
    assert.throws(() => m.close(), ResourceBusyError);
    assert.deepEqual(await pending, first);
    m.close();
    m.close();
    await assert.rejects(m.features(q.vectors, q.counts), ClosedError);
  });

  it('close() before any features() call, or while ψ is still loading, is fine', async () => {
    const psi = await elmPsi();
    model(psi).close();
    const m = model(psi);
    const q = queries(1, 4);
    const pending = m.features(q.vectors, q.counts);
    m.close();
    await assert.rejects(pending, ClosedError);
  });
});
