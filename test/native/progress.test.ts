/**
 * Progress of long native calls (issue 14): MaxSim targets, OLS weights, HNSW add and ψ's batches
 * report through a thread-safe function. Each report stream is in order, ends with done ===
 * total, stays under the rate limit, and stops when the promise settles; results are the same
 * bits with and without a callback; the event loop runs meanwhile; a failing call still releases
 * the function (the process exits by itself).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { maxsimTargets } from '../../src/native/maxsim.js';
import { IpIndex } from '../../src/native/ip-index.js';
import { gatherTokens, olsWeights } from '../../src/native/ols.js';
import { withProgress } from '../../src/native/progress.js';
import { trainPsi, type BatchProgress, type EpochStats } from '../../src/native/psi.js';
import { TokenStore } from '../../src/native/token-store.js';
import { randomItems, sequentialIds } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
const dim = 64;
let store: TokenStore;

before(async () => {
  const docs = randomItems(new Random(1), 600, dim, 20, 60);
  const path = join(tmp.dir, 'p.lts');
  await TokenStore.write(path, { vectors: docs.vectors, counts: docs.counts, dim, ids: sequentialIds(600) });
  store = await TokenStore.open(path);
});
after(() => {
  store.close();
  tmp.cleanup();
});

/** Records (done, total) calls with their arrival times. */
function recorder(): { calls: [number, number][]; onProgress: (done: number, total: number) => void } {
  const calls: [number, number][] = [];
  return { calls, onProgress: (done, total) => void calls.push([done, total]) };
}

/** The promises every report stream keeps: in order, below total until one final done === total. */
function assertStream(calls: [number, number][], total: number, what: string): void {
  assert.ok(calls.length >= 1, `${what}: no progress at all`);
  calls.forEach(([done, t], i) => {
    assert.equal(t, total, `${what}: call ${i} total`);
    if (i > 0) assert.ok(done > calls[i - 1]![0], `${what}: call ${i} done ${done} after ${calls[i - 1]![0]}`);
    if (i < calls.length - 1) assert.ok(done < total, `${what}: call ${i} reports the end before the last call`);
  });
  assert.deepEqual(calls.at(-1), [total, total], `${what}: last call`);
}

/** No report arrives once the promise has settled (queued ones are dropped). */
async function assertQuietAfter(calls: unknown[], what: string): Promise<void> {
  const n = calls.length;
  await sleep(300);
  assert.equal(calls.length, n, `${what}: ${calls.length - n} calls after the promise settled`);
}

const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('progress of MaxSim targets', () => {
  it('counts learn rows to (n, n); Y has the same bits without a callback', async () => {
    const rng = new Random(2);
    const n = 3000;
    const learn = await gatherTokens(store, BigInt64Array.from(rng.sample(store.nTokens, n), (t) => BigInt(t)));
    const docIdx = BigInt64Array.from(rng.sample(store.nDocs, 400), (t) => BigInt(t));
    const plain = await maxsimTargets(learn, store, docIdx, { threads: 2 });
    const r = recorder();
    const Y = await maxsimTargets(learn, store, docIdx, { threads: 2, onProgress: r.onProgress });
    assertStream(r.calls, n, 'targets');
    assert.ok(bytes(Y).equals(bytes(plain)), 'Y differs with a progress callback');
    await assertQuietAfter(r.calls, 'targets');
  });
});

describe('progress of OLS weights', () => {
  it('counts documents to (total, total); W has the same bits without a callback', async () => {
    const rng = new Random(3);
    const [s, h] = [256, 32];
    const sample = await gatherTokens(store, BigInt64Array.from(rng.sample(store.nTokens, s), (t) => BigInt(t)));
    const input = { sample, pinvT: Float32Array.from({ length: s * h }, () => rng.normal() * 0.1), h, mean: 0.1, std: 0.5 };
    const docIdx = sequentialIds(store.nDocs);
    const plain = await olsWeights(store, input, docIdx, { threads: 2 });
    const r = recorder();
    const W = await olsWeights(store, input, docIdx, { threads: 2, onProgress: r.onProgress });
    assertStream(r.calls, store.nDocs, 'weights');
    assert.ok(bytes(W).equals(bytes(plain)), 'W differs with a progress callback');
    await assertQuietAfter(r.calls, 'weights');
  });
});

