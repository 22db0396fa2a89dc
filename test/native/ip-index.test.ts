/**
 * The Faiss binding: HNSW recall against exact inner-product search (as Faiss checks against
 * IndexFlat), external ids, identical results after serialise/load, and typed errors. Also the
 * reproducibility promise of issue 11: the same rows give the same index bytes with any thread
 * count and any kernel (every kernel's dot sums in one fixed order).
 */
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { KernelName } from '../../src/config.js';
import { Random } from '../../src/data/random.js';
import { ClosedError, CorruptFileError, InputDataError, InvalidArgumentError } from '../../src/errors.js';
import { kernelInfo } from '../../src/native/cpu.js';
import { IpIndex, kernelDot } from '../../src/native/ip-index.js';
import { innerProductTopK } from '../../src/native/ols.js';
import { clusteredRows } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const d = 48;
const n = 4000;
const nq = 50;
// clustered data: 40 centres, points and queries near them
const rng = new Random(12);
const centres = Float32Array.from({ length: 40 * d }, () => rng.normal());
const clustered = (count: number, noise: number): Float32Array => clusteredRows(rng, centres, d, count, noise);
const X = clustered(n, 0.6);
const Q = clustered(nq, 0.6);
const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(1_000_000 + i * 7));

let hnsw: IpIndex;
before(async () => {
  hnsw = IpIndex.create({ d, kind: 'hnsw', M: 32, efConstruction: 40 });
  await hnsw.add(X, ids, { threads: 2 });
});
after(() => hnsw.close());

describe('IpIndex', () => {
  it('HNSW finds >= 0.95 of the exact top-10 at efSearch 128, with external ids', async () => {
    assert.equal(hnsw.ntotal, n);
    assert.equal(hnsw.kind, 'hnsw');
    const exact = await innerProductTopK(Q, X, d, 10, { threads: 1 });
    const r = await hnsw.search(Q, 10, { efSearch: 128 });
    let hit = 0;
    for (let q = 0; q < nq; q++) {
      const want = new Set(Array.from(exact.row(q).labels, (p) => ids[Number(p)]!));
      for (const l of r.row(q).labels) if (want.has(l)) hit++;
    }
    assert.ok(hit / (nq * 10) >= 0.95, `recall@10 = ${hit / (nq * 10)}`);
  });

  it('applies efSearch: a wider beam finds more of the exact top-10 on a weak graph', async () => {
    const weak = IpIndex.create({ d, kind: 'hnsw', M: 4, efConstruction: 8 });
    try {
      await weak.add(X, ids, { threads: 1 });
      const exact = await innerProductTopK(Q, X, d, 10, { threads: 1 });
      const recallAt = async (efSearch: number): Promise<number> => {
        const r = await weak.search(Q, 10, { efSearch, threads: 1 });
        let hit = 0;
        for (let q = 0; q < nq; q++) {
          const want = new Set(Array.from(exact.row(q).labels, (p) => ids[Number(p)]!));
          for (const l of r.row(q).labels) if (want.has(l)) hit++;
        }
        return hit / (nq * 10);
      };
      const narrow = await recallAt(10);
      const wide = await recallAt(400);
      assert.ok(wide > narrow, `efSearch 400 recall ${wide} should beat efSearch 10 recall ${narrow}`);
    } finally {
      weak.close();
    }
  });

  it('flat search is exact', async () => {
    const flat = IpIndex.create({ d, kind: 'flat' });
    try {
      await flat.add(X, ids);
      const exact = await innerProductTopK(Q, X, d, 10, { threads: 1 });
      const r = await flat.search(Q, 10);
      for (let q = 0; q < nq; q++) {
        const got = Array.from(r.row(q).labels);
        const want = Array.from(exact.row(q).labels, (p) => ids[Number(p)]!);
        for (let i = 0; i < 10; i++) {
          if (got[i] !== want[i]) assert.ok(Math.abs(r.row(q).distances[i]! - exact.row(q).distances[i]!) < 1e-3, `query ${q} rank ${i}`);
        }
      }
    } finally {
      flat.close();
    }
  });

  it('searches identically after serialise -> deserialise and save -> load', async () => {
    const before = await hnsw.search(Q, 10, { efSearch: 64, threads: 1 });
    const copy = await IpIndex.deserialize(await hnsw.serialize());
    const path = join(tmp.dir, 'h.faiss');
    await hnsw.save(path);
    const loaded = await IpIndex.load(path);
    try {
      for (const other of [copy, loaded]) {
        assert.equal(other.ntotal, n);
        const r = await other.search(Q, 10, { efSearch: 64, threads: 1 });
        assert.deepEqual(r.labels, before.labels);
        assert.deepEqual(r.distances, before.distances);
      }
    } finally {
      copy.close();
      loaded.close();
    }
  });

  it('pads with -1 when asked for more than it holds', async () => {
    const small = IpIndex.create({ d, kind: 'hnsw' });
    try {
      await small.add(X.subarray(0, 3 * d), ids.subarray(0, 3));
      const r = await small.search(Q.subarray(0, d), 5);
      assert.deepEqual(Array.from(r.labels).slice(3), [-1n, -1n]);
      assert.equal(r.distances[4], -Infinity);
    } finally {
      small.close();
    }
  });

  it('rejects a dim mismatch, k <= 0, an empty index, a corrupt file and use after close', async () => {
    await assert.rejects(hnsw.search(Q.subarray(1), 10), InvalidArgumentError);
    await assert.rejects(hnsw.search(Q, 0), InvalidArgumentError);
    await assert.rejects(hnsw.add(X.subarray(0, d + 1), ids.subarray(0, 1)), InvalidArgumentError);
    const empty = IpIndex.create({ d, kind: 'flat' });
    await assert.rejects(empty.search(Q, 1), (e: Error) => e instanceof InvalidArgumentError && /empty/.test(e.message));
    empty.close();
    assert.throws(() => empty.ntotal, ClosedError);
    await assert.rejects(empty.search(Q, 1), ClosedError);
    const path = join(tmp.dir, 'bad.faiss');
    await hnsw.save(path);
    truncateSync(path, 5000);
    await assert.rejects(IpIndex.load(path), CorruptFileError);
    const bytes = readFileSync(join(tmp.dir, 'h.faiss'));
    bytes.write('XXXX', 0, 'latin1');
    writeFileSync(path, bytes);
    await assert.rejects(IpIndex.load(path), CorruptFileError);
    await assert.rejects(IpIndex.deserialize(new Uint8Array(10)), CorruptFileError);
    assert.throws(() => IpIndex.create({ d: 0 }), InvalidArgumentError);
  });
});

