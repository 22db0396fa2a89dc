/**
 * The MaxSim kernels (scalar, AVX2, AVX-512) pinned to a float64 TypeScript reference, on awkward
 * shapes: dims that are not multiples of 16, 1-token docs and queries, queries longer than 32
 * tokens, subarray inputs, fp16 stores. Kernels the CPU lacks are skipped with the reason.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { KernelName } from '../../src/config.js';
import { Random } from '../../src/data/random.js';
import { InputDataError, InvalidArgumentError } from '../../src/errors.js';
import { kernelInfo } from '../../src/native/cpu.js';
import { maxsimExactTopK, maxsimRerank, maxsimTargets } from '../../src/native/maxsim.js';
import { TokenStore } from '../../src/native/token-store.js';
import { concatItems, offsetsOf, randomItems, sequentialIds, type Docs } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { allScoresF64, fp32Tolerance, maxDotF64, topK } from '../reference/maxsim-f64.js';

const ALL_KERNELS: KernelName[] = ['scalar', 'avx2', 'avx512'];
const available = kernelInfo().available;
const tmp = makeTmpDir();
after(tmp.cleanup);

function skipReason(kernel: KernelName): string | false {
  return available.includes(kernel) ? false : `this CPU (${kernelInfo().cpu}) has no ${kernel}`;
}

async function storeOf(name: string, docs: Docs, dim: number, dtype: 'float32' | 'float16' = 'float32'): Promise<TokenStore> {
  const path = join(tmp.dir, `${name}.lts`);
  await TokenStore.write(path, { vectors: docs.vectors, counts: docs.counts, dim, ids: sequentialIds(docs.counts.length), dtype });
  return TokenStore.open(path);
}

function allCandidates(nq: number, nDocs: number): BigInt64Array {
  const c = new BigInt64Array(nq * nDocs);
  for (let q = 0; q < nq; q++) for (let j = 0; j < nDocs; j++) c[q * nDocs + j] = BigInt((j * 7 + q) % nDocs);
  return c;
}

describe('maxsimRerank matches the float64 reference', () => {
  for (const dim of [1, 7, 64, 96, 100, 128, 256]) describe(`dim ${dim}`, () => {
    const rng = new Random(1000 + dim);
    // a 1-token document and a 1-token query; a 100-token query spans several lane groups
    const docs = concatItems(randomItems(rng, 1, dim, 1, 1), randomItems(rng, 9, dim, 1, 300));
    const allQ = concatItems(concatItems(randomItems(rng, 1, dim, 1, 1), randomItems(rng, 6, dim, 1, 64)), randomItems(rng, 1, dim, 100, 100));
    const ref = allScoresF64(allQ, docs, dim);
    let store: TokenStore;
    before(async () => {
      store = await storeOf(`rerank-${dim}`, docs, dim);
    });
    after(() => store.close());
    for (const kernel of ALL_KERNELS) {
      it(`${kernel}, dim ${dim}, docs of 1..300 tokens, queries of 1..100 tokens`, { skip: skipReason(kernel) }, async () => {
        const nDocs = docs.counts.length;
        const r = await maxsimRerank(allQ.vectors, allQ.counts, store, allCandidates(allQ.counts.length, nDocs), nDocs, { kernel, threads: 1 });
        for (let qi = 0; qi < allQ.counts.length; qi++) {
          const row = r.row(qi);
          const tol = fp32Tolerance(allQ.counts[qi]!, dim);
          const seen = new Set<bigint>();
          for (let i = 0; i < nDocs; i++) {
            const j = Number(row.labels[i]!);
            seen.add(row.labels[i]!);
            assert.ok(Math.abs(row.distances[i]! - ref[qi]![j]!) <= tol, `query ${qi} doc ${j}: ${row.distances[i]} vs ${ref[qi]![j]} (tol ${tol})`);
            if (i > 0) assert.ok(row.distances[i - 1]! >= row.distances[i]!, 'scores descend');
          }
          assert.equal(seen.size, nDocs, 'every candidate appears once');
        }
      });
    }
  });
});

describe('maxsimExactTopK', () => {
  const dim = 100;
  const rng = new Random(7);
  const docs = randomItems(rng, 300, dim, 1, 120);
  const queries = randomItems(rng, 20, dim, 1, 40);
  const ref = allScoresF64(queries, docs, dim);
  let store: TokenStore;
  before(async () => {
    store = await storeOf('exact', docs, dim);
  });
  after(() => store.close());

  for (const kernel of ALL_KERNELS) {
    it(`${kernel}: equals a plain TypeScript top-k (up to float rounding of near-ties)`, { skip: skipReason(kernel) }, async () => {
      const k = 25;
      const r = await maxsimExactTopK(queries.vectors, queries.counts, store, k, { kernel, threads: 2 });
      for (let qi = 0; qi < queries.counts.length; qi++) {
        const want = topK(ref[qi]!, k);
        const got = Array.from(r.row(qi).labels, Number);
        const tol = fp32Tolerance(queries.counts[qi]!, dim);
        for (let i = 0; i < k; i++) {
          if (got[i] === want[i]) continue;
          // only a near-tie may swap places
          assert.ok(Math.abs(ref[qi]![got[i]!]! - ref[qi]![want[i]!]!) <= 2 * tol, `query ${qi} rank ${i}: ${got[i]} vs ${want[i]}`);
        }
        assert.ok(Math.abs(r.row(qi).distances[0]! - ref[qi]![want[0]!]!) <= tol);
      }
    });
  }

  it('gives bit-identical results with 1 and 2 threads', async () => {
    const a = await maxsimExactTopK(queries.vectors, queries.counts, store, 10, { threads: 1 });
    const b = await maxsimExactTopK(queries.vectors, queries.counts, store, 10, { threads: 2 });
    assert.deepEqual(a.labels, b.labels);
    assert.deepEqual(a.distances, b.distances);
  });

  it('agrees with rerank over all candidates', async () => {
    const a = await maxsimExactTopK(queries.vectors, queries.counts, store, 10, { threads: 1 });
    const b = await maxsimRerank(queries.vectors, queries.counts, store, allCandidates(queries.counts.length, 300), 10, { threads: 1 });
    assert.deepEqual(a.labels, b.labels);
    assert.deepEqual(a.distances, b.distances);
  });

  it('gives a batch (grouped by document) exactly the results of its queries one at a time', async () => {
    const rng = new Random(8);
    const kPrime = 40;
    const cand = new BigInt64Array(20 * kPrime);
    for (let i = 0; i < cand.length; i++) cand[i] = i % 13 === 0 ? -1n : BigInt(rng.int(300));
    const batch = await maxsimRerank(queries.vectors, queries.counts, store, cand, 10, { threads: 2 });
    const off = offsetsOf(queries.counts);
    for (let q = 0; q < 20; q++) {
      const one = await maxsimRerank(queries.vectors.subarray(off[q]! * dim, off[q + 1]! * dim), queries.counts.subarray(q, q + 1), store, cand.subarray(q * kPrime, (q + 1) * kPrime), 10, { threads: 1 });
      assert.deepEqual(one.labels, batch.row(q).labels, `query ${q}`);
      assert.deepEqual(one.distances, batch.row(q).distances, `query ${q}`);
    }
  });

  it('accepts subarray views (unaligned offsets) for the queries', async () => {
    const padded = new Float32Array(queries.vectors.length + 3);
    padded.set(queries.vectors, 3);
    const view = padded.subarray(3);
    const counts = new Int32Array(queries.counts.length + 1);
    counts.set(queries.counts, 1);
    const a = await maxsimExactTopK(view, counts.subarray(1), store, 5, { threads: 1 });
    const b = await maxsimExactTopK(queries.vectors, queries.counts, store, 5, { threads: 1 });
    assert.deepEqual(a.labels, b.labels);
    assert.deepEqual(a.distances, b.distances);
  });
});

describe('maxsimRerank semantics', () => {
  const dim = 16;
  const rng = new Random(11);
  const docs = randomItems(rng, 20, dim, 1, 10);
  const queries = randomItems(rng, 3, dim, 2, 5);
  let store: TokenStore;
  before(async () => {
    store = await storeOf('semantics', docs, dim);
  });
  after(() => store.close());

  it('skips -1 candidates, counts duplicates once and pads missing results with -1', async () => {
    const cand = BigInt64Array.from([3n, -1n, 3n, 5n, /* q1 */ -1n, -1n, -1n, -1n, /* q2 */ 0n, 1n, 2n, 3n]);
    const r = await maxsimRerank(queries.vectors, queries.counts, store, cand, 3);
    assert.deepEqual([...r.row(0).labels].sort(), [-1n, 3n, 5n].sort());
    assert.equal(r.row(0).labels[2], -1n);
    assert.equal(r.row(0).distances[2], -Infinity);
    assert.deepEqual([...r.row(1).labels], [-1n, -1n, -1n]);
    assert.equal(new Set(r.row(2).labels).size, 3);
  });

  it('breaks ties toward the lower position', async () => {
    // two identical documents score identically: the lower position must rank first
    const twin: Docs = { vectors: Float32Array.from([...docs.vectors.subarray(0, dim), ...docs.vectors.subarray(0, dim)]), counts: Int32Array.from([1, 1]) };
    const s = await storeOf('twins', twin, dim);
    try {
      const r = await maxsimRerank(queries.vectors, queries.counts, s, BigInt64Array.from([1n, 0n, 1n, 0n, 0n, 1n]), 2);
      for (let q = 0; q < 3; q++) assert.deepEqual([...r.row(q).labels], [0n, 1n]);
    } finally {
      s.close();
    }
  });

  it('rejects bad arguments with typed errors that name the problem', async () => {
    const all = allCandidates(3, 20);
    await assert.rejects(maxsimRerank(queries.vectors.subarray(1), queries.counts, store, all, 5), (e: Error) => e instanceof InvalidArgumentError && /queries.length/.test(e.message));
    await assert.rejects(maxsimRerank(queries.vectors, Int32Array.from([1, 1, 1]), store, all, 5), InvalidArgumentError);
    await assert.rejects(maxsimRerank(queries.vectors, Int32Array.from([queries.counts[0]!, 0, queries.counts[1]! + queries.counts[2]!]), store, all, 5), InputDataError);
    const nan = queries.vectors.slice();
    nan[dim + 3] = NaN;
    await assert.rejects(maxsimRerank(nan, queries.counts, store, all, 5), (e: Error) => e instanceof InputDataError && /row 1, component 3/.test(e.message));
    const bad = all.slice();
    bad[7] = 20n;
    await assert.rejects(maxsimRerank(queries.vectors, queries.counts, store, bad, 5), (e: Error) => e instanceof InvalidArgumentError && /candidates\[7\]/.test(e.message));
    await assert.rejects(maxsimRerank(queries.vectors, queries.counts, store, all, 21), (e: Error) => e instanceof InvalidArgumentError && /for k but received 21/.test(e.message));
    await assert.rejects(maxsimRerank(queries.vectors, queries.counts, store, all, 0), InvalidArgumentError);
    await assert.rejects(maxsimRerank(queries.vectors, queries.counts, store, all.subarray(1), 5), InvalidArgumentError);
    await assert.rejects(maxsimRerank(queries.vectors, queries.counts, store, all, 5, { kernel: 'sse9' as KernelName }), InvalidArgumentError);
    await assert.rejects(maxsimRerank(queries.vectors, queries.counts, store, all, 5, { threads: 0 }), InvalidArgumentError);
  });
});