describe('progress of an HNSW add lasting seconds', () => {
  const [n, d] = [9000, 384];
  const rng = new Random(4);
  const X = Float32Array.from({ length: n * d }, () => rng.normal());
  const ids = sequentialIds(n, 100);

  async function build(onProgress?: (done: number, total: number) => void): Promise<Uint8Array> {
    const ix = IpIndex.create({ d, M: 16, efConstruction: 40 });
    try {
      await ix.add(X, ids, { threads: 2, ...(onProgress ? { onProgress } : {}) });
      return await ix.serialize();
    } finally {
      ix.close();
    }
  }

  it('reports a few times a second while the event loop keeps running; the index has the same bytes', async () => {
    const r = recorder();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const t0 = performance.now();
    let withCb: Uint8Array;
    try {
      withCb = await build(r.onProgress);
    } finally {
      clearInterval(timer);
    }
    const seconds = (performance.now() - t0) / 1000;
    assertStream(r.calls, n, 'hnsw add');
    // the native side reports at most every 200 ms, plus the final call
    assert.ok(r.calls.length <= seconds / 0.2 + 2, `${r.calls.length} calls in ${seconds.toFixed(2)} s`);
    if (seconds > 1) assert.ok(r.calls.length >= 3, `only ${r.calls.length} calls in ${seconds.toFixed(2)} s`);
    assert.ok(ticks >= Math.max(3, (seconds * 1000) / 100), `the event loop ticked ${ticks} times in ${seconds.toFixed(2)} s`);
    await assertQuietAfter(r.calls, 'hnsw add');
    assert.ok(Buffer.from(withCb).equals(Buffer.from(await build())), 'index bytes differ with a progress callback');
  });

  it('a flat index reports only the end', async () => {
    const ix = IpIndex.create({ d, kind: 'flat' });
    const r = recorder();
    try {
      await ix.add(X.subarray(0, 10 * d), ids.subarray(0, 10), { onProgress: r.onProgress });
    } finally {
      ix.close();
    }
    assert.deepEqual(r.calls, [[10, 10]]);
  });
});

describe('progress within ψ epochs', () => {
  const rng = new Random(5);
  // about a second of training on one thread: long enough for reports within an epoch
  const [d, m, n] = [16, 256, 6000];
  const X = Float32Array.from({ length: n * d }, () => rng.normal());
  const Y = Float32Array.from({ length: n * m }, () => rng.normal());
  const opts = { hidden: 1024, epochs: 3, batch: 32, seed: 1, threads: 1, valFraction: 0.1 };

  it('batches come in order, each epoch ends with its last batch before onEpoch, the weights are unchanged', async () => {
    const events: (BatchProgress | EpochStats)[] = [];
    const t0 = performance.now();
    const r = await trainPsi(X, d, Y, m, { ...opts, onBatch: (b) => events.push(b), onEpoch: (e) => events.push(e) });
    const seconds = (performance.now() - t0) / 1000;
    const batches = Math.ceil((n - Math.floor(0.1 * n)) / opts.batch);
    assert.equal(r.batches, batches);
    let at = { epoch: 1, batch: 0 };
    let mid = 0;
    for (const [i, e] of events.entries()) {
      if ('batch' in e) {
        assert.ok(e.epoch === at.epoch && e.batch > at.batch, `batch event ${i} (${e.epoch}, ${e.batch}) after (${at.epoch}, ${at.batch})`);
        assert.equal(e.batches, batches);
        assert.equal(e.epochs, opts.epochs);
        assert.ok(Number.isFinite(e.loss));
        at = { epoch: e.epoch, batch: e.batch };
        if (e.batch < e.batches) mid++;
      } else {
        assert.deepEqual(at, { epoch: e.epoch, batch: batches }, `onEpoch ${e.epoch} before its last batch`);
        const last = events[i - 1] as BatchProgress;
        assert.equal(last.loss, e.trainLoss, 'the last batch carries the epoch loss');
        at = { epoch: e.epoch + 1, batch: 0 };
      }
    }
    assert.equal(events.filter((e) => !('batch' in e)).length, opts.epochs);
    assert.ok(mid <= seconds / 0.2 + 1, `${mid} mid-epoch batch events in ${seconds.toFixed(2)} s`);
    if (seconds > 1) assert.ok(mid >= 1, `no batch event within an epoch in ${seconds.toFixed(2)} s`);
    await assertQuietAfter(events, 'ψ batches');
    const plain = await trainPsi(X, d, Y, m, opts);
    assert.deepEqual(r.psi, plain.psi, 'ψ differs with progress callbacks');
    assert.deepEqual(r.epochs.map((e) => [e.trainLoss, e.valLoss]), plain.epochs.map((e) => [e.trainLoss, e.valLoss]));
  });

  it('what onBatch throws fails the call once training has ended', async () => {
    const boom = new Error('bar broke');
    let calls = 0;
    const p = trainPsi(X.subarray(0, 512 * d), d, Y.subarray(0, 512 * m), m, {
      ...opts,
      onBatch: () => {
        calls++;
        throw boom;
      },
    });
    await assert.rejects(p, (e) => e === boom);
    assert.equal(calls, 1, 'no event after the callback threw');
  });
});