const available = kernelInfo().available;
function skipReason(kernel: KernelName): string | false {
  return available.includes(kernel) ? false : `this CPU (${kernelInfo().cpu}) has no ${kernel}`;
}
const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('kernel dot product (the HNSW distance)', () => {
  // Values of mixed sign and magnitude (and a few signed zeros), so any other summation order
  // would change low bits.
  const drng = new Random(99);
  const draw = (len: number): Float32Array =>
    Float32Array.from({ length: len }, () => {
      const u = drng.next();
      if (u < 0.02) return -0;
      if (u < 0.04) return 0;
      return drng.normal() * Math.exp(3 * drng.normal());
    });
  const rows = 64;
  for (const dim of [1, 7, 15, 16, 17, 100, 128, 2048]) {
    const a = draw(rows * dim);
    const b = draw(rows * dim);
    for (const kernel of ['avx2', 'avx512'] as const) {
      it(`${kernel} gives the bits of scalar for d=${dim}, ${rows} random row pairs`, { skip: skipReason(kernel) }, async () => {
        const want = await kernelDot(a, b, dim, 'scalar');
        const got = await kernelDot(a, b, dim, kernel);
        assert.ok(bits(got).equals(bits(want)), `d=${dim}: ${kernel} ${Array.from(got.slice(0, 4))} vs scalar ${Array.from(want.slice(0, 4))}`);
      });
    }
    it(`scalar is near the float64 dot for d=${dim}`, async () => {
      const got = await kernelDot(a, b, dim, 'scalar');
      for (let r = 0; r < rows; r++) {
        let exact = 0;
        let mag = 0;
        for (let i = 0; i < dim; i++) {
          exact += a[r * dim + i]! * b[r * dim + i]!;
          mag += Math.abs(a[r * dim + i]! * b[r * dim + i]!);
        }
        // fp32 partial sums: error bounded by ~(d/16 + 4) roundings of the absolute sum
        assert.ok(Math.abs(got[r]! - exact) <= (dim / 16 + 5) * 6e-8 * mag + 1e-30, `row ${r}: ${got[r]} vs ${exact}`);
      }
    });
  }
});