describe('maxsimTargets', () => {
  for (const dim of [7, 128]) {
    it(`matches max-dot in float64 on every kernel (dim ${dim}), 1 and 2 threads identical`, async () => {
      const rng = new Random(20 + dim);
      const docs = randomItems(rng, 40, dim, 1, 90);
      const store = await storeOf(`targets-${dim}`, docs, dim);
      try {
        const n = 150; // not a multiple of the 64-lane panel
        const x = randomItems(rng, n, dim, 1, 1).vectors;
        const pick = BigInt64Array.from([5n, 0n, 39n, 17n, 5n, 22n]);
        const off = offsetsOf(docs.counts);
        const tol = fp32Tolerance(1, dim);
        for (const kernel of ALL_KERNELS.filter((k) => available.includes(k))) {
          const y = await maxsimTargets(x, store, pick, { kernel, threads: 2 });
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < pick.length; j++) {
              const d = Number(pick[j]!);
              const want = maxDotF64(x, i, docs.vectors, off[d]!, docs.counts[d]!, dim);
              assert.ok(Math.abs(y[i * pick.length + j]! - want) <= tol, `${kernel} Y[${i},${j}] = ${y[i * pick.length + j]} vs ${want}`);
            }
          }
          const y1 = await maxsimTargets(x, store, pick, { kernel, threads: 1 });
          assert.deepEqual(y1, y);
        }
        const out = new Float32Array(n * pick.length);
        assert.equal(await maxsimTargets(x, store, pick, { out }), out, 'writes into a preallocated output');
        await assert.rejects(maxsimTargets(x, store, pick, { out: new Float32Array(3) }), InvalidArgumentError);
        await assert.rejects(maxsimTargets(x, store, BigInt64Array.from([40n])), InvalidArgumentError);
        await assert.rejects(maxsimTargets(x.subarray(1), store, pick), InvalidArgumentError);
      } finally {
        store.close();
      }
    });
  }
});

