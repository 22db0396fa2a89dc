/**
 * fitLemur's progress (issue 14): the phases in order, targets summed over the stores of a
 * multi-store fit up to done === total, ψ's batches in order with each epoch's end carrying its
 * validation loss, the OLS basis in steps; onEpoch and onBatch still called; the same model with
 * and without a callback.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { setLogLevel } from '../../src/log.js';
import { buildTargets, fitLemur, type FitLemurOptions, type FitProgress } from '../../src/model/fit-lemur.js';
import { maxsimTargets } from '../../src/native/maxsim.js';
import { TokenStore } from '../../src/native/token-store.js';
import { sequentialIds } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('warn'); // fit progress lines would drown the test report

const tmp = makeTmpDir();
const stores: TokenStore[] = [];

before(async () => {
  // one corpus in two shards of different sizes
  const c = generateCorpus({ docs: 300, queries: 5, dim: 32, seed: 7 });
  let tok = 0;
  for (const [i, [from, to]] of [[0, 120], [120, 300]].entries()) {
    const counts = c.docCounts.subarray(from!, to!);
    const ntok = counts.reduce((a, b) => a + b, 0);
    const path = join(tmp.dir, `s${i}.lts`);
    await TokenStore.write(path, { vectors: c.docVectors.subarray(tok * 32, (tok + ntok) * 32), counts, dim: 32, ids: sequentialIds(to! - from!, from!) });
    tok += ntok;
    stores.push(await TokenStore.open(path));
  }
});
after(() => {
  for (const s of stores) s.close();
  tmp.cleanup();
});

const options: FitLemurOptions = { mPrime: 64, nLearn: 3000, olsSamples: 128, hidden: 48, epochs: 3, batch: 128, valFraction: 0.2, seed: 3, threads: 2 };

describe('fitLemur progress', () => {
  it('reports targets, training and the OLS basis in order, without changing the model', async () => {
    const events: FitProgress[] = [];
    const epochs: number[] = [];
    let batchCalls = 0;
    const { model } = await fitLemur(stores, {
      ...options,
      onProgress: (p) => events.push(p),
      onEpoch: (e) => epochs.push(e.epoch),
      onBatch: () => batchCalls++,
    });
    assert.deepEqual(epochs, [1, 2, 3], 'onEpoch still sees every epoch');
    assert.ok(batchCalls >= 3, 'onBatch still sees at least each epoch end');

    const phases = events.map((e) => e.phase).filter((p, i, a) => i === 0 || a[i - 1] !== p);
    assert.deepEqual(phases, ['targets', 'train', 'ols']);

    const targets = events.filter((e) => e.phase === 'targets');
    const total = options.nLearn! * options.mPrime!;
    targets.forEach((e, i) => {
      assert.equal(e.total, total);
      if (i > 0) assert.ok(e.done > targets[i - 1]!.done, `targets event ${i}: ${e.done} after ${targets[i - 1]!.done}`);
    });
    assert.equal(targets.at(-1)!.done, total);
    assert.ok(targets.length >= 2, 'each store reports its end: the first store is not the whole total');

    const train = events.filter((e) => e.phase === 'train');
    let at = [0, 0];
    for (const e of train) {
      assert.ok(e.epoch > at[0]! || (e.epoch === at[0] && e.batch > at[1]!), `train (${e.epoch}, ${e.batch}) after (${at[0]}, ${at[1]})`);
      at = [e.epoch, e.batch];
    }
    const ends = train.filter((e) => e.batch === e.batches);
    assert.deepEqual(ends.map((e) => e.epoch), [1, 2, 3], 'every epoch ends with its last batch');
    assert.deepEqual(ends.map((e) => [e.loss, e.valLoss]), model.info.epochs.map((e) => [e.trainLoss, e.valLoss]));
    assert.ok(train.filter((e) => e.batch < e.batches).every((e) => e.valLoss === undefined), 'no validation loss within an epoch');

    const ols = events.filter((e) => e.phase === 'ols');
    assert.deepEqual(ols.map((e) => [e.done, e.total]), [[0, 2], [1, 2], [2, 2]]);

    const plain = await fitLemur(stores, options);
    assert.deepEqual(model.psi, plain.model.psi);
    assert.deepEqual(model.pinvT, plain.model.pinvT);
    assert.deepEqual(model.stats, plain.model.stats);
  });

  it('what onProgress throws fails the fit', async () => {
    const boom = new Error('progress sink down');
    await assert.rejects(fitLemur(stores, { ...options, epochs: 1, onProgress: () => { throw boom; } }), (e) => e === boom);
  });
});

describe('targets over several stores', () => {
  it('are the same bits in blocks of a few learn rows as in one block, column by column as each store gives them', async () => {
    const learn = Float32Array.from({ length: 97 * 32 }, (_, i) => Math.sin(i * 0.37));
    const targets = [{ store: 1, pos: 5 }, { store: 0, pos: 3 }, { store: 1, pos: 170 }, { store: 0, pos: 119 }, { store: 0, pos: 0 }];
    const whole = await buildTargets(learn, stores, targets, 2);
    const blocked = await buildTargets(learn, stores, targets, 2, undefined, 4 * 3 * 7); // 7 rows of a 3-column store per block
    assert.deepEqual(blocked, whole);
    // columns grouped by store, in sampled order within a store
    const s0 = await maxsimTargets(learn, stores[0]!, BigInt64Array.from([3n, 119n, 0n]));
    const s1 = await maxsimTargets(learn, stores[1]!, BigInt64Array.from([5n, 170n]));
    for (let i = 0; i < 97; i++) assert.deepEqual(whole.subarray(i * 5, i * 5 + 5), Float32Array.from([...s0.subarray(i * 3, i * 3 + 3), ...s1.subarray(i * 2, i * 2 + 2)]));
  });
});