describe('deterministic HNSW build', () => {
  // d = 100 (not a multiple of 16: the kernels' tails run) and enough rows for batches of up
  // to ~20 nodes to be inserted in parallel.
  const dd = 100;
  const nn = 3000;
  const drng = new Random(5);
  const dcentres = Float32Array.from({ length: 30 * dd }, () => drng.normal());
  const rowsNear = (count: number): Float32Array => {
    const out = new Float32Array(count * dd);
    for (let i = 0; i < count; i++) {
      const c = drng.int(30);
      for (let j = 0; j < dd; j++) out[i * dd + j] = dcentres[c * dd + j]! + 0.8 * drng.normal();
    }
    return out;
  };
  const Xd = rowsNear(nn);
  const Qd = rowsNear(40);
  const idsD = BigInt64Array.from({ length: nn }, (_, i) => BigInt(i * 3 + 1));

  async function build(threads: number, kernel?: KernelName): Promise<Uint8Array> {
    const ix = IpIndex.create({ d: dd, kind: 'hnsw', M: 32, efConstruction: 40, ...(kernel ? { kernel } : {}) });
    try {
      await ix.add(Xd, idsD, { threads });
      return await ix.serialize();
    } finally {
      ix.close();
    }
  }

  it('serialises to the same bytes with 1 and 2 threads, and for two runs with 2 threads', async () => {
    const one = await build(1);
    const two = await build(2);
    const again = await build(2);
    assert.ok(Buffer.from(two).equals(Buffer.from(one)), '1 vs 2 threads');
    assert.ok(Buffer.from(again).equals(Buffer.from(two)), '2 threads, run 1 vs run 2');
  });

  for (const kernel of ['avx2', 'avx512'] as const) {
    it(`serialises to the same bytes with the ${kernel} and scalar kernels`, { skip: skipReason(kernel) }, async () => {
      const scalar = await build(2, 'scalar');
      const simd = await build(2, kernel);
      assert.ok(Buffer.from(simd).equals(Buffer.from(scalar)));
    });
  }

  it('adds to a deserialised index deterministically too', async () => {
    const half = nn / 2;
    const grow = async (threads: number): Promise<Uint8Array> => {
      const ix = IpIndex.create({ d: dd, kind: 'hnsw' });
      await ix.add(Xd.subarray(0, half * dd), idsD.subarray(0, half), { threads });
      const copy = await IpIndex.deserialize(await ix.serialize());
      ix.close();
      try {
        await copy.add(Xd.subarray(half * dd), idsD.subarray(half), { threads });
        assert.equal(copy.ntotal, nn);
        return await copy.serialize();
      } finally {
        copy.close();
      }
    };
    assert.ok(Buffer.from(await grow(2)).equals(Buffer.from(await grow(1))));
  });

  it('finds >= 0.95 of the exact top-10 at efSearch 128', async () => {
    const ix = IpIndex.create({ d: dd, kind: 'hnsw', M: 32, efConstruction: 40 });
    try {
      await ix.add(Xd, idsD, { threads: 2 });
      const exact = await innerProductTopK(Qd, Xd, dd, 10, { threads: 1 });
      const r = await ix.search(Qd, 10, { efSearch: 128 });
      let hit = 0;
      for (let q = 0; q < 40; q++) {
        const want = new Set(Array.from(exact.row(q).labels, (p) => idsD[Number(p)]!));
        for (const l of r.row(q).labels) if (want.has(l)) hit++;
      }
      assert.ok(hit / 400 >= 0.95, `recall@10 = ${hit / 400}`);
    } finally {
      ix.close();
    }
  });
});

