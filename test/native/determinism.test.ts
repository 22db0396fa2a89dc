/**
 * The determinism claims, checked under whatever MaxSim kernel (LEMUR_KERNEL) and BLAS core
 * (OPENBLAS_CORETYPE) this process runs with. determinism-matrix.test.ts runs this file again in
 * child processes under every kernel and BLAS core this CPU can force, and compares the digests
 * each run writes (LEMUR_DIGEST_OUT) across runs, so an AVX-512 machine sees what an AVX2-only
 * one would.
 *
 * Claims: a document's W row is the same bits alone, in any batch, at any position and with any
 * thread count, on every kernel and BLAS core; targets, rerank scores and exact top-k are the
 * same bits on every kernel and thread count; a query's features do not depend on the batch it
 * is in; ψ training is reproducible for a seed and thread count; an HNSW index built from the
 * same rows is the same bytes with any thread count, kernel and BLAS core, whatever its row
 * storage (fp32, fp16, sq8), and searches and scans of it give the same results.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { KERNEL_NAMES } from '../../src/config.js';
import { Random } from '../../src/data/random.js';
import { kernelInfo } from '../../src/native/cpu.js';
import { IP_STORAGES, IpIndex, type IpStorage } from '../../src/native/ip-index.js';
import { maxsimExactTopK, maxsimRerank, maxsimTargets } from '../../src/native/maxsim.js';
import { innerProductTopK, olsProject, olsWeights } from '../../src/native/ols.js';
import { psiQueryFeatures, trainPsi, type PsiWeights } from '../../src/native/psi.js';
import { TokenStore } from '../../src/native/token-store.js';
import { randomItems, sequentialIds } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
const available = kernelInfo().available;
const kernels = KERNEL_NAMES.filter((k) => available.includes(k));
/** Digests of results that must not depend on the kernel or the BLAS core (compared across runs). */
const digests: Record<string, string> = {};
const digest = (...arrays: ArrayBufferView[]): string => {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
};
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);
const normal = (rng: Random, n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => rng.normal() * s);

// Shapes chosen to hit every edge of the register blocks: h = 70 is not a multiple of 16 or 64,
// s = 300 is not a multiple of the k-blocks, 150 docs are not a multiple of the 4/6-row groups
// nor of the 256-doc OLS block (which 300 docs cross).
const dim = 32;
const h = 70;
const s = 300;
const nDocs = 300;
const rng = new Random(2027);
const docs = randomItems(rng, nDocs, dim, 1, 90);
const sample = normal(rng, s * dim, 1 / Math.sqrt(dim));
// pinvT is an input of the weights step (stored in the model artifact), so a seeded random one
// serves: the claim is about the projection, not about the SVD that made it
const pinvT = normal(rng, s * h, 0.05);
const input = { sample, pinvT, h, mean: 0.1, std: 0.25 };
const queries = randomItems(rng, 12, dim, 1, 40);
let store: TokenStore;

before(async () => {
  await TokenStore.write(join(tmp.dir, 'det.lts'), { vectors: docs.vectors, counts: docs.counts, dim, ids: sequentialIds(nDocs) });
  store = await TokenStore.open(join(tmp.dir, 'det.lts'));
});
after(() => {
  store.close();
  tmp.cleanup();
  const out = process.env['LEMUR_DIGEST_OUT'];
  if (out) writeFileSync(out, JSON.stringify({ kernel: kernelInfo().kernel, blas: process.env['OPENBLAS_CORETYPE'] ?? null, digests }));
});