describe('fp16 stores', () => {
  it('score like the fp32 store within fp16 rounding, and exactly like fp32 on the widened values', async () => {
    const dim = 128;
    const rng = new Random(5);
    const docs = randomItems(rng, 30, dim, 1, 100);
    const queries = randomItems(rng, 4, dim, 32, 32);
    const s32 = await storeOf('f32', docs, dim, 'float32');
    const s16 = await storeOf('f16', docs, dim, 'float16');
    try {
      const cand = allCandidates(4, 30);
      // the fp16 values as stored, widened: an fp32 store of them must score identically
      const widened = new Float32Array(docs.vectors.length);
      const off = offsetsOf(docs.counts);
      for (let j = 0; j < 30; j++) widened.set(s16.docTokens(j), off[j]! * dim);
      const sw = await storeOf('widened', { vectors: widened, counts: docs.counts }, dim, 'float32');
      try {
        for (const kernel of ALL_KERNELS.filter((k) => available.includes(k))) {
          const a = await maxsimRerank(queries.vectors, queries.counts, s32, cand, 30, { kernel });
          const b = await maxsimRerank(queries.vectors, queries.counts, s16, cand, 30, { kernel });
          const c = await maxsimRerank(queries.vectors, queries.counts, sw, cand, 30, { kernel });
          assert.deepEqual(b.labels, c.labels, `${kernel}: fp16 store == fp32 store of the widened values`);
          assert.deepEqual(b.distances, c.distances);
          // fp16 keeps 11 significant bits: each dot errs by <= 2^-11 * sum|q_k d_k| (~1 here); 32 maxima
          for (let q = 0; q < 4; q++) {
            const byLabel = new Map<bigint, number>();
            a.row(q).labels.forEach((l, i) => byLabel.set(l, a.row(q).distances[i]!));
            b.row(q).labels.forEach((l, i) => assert.ok(Math.abs(byLabel.get(l)! - b.row(q).distances[i]!) <= 32 * 2 ** -11 * 2, `${kernel}: query ${q} doc ${l}`));
          }
        }
      } finally {
        sw.close();
      }
    } finally {
      s32.close();
      s16.close();
    }
  });
});
