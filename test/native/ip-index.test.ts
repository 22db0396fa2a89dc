/**
 * The Faiss binding: HNSW recall against exact inner-product search (as Faiss checks against
 * IndexFlat), external ids, identical results after serialise/load, and typed errors.
 */
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { ClosedError, CorruptFileError, InvalidArgumentError } from '../../src/errors.js';
import { IpIndex } from '../../src/native/ip-index.js';
import { innerProductTopK } from '../../src/native/ols.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const d = 48;
const n = 4000;
const nq = 50;
// clustered data: 40 centres, points and queries near them
const rng = new Random(12);
const centres = Float32Array.from({ length: 40 * d }, () => rng.normal());
function clustered(count: number, noise: number): Float32Array {
  const out = new Float32Array(count * d);
  for (let i = 0; i < count; i++) {
    const c = rng.int(40);
    for (let j = 0; j < d; j++) out[i * d + j] = centres[c * d + j]! + noise * rng.normal();
  }
  return out;
}
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
