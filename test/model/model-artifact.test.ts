/**
 * The model artifact: exact round trip (every array bit for bit, W from the loaded model equal to
 * W from the original), and typed errors for damaged files.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { CorruptFileError, InvalidArgumentError } from '../../src/errors.js';
import { fitLemur } from '../../src/model/fit-lemur.js';
import { LemurModel } from '../../src/model/lemur-model.js';
import { TokenStore } from '../../src/native/token-store.js';
import { randomItems, sequentialIds } from '../helpers/data.js';
import { Random } from '../../src/data/random.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { setLogLevel } from '../../src/log.js';

setLogLevel('warn'); // fit progress lines would drown the test report

const tmp = makeTmpDir();
let store: TokenStore;
let model: LemurModel;
const path = join(tmp.dir, 'model.lemur');

before(async () => {
  const c = generateCorpus({ docs: 300, queries: 5, dim: 32, seed: 2 });
  await TokenStore.write(join(tmp.dir, 'c.lts'), { vectors: c.docVectors, counts: c.docCounts, dim: 32, ids: sequentialIds(300) });
  store = await TokenStore.open(join(tmp.dir, 'c.lts'));
  ({ model } = await fitLemur(store, { mPrime: 64, nLearn: 2000, olsSamples: 128, hidden: 48, numLayers: 2, epochs: 2, batch: 256, seed: 3, threads: 1 }));
  await model.save(path);
});
after(() => {
  store.close();
  tmp.cleanup();
});

function patch(at: number, bytes: number[]): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from(bytes), 0, bytes.length, at);
  closeSync(fd);
}

describe('LemurModel artifact', () => {
  it('round-trips exactly', async () => {
    const back = await LemurModel.load(path);
    assert.deepEqual(back.config, model.config);
    assert.deepEqual(back.stats, model.stats);
    assert.deepEqual(back.psi, model.psi);
    assert.deepEqual(back.olsSample, model.olsSample);
    assert.deepEqual(back.pinvT, model.pinvT);
    assert.deepEqual(back.info, model.info);
    assert.deepEqual(await back.weights(store), await model.weights(store));
  });

  it('rejects a flipped byte in an array, a damaged header, a truncated file, bad magic and a newer major', async () => {
    const good = readFileSync(path);
    const copy = (): void => {
      const fd = openSync(path, 'w');
      writeSync(fd, good);
      closeSync(fd);
    };
    patch(good.length - 5, [good[good.length - 5]! ^ 1]);
    await assert.rejects(LemurModel.load(path), (e: Error) => e instanceof CorruptFileError && /array ols\.pinvT checksum mismatch/.test(e.message));
    copy();
    patch(40, [good[40]! ^ 1]);
    await assert.rejects(LemurModel.load(path), (e: Error) => e instanceof CorruptFileError && /JSON header checksum/.test(e.message));
    copy();
    truncateSync(path, good.length - 1000);
    await assert.rejects(LemurModel.load(path), (e: Error) => e instanceof CorruptFileError && /truncated/.test(e.message));
    copy();
    patch(0, [0x58]);
    await assert.rejects(LemurModel.load(path), (e: Error) => e instanceof CorruptFileError && /bad magic/.test(e.message));
    copy();
    patch(8, [2]);
    await assert.rejects(LemurModel.load(path), (e: Error) => e instanceof CorruptFileError && /version 2\.0/.test(e.message));
    copy();
    assert.ok((await LemurModel.load(path)) instanceof LemurModel);
  });

  it('refuses a store whose dim differs from the model', async () => {
    const other = randomItems(new Random(1), 3, 16, 2, 4);
    await TokenStore.write(join(tmp.dir, 'd16.lts'), { vectors: other.vectors, counts: other.counts, dim: 16, ids: sequentialIds(3) });
    const s16 = await TokenStore.open(join(tmp.dir, 'd16.lts'));
    try {
      await assert.rejects(model.weights(s16), (e: Error) => e instanceof InvalidArgumentError && /dim 16, the model expects 32/.test(e.message));
    } finally {
      s16.close();
    }
  });
});