describe(`W rows (kernel ${kernelInfo().kernel}, BLAS core ${process.env['OPENBLAS_CORETYPE'] ?? 'auto'})`, () => {
  const all = BigInt64Array.from({ length: nDocs }, (_, i) => BigInt(i));
  const rowOf = (W: Float32Array, j: number): Uint32Array => bits(W).subarray(j * h, (j + 1) * h);

  it('are the same bits for a document alone, in any batch, at any position, with 1 or 2 threads', async () => {
    const full = await olsWeights(store, input, all, { threads: 2 });
    digests['W'] = digest(full);
    for (const d of [0, 1, 5, 6, 63, 64, 149, 255, 256, 299]) {
      const one = await olsWeights(store, input, BigInt64Array.from([BigInt(d)]), { threads: 1 });
      assert.deepEqual(bits(one), rowOf(full, d), `doc ${d} alone`);
    }
    const order = Array.from(new Random(5).sample(nDocs, 211));
    const batch = await olsWeights(store, input, BigInt64Array.from(order, (v) => BigInt(v)), { threads: 1 });
    order.forEach((d, j) => assert.deepEqual(rowOf(batch, j), rowOf(full, d), `doc ${d} at position ${j}`));
  });

  it('are the same bits on every kernel this CPU has', async () => {
    const ref = bits(await olsWeights(store, input, all, { threads: 2, kernel: 'scalar' }));
    for (const kernel of kernels) assert.deepEqual(bits(await olsWeights(store, input, all, { threads: 2, kernel })), ref, kernel);
  });

  it('project in one fixed order: equal to float64 within rounding, and independent of the batch', async () => {
    const nb = 13;
    const Y = normal(new Random(9), s * nb);
    const W = await olsProject(Y, nb, pinvT, h, { threads: 2 });
    for (let j = 0; j < nb; j++) {
      for (let c = 0; c < h; c++) {
        let want = 0;
        let mag = 0;
        for (let r = 0; r < s; r++) {
          want += Y[r * nb + j]! * pinvT[r * h + c]!;
          mag += Math.abs(Y[r * nb + j]! * pinvT[r * h + c]!);
        }
        // a sequential fp32 chain of s fused steps: error ≤ s·ε·Σ|terms| (a loose, sure bound)
        assert.ok(Math.abs(W[j * h + c]! - want) <= s * 6e-8 * mag + 1e-30, `W[${j},${c}] = ${W[j * h + c]} vs ${want}`);
      }
    }
    // column 7 of Y alone gives row 7's bits
    const y7 = Float32Array.from({ length: s }, (_, r) => Y[r * nb + 7]!);
    assert.deepEqual(bits(await olsProject(y7, 1, pinvT, h, { threads: 1 })), bits(W).subarray(7 * h, 8 * h));
    digests['projection'] = digest(W);
  });
});

describe('HNSW index', () => {
  // fp32 keeps its original digest key ('index'); the compact storages add their own
  const suffix = (storage: IpStorage): string => (storage === 'fp32' ? '' : `_${storage}`);
  for (const storage of IP_STORAGES) {
    it(`${storage} rows: the same bytes, search results and scan scores with 1 and 2 threads (digests compared across kernels and BLAS cores)`, async () => {
      const W = await olsWeights(store, input, BigInt64Array.from({ length: nDocs }, (_, i) => BigInt(i)), { threads: 2 });
      const F = normal(new Random(17), 5 * h);
      const bytes: Uint8Array[] = [];
      const found: string[] = [];
      const scanned: string[] = [];
      for (const threads of [1, 2, 2]) {
        const ix = IpIndex.create({ d: h, kind: 'hnsw', M: 8, efConstruction: 20, storage });
        try {
          await ix.add(W, sequentialIds(nDocs, 1000), { threads });
          bytes.push(await ix.serialize());
          const r = await ix.search(F, 20, { efSearch: 40, threads });
          found.push(digest(r.labels, r.distances));
          const sc = await ix.scan(F, 30, { threads });
          scanned.push(digest(sc.labels, sc.distances));
        } finally {
          ix.close();
        }
      }
      assert.equal(digest(bytes[1]!), digest(bytes[0]!), '2 threads vs 1');
      assert.equal(digest(bytes[2]!), digest(bytes[1]!), 'two runs with 2 threads');
      assert.deepEqual(new Set(found).size, 1, 'search results with 1 and 2 threads');
      assert.deepEqual(new Set(scanned).size, 1, 'scan results with 1 and 2 threads');
      digests[`index${suffix(storage)}`] = digest(bytes[0]!);
      digests[`hnswSearch${suffix(storage)}`] = found[0]!;
      digests[`indexScan${suffix(storage)}`] = scanned[0]!;
    });
  }
});