describe('withProgress', () => {
  it('delivers the final call when the native one has not arrived, and drops late and stale calls', async () => {
    const r = recorder();
    let relay: ((done: number, total: number) => void) | undefined;
    const v = await withProgress(r.onProgress, 10, async (p) => {
      relay = p;
      p!(3, 10);
      p!(3, 10); // not new
      p!(2, 10); // behind
      return 'ok';
    });
    relay!(7, 10); // arrives after the promise settled
    assert.equal(v, 'ok');
    assert.deepEqual(r.calls, [[3, 10], [10, 10]]);
  });

  it('passes no relay without a callback, and reports nothing when the call fails', async () => {
    await withProgress(undefined, 5, async (p) => assert.equal(p, undefined));
    const r = recorder();
    await assert.rejects(withProgress(r.onProgress, 5, async () => Promise.reject(new Error('native failure'))), /native failure/);
    assert.deepEqual(r.calls, []);
  });
});

describe('a failing call with a progress callback', () => {
  it('still releases the thread-safe function: the process exits by itself', async () => {
    const url = (p: string): string => new URL(p, import.meta.url).href;
    // Each call gets a function and then fails in native code (or at the boundary); an
    // unreleased thread-safe function would keep this child alive until the timeout below.
    const script = `
      const { TokenStore } = await import(${JSON.stringify(url('../../src/native/token-store.js'))});
      const { olsWeights } = await import(${JSON.stringify(url('../../src/native/ols.js'))});
      const { trainPsi } = await import(${JSON.stringify(url('../../src/native/psi.js'))});
      const { binding } = await import(${JSON.stringify(url('../../src/native/binding.js'))});
      const store = await TokenStore.open(${JSON.stringify(join(tmp.dir, 'p.lts'))});
      const noop = () => {};
      const sample = new Float32Array(8 * ${dim});
      await olsWeights(store, { sample, pinvT: new Float32Array(8 * 4), h: 4, mean: 0, std: 0 }, new BigInt64Array([0n, 1n]), { onProgress: noop })
        .then(() => { throw new Error('olsWeights with std 0 resolved'); }, (e) => console.log('weights:', e.name));
      const X = Float32Array.from({ length: 256 * 4 }, (_, i) => Math.sin(i));
      await trainPsi(X, 4, Float32Array.from({ length: 256 * 2 }, (_, i) => Math.cos(i)), 2, { hidden: 8, epochs: 3, batch: 16, lr: 1e38, onBatch: noop, onEpoch: noop })
        .then(() => { throw new Error('diverging training resolved'); }, (e) => console.log('train:', e.name));
      try { binding.maxsimTargets(new Float32Array(${dim}), store.nativeHandle(), new BigInt64Array([0n]), new Float32Array(2), 1, '', noop); }
      catch (e) { console.log('targets:', e.lemurCode); }
      store.close();
      console.log('end of script');
    `;
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(killer);
    assert.equal(code, 0, `the child did not exit by itself:\n${output}`);
    assert.match(output, /weights: InvalidArgumentError/);
    assert.match(output, /train: InputDataError/);
    assert.match(output, /targets: INVALID_ARGUMENT/);
    assert.match(output, /end of script/);
  });
});