describe('compact storage (fp16, sq8)', () => {
  const storages = ['fp32', 'fp16', 'sq8'] as const;
  const kernels = (['scalar', 'avx2', 'avx512'] as const).filter((k) => available.includes(k));
  for (const k of ['avx2', 'avx512'] as const) {
    if (!available.includes(k)) it(`${k} kernel`, { skip: skipReason(k) }, () => {});
  }
  const srng = new Random(31);
  /** Rows with uneven per-dimension scales and offsets (W-like: no dimension centred or unit). */
  const rowsOf = (count: number, dim: number): Float32Array => {
    const scale = Float32Array.from({ length: dim }, () => 0.05 + Math.abs(srng.normal()));
    const shift = Float32Array.from({ length: dim }, () => 0.3 * srng.normal());
    return Float32Array.from({ length: count * dim }, (_, i) => shift[i % dim]! + scale[i % dim]! * srng.normal());
  };
  /** Per dimension, the largest magnitude over the rows: bounds every stored and decoded value. */
  const bound = (rows: Float32Array, dim: number): Float64Array => {
    const m = new Float64Array(dim);
    for (let i = 0; i < rows.length; i++) m[i % dim] = Math.max(m[i % dim]!, Math.abs(rows[i]!));
    return m;
  };

  for (const dim of [1, 7, 17, 65, 100, 2048]) {
    const count = dim >= 2048 ? 40 : 120;
    const rows = rowsOf(count, dim);
    const q = rowsOf(1, dim);
    const rowIds = BigInt64Array.from({ length: count }, (_, i) => BigInt(500 + i));
    const M = bound(rows, dim);
    for (const storage of storages) {
      it(`${storage}, d=${dim}: scores are within fp32 rounding of the float64 dot with the decoded rows, the same bits on every kernel`, async () => {
        let ref: { labels: BigInt64Array; distances: Float32Array } | undefined;
        for (const kernel of kernels) {
          const ix = IpIndex.create({ d: dim, kind: 'flat', storage, kernel });
          try {
            await ix.add(rows, rowIds);
            const r = await ix.scan(q, count, { threads: 2 });
            if (!ref) {
              ref = r;
              const decoded = await ix.reconstruct(r.labels);
              let mag = 0;
              for (let j = 0; j < dim; j++) mag += Math.abs(q[j]!) * M[j]!;
              // fp32 partial sums over d terms whose magnitudes sum to at most `mag` (sq8 scores
              // add q·offset and (q·step)·c, each of which that sum also bounds): (d/16 + 12)
              // roundings of it is a sure bound
              const tol = (dim / 16 + 12) * 6e-8 * 4 * mag;
              for (let i = 0; i < count; i++) {
                let exact = 0;
                for (let j = 0; j < dim; j++) exact += q[j]! * decoded[i * dim + j]!;
                assert.ok(Math.abs(r.distances[i]! - exact) <= tol, `${storage} d=${dim} row ${r.labels[i]}: ${r.distances[i]} vs ${exact} (tol ${tol})`);
              }
            } else {
              assert.ok(bits(r.distances).equals(bits(ref.distances)), `${storage} d=${dim}: ${kernel} scores differ from scalar`);
              assert.deepEqual(r.labels, ref.labels, `${storage} d=${dim}: ${kernel} order differs from scalar`);
            }
          } finally {
            ix.close();
          }
        }
      });
    }
  }

  it('fp32 scan gives the bits and order of innerProductTopK over the same rows (1-7 queries and batches), with ids for positions', async () => {
    const ix = IpIndex.create({ d, kind: 'hnsw', M: 16 });
    try {
      await ix.add(X, ids);
      for (const count of [1, 7, 20]) {
        const F = Q.subarray(0, count * d);
        const want = await innerProductTopK(F, X, d, 25, { threads: 2 });
        const got = await ix.scan(F, 25, { threads: 2 });
        assert.ok(bits(got.distances).equals(bits(want.distances)), `${count} queries`);
        assert.deepEqual(got.labels, BigInt64Array.from(want.labels, (p) => ids[Number(p)]!));
      }
    } finally {
      ix.close();
    }
  });

  it('reconstruct gives the rows back: fp32 exactly, fp16 to half precision, sq8 to half a quantisation step', async () => {
    const dim = 33;
    const count = 300;
    const rows = rowsOf(count, dim);
    const rowIds = BigInt64Array.from({ length: count }, (_, i) => BigInt(10 * i + 1));
    const lo = new Float64Array(dim).fill(Infinity);
    const hi = new Float64Array(dim).fill(-Infinity);
    for (let i = 0; i < rows.length; i++) {
      lo[i % dim] = Math.min(lo[i % dim]!, rows[i]!);
      hi[i % dim] = Math.max(hi[i % dim]!, rows[i]!);
    }
    for (const storage of storages) {
      const ix = IpIndex.create({ d: dim, kind: 'hnsw', storage });
      try {
        await ix.add(rows, rowIds);
        assert.equal(ix.storage, storage);
        assert.equal(ix.bytesPerVector, { fp32: 4, fp16: 2, sq8: 1 }[storage] * dim);
        const all = await ix.reconstructRange(0, count);
        const picked = BigInt64Array.from([rowIds[7]!, rowIds[0]!, rowIds[299]!]);
        const some = await ix.reconstruct(picked);
        assert.deepEqual(some.subarray(0, dim), all.subarray(7 * dim, 8 * dim));
        assert.deepEqual(some.subarray(2 * dim), all.subarray(299 * dim));
        const out = new Float32Array(2 * dim);
        assert.equal(await ix.reconstructRange(5, 2, { out }), out);
        assert.deepEqual(out, all.subarray(5 * dim, 7 * dim));
        for (let i = 0; i < rows.length; i++) {
          const x = rows[i]!;
          const err = Math.abs(all[i]! - x);
          const j = i % dim;
          const tol = { fp32: 0, fp16: Math.abs(x) * 2 ** -11 + 2 ** -25, sq8: (hi[j]! - lo[j]!) / 510 + 1e-6 * (Math.abs(lo[j]!) + Math.abs(hi[j]!)) }[storage];
          assert.ok(err <= tol, `${storage} value ${i}: ${all[i]} for ${x}`);
        }
        await assert.rejects(ix.reconstruct(BigInt64Array.of(2n)), (e: Error) => e instanceof InvalidArgumentError && /2 is not in the index/.test(e.message));
        await assert.rejects(ix.reconstructRange(count - 1, 2), InvalidArgumentError);
        await assert.rejects(ix.reconstruct(picked, { out: new Float32Array(dim) }), InvalidArgumentError);
      } finally {
        ix.close();
      }
    }
  });

  // The recall promise of compact storage, on the clustered rows of the first tests (d = 48,
  // 4000 rows, 50 queries): HNSW over fp16 finds what fp32 finds; sq8 loses a little to its
  // quantisation. Measured: HNSW fp32 1.0, fp16 1.0, sq8 0.988; exact scans of the stored rows
  // the same. On real W rows (d = 2048) see `npm run bench -- compact-w`.
  it('HNSW recall@10 against exact fp32 top-10 at efSearch 128: fp16 within 0.01 of fp32, sq8 within 0.03', async () => {
    const exact = await innerProductTopK(Q, X, d, 10, { threads: 1 });
    const recall = (r: { row(q: number): { labels: BigInt64Array } }): number => {
      let hit = 0;
      for (let q = 0; q < nq; q++) {
        const want = new Set(Array.from(exact.row(q).labels, (p) => ids[Number(p)]!));
        for (const l of r.row(q).labels) if (want.has(l)) hit++;
      }
      return hit / (nq * 10);
    };
    const got: Record<string, { hnsw: number; scan: number }> = {};
    for (const storage of storages) {
      const ix = IpIndex.create({ d, kind: 'hnsw', M: 32, efConstruction: 40, storage });
      try {
        await ix.add(X, ids, { threads: 2 });
        got[storage] = { hnsw: recall(await ix.search(Q, 10, { efSearch: 128 })), scan: recall(await ix.scan(Q, 10)) };
      } finally {
        ix.close();
      }
    }
    const msg = JSON.stringify(got);
    assert.ok(got['fp32']!.hnsw >= 0.95, msg);
    assert.ok(got['fp16']!.hnsw >= got['fp32']!.hnsw - 0.01 && got['fp16']!.scan >= 0.99, msg);
    assert.ok(got['sq8']!.hnsw >= got['fp32']!.hnsw - 0.03 && got['sq8']!.scan >= 0.97, msg);
  });

  for (const storage of ['fp16', 'sq8'] as const) {
    it(`${storage}: HNSW search scores are the scan's bits for the same rows; save -> load and serialise -> deserialise search identically`, async () => {
      const ix = IpIndex.create({ d, kind: 'hnsw', M: 16, efConstruction: 40, storage });
      try {
        await ix.add(X, ids, { threads: 2 });
        const r = await ix.search(Q.subarray(0, 3 * d), 10, { efSearch: 64, threads: 1 });
        const s = await ix.scan(Q.subarray(0, 3 * d), n);
        for (let q = 0; q < 3; q++) {
          const score = new Map<bigint, number>();
          s.row(q).labels.forEach((l, i) => score.set(l, s.row(q).distances[i]!));
          r.row(q).labels.forEach((l, i) => assert.equal(r.row(q).distances[i], score.get(l), `query ${q}, id ${l}`));
        }
        const path = join(tmp.dir, `c-${storage}.faiss`);
        await ix.save(path);
        const loaded = await IpIndex.load(path);
        const copy = await IpIndex.deserialize(await ix.serialize());
        try {
          const want = await ix.search(Q, 10, { efSearch: 64, threads: 1 });
          for (const other of [loaded, copy]) {
            assert.equal(other.storage, storage);
            assert.equal(other.ntotal, n);
            assert.equal(other.bytesPerVector, ix.bytesPerVector);
            const got = await other.search(Q, 10, { efSearch: 64, threads: 1 });
            assert.deepEqual(got.labels, want.labels);
            assert.deepEqual(got.distances, want.distances);
            assert.deepEqual(await other.reconstructRange(0, 50), await ix.reconstructRange(0, 50));
          }
        } finally {
          loaded.close();
          copy.close();
        }
      } finally {
        ix.close();
      }
    });

    it(`${storage}: adds to a deserialised index deterministically (sq8 keeps its first add's ranges)`, async () => {
      const half = n / 2;
      const grow = async (threads: number): Promise<Uint8Array> => {
        const ix = IpIndex.create({ d, kind: 'hnsw', storage });
        await ix.add(X.subarray(0, half * d), ids.subarray(0, half), { threads });
        const copy = await IpIndex.deserialize(await ix.serialize());
        ix.close();
        try {
          await copy.add(X.subarray(half * d), ids.subarray(half), { threads });
          assert.equal(copy.ntotal, n);
          return await copy.serialize();
        } finally {
          copy.close();
        }
      };
      assert.ok(Buffer.from(await grow(2)).equals(Buffer.from(await grow(1))));
    });
  }

  it('index file size follows the storage: fp16 and sq8 rows take 1/2 and 1/4 of fp32 rows', async () => {
    const sizes: Record<string, number> = {};
    for (const storage of storages) {
      const ix = IpIndex.create({ d, kind: 'flat', storage });
      await ix.add(X, ids);
      sizes[storage] = (await ix.serialize()).length;
      ix.close();
    }
    // the rest of the file (ids, headers, sq8's 2d trained floats) is the same few KiB
    const rest = sizes['fp32']! - n * d * 4;
    assert.ok(Math.abs(sizes['fp16']! - (n * d * 2 + rest)) < 1024, JSON.stringify(sizes));
    assert.ok(Math.abs(sizes['sq8']! - (n * d + rest)) < 1024, JSON.stringify(sizes));
  });

  it('rejects an unknown storage, fp16 values beyond ±65504 (naming the row) and use after close', async () => {
    assert.throws(() => IpIndex.create({ d, storage: 'int4' as never }), (e: Error) => e instanceof InvalidArgumentError && /storage/.test(e.message));
    const ix = IpIndex.create({ d: 4, kind: 'hnsw', storage: 'fp16' });
    await assert.rejects(ix.add(Float32Array.of(1, 2, 3, 4, 5, 6, 7e4, 8), BigInt64Array.of(1n, 2n)), (e: Error) => e instanceof InputDataError && e.row === 1);
    assert.equal(ix.ntotal, 0);
    await assert.rejects(ix.scan(Float32Array.of(1, 2, 3, 4), 1), (e: Error) => e instanceof InvalidArgumentError && /empty/.test(e.message));
    ix.close();
    await assert.rejects(ix.scan(Float32Array.of(1, 2, 3, 4), 1), ClosedError);
    await assert.rejects(ix.reconstruct(BigInt64Array.of(1n)), ClosedError);
    await assert.rejects(ix.reconstructRange(0, 0), ClosedError);
    assert.throws(() => ix.storage, ClosedError);
  });
});