describe('inner-product scan', () => {
  it('of a few queries gives the same scores and order on every kernel and thread count', async () => {
    const W = await olsWeights(store, input, BigInt64Array.from({ length: nDocs }, (_, i) => BigInt(i)), { threads: 2 });
    const F = normal(new Random(13), 3 * h);
    const ref = await innerProductTopK(F, W, h, 40, { threads: 1 });
    for (const threads of [1, 2]) {
      const r = await innerProductTopK(F, W, h, 40, { threads });
      assert.deepEqual(bits(r.distances), bits(ref.distances), `${threads} threads`);
      assert.deepEqual(r.labels, ref.labels);
    }
    digests['scan'] = digest(ref.labels, ref.distances);
  });
});

describe('MaxSim results', () => {
  it('targets are the same bits on every kernel and thread count', async () => {
    const pick = BigInt64Array.from([3n, 299n, 0n, 150n, 77n]);
    const ref = bits(await maxsimTargets(sample, store, pick, { kernel: 'scalar', threads: 1 }));
    for (const kernel of kernels) {
      for (const threads of [1, 2]) assert.deepEqual(bits(await maxsimTargets(sample, store, pick, { kernel, threads })), ref, `${kernel}, ${threads} threads`);
    }
    digests['targets'] = digest(ref);
  });

  it('rerank scores and exact top-k are the same bits on every kernel and thread count', async () => {
    const cand = BigInt64Array.from({ length: queries.counts.length * 40 }, (_, i) => BigInt((i * 37) % nDocs));
    const rr = await maxsimRerank(queries.vectors, queries.counts, store, cand, 40, { kernel: 'scalar', threads: 1 });
    const ex = await maxsimExactTopK(queries.vectors, queries.counts, store, 25, { kernel: 'scalar', threads: 1 });
    for (const kernel of kernels) {
      for (const threads of [1, 2]) {
        const r = await maxsimRerank(queries.vectors, queries.counts, store, cand, 40, { kernel, threads });
        assert.deepEqual(bits(r.distances), bits(rr.distances), `rerank ${kernel}, ${threads} threads`);
        assert.deepEqual(r.labels, rr.labels);
        const e = await maxsimExactTopK(queries.vectors, queries.counts, store, 25, { kernel, threads });
        assert.deepEqual(bits(e.distances), bits(ex.distances), `exact top-k ${kernel}, ${threads} threads`);
        assert.deepEqual(e.labels, ex.labels);
      }
    }
    digests['rerank'] = digest(rr.labels, rr.distances);
    digests['exactTopK'] = digest(ex.labels, ex.distances);
  });
});

describe('ψ', () => {
  const m = 24;
  const X = normal(new Random(11), 600 * dim, 1 / Math.sqrt(dim));
  const Y = normal(new Random(12), 600 * m);
  const opts = { hidden: 48, epochs: 2, batch: 64, lr: 3e-3, seed: 4 };
  let psi: PsiWeights;

  it('training is reproducible for a seed and thread count', async () => {
    for (const threads of [1, 2]) {
      const a = await trainPsi(X, dim, Y, m, { ...opts, threads });
      const b = await trainPsi(X, dim, Y, m, { ...opts, threads });
      assert.deepEqual(a.psi, b.psi, `${threads} threads`);
      psi = a.psi;
    }
  });

  it("a query's features are the same bits alone or in any batch", async () => {
    const { vectors, counts } = queries;
    const F = await psiQueryFeatures(psi, vectors, counts, { threads: 2 });
    let off = 0;
    for (let q = 0; q < counts.length; q++) {
      const n = counts[q]!;
      const one = await psiQueryFeatures(psi, vectors.subarray(off * dim, (off + n) * dim), Int32Array.of(n), { threads: 1 });
      assert.deepEqual(bits(one), bits(F).subarray(q * opts.hidden, (q + 1) * opts.hidden), `query ${q} alone`);
      off += n;
    }
  });
});
