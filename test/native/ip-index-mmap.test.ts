/**
 * IpIndex.load(path, { mmap: true }): the same labels and distance bits as the Faiss-loaded index
 * on the same file (fp32, fp16, sq8 rows; random and clustered rows; several k and efSearch; 1
 * and 2 threads), scan / reconstruct / save through the mapping, read-only, CorruptFileError for
 * truncated, padded, foreign and damaged files, and the memory promise: a fresh process that maps
 * a ~200 MB index and searches and scans all of it keeps its anonymous memory far below that.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { ClosedError, CorruptFileError, InvalidArgumentError, IoError } from '../../src/errors.js';
import { IP_STORAGES, IpIndex, type IpStorage } from '../../src/native/ip-index.js';
import { clusteredRows } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);

const d = 100; // not a multiple of 16: the kernels' tails are in play
const n = 3000;
const nq = 40;
const rng = new Random(2024);
const centres = Float32Array.from({ length: 30 * d }, () => rng.normal());
const datasets = {
  random: { X: Float32Array.from({ length: n * d }, () => rng.normal()), Q: Float32Array.from({ length: nq * d }, () => rng.normal()) },
  clustered: { X: clusteredRows(rng, centres, d, n, 0.5), Q: clusteredRows(rng, centres, d, nq, 0.5) },
};
const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(7 * i - 300));
const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** An HNSW index of `rows` (ids `ids`) saved to a file: its path. */
async function savedIndex(name: string, rows: Float32Array, storage: IpStorage, kind: 'hnsw' | 'flat' = 'hnsw', rowIds = ids): Promise<string> {
  const ix = IpIndex.create({ d, kind, M: 12, efConstruction: 40, storage });
  try {
    await ix.add(rows, rowIds, { threads: 2 });
    const path = join(tmp.dir, `${name}.faiss`);
    await ix.save(path);
    return path;
  } finally {
    ix.close();
  }
}

describe('mapped IpIndex: the Faiss-loaded index, bit for bit', () => {
  const cases: [k: number, efSearch: number][] = [
    [1, 16],
    [10, 8], // efSearch < k: the queue holds k, the stop rule still counts efSearch
    [10, 64],
    [50, 200],
    [100, 40],
  ];
  for (const storage of IP_STORAGES) {
    for (const [data, { X, Q }] of Object.entries(datasets)) {
      it(`${storage}, ${data} rows: same labels and distance bits at k/efSearch ${cases.map((c) => c.join('/')).join(', ')}, 1 and 2 threads`, async () => {
        const path = await savedIndex(`${storage}-${data}`, X, storage);
        const loaded = await IpIndex.load(path);
        const mapped = await IpIndex.load(path, { mmap: true });
        try {
          assert.equal(mapped.mapped, true);
          assert.equal(loaded.mapped, false);
          assert.deepEqual([mapped.d, mapped.ntotal, mapped.kind, mapped.storage, mapped.bytesPerVector], [loaded.d, loaded.ntotal, loaded.kind, loaded.storage, loaded.bytesPerVector]);
          for (const [k, efSearch] of cases) {
            const want = await loaded.search(Q, k, { efSearch, threads: 2 });
            for (const threads of [1, 2]) {
              const got = await mapped.search(Q, k, { efSearch, threads });
              assert.deepEqual(got.labels, want.labels, `k ${k} efSearch ${efSearch} threads ${threads}: labels`);
              assert.ok(bits(got.distances).equals(bits(want.distances)), `k ${k} efSearch ${efSearch} threads ${threads}: distances`);
            }
          }
        } finally {
          loaded.close();
          mapped.close();
        }
      });
    }
  }
});

describe('mapped IpIndex: the rest of the API', () => {
  const { X, Q } = datasets.clustered;
  let path: string;
  let loaded: IpIndex;
  let mapped: IpIndex;
  before(async () => {
    path = await savedIndex('api-fp16', X, 'fp16');
    loaded = await IpIndex.load(path);
    mapped = await IpIndex.load(path, { mmap: true });
  });
  after(() => {
    loaded.close();
    mapped.close();
  });

  it('scans, reconstructs (by id and by range) and pads exactly as the loaded index', async () => {
    for (const q of [Q.subarray(0, 3 * d), Q]) {
      const a = await loaded.scan(q, 20, { threads: 2 });
      const b = await mapped.scan(q, 20, { threads: 2 });
      assert.deepEqual(b.labels, a.labels);
      assert.ok(bits(b.distances).equals(bits(a.distances)));
    }
    const some = BigInt64Array.from([ids[5]!, ids[n - 1]!, ids[0]!, ids[1234]!]);
    assert.ok(bits(await mapped.reconstruct(some)).equals(bits(await loaded.reconstruct(some))));
    assert.ok(bits(await mapped.reconstructRange(100, 250)).equals(bits(await loaded.reconstructRange(100, 250))));
    await assert.rejects(mapped.reconstruct(BigInt64Array.from([2n])), (e: Error) => e instanceof InvalidArgumentError && /not in the index/.test(e.message));
  });

  it('saves and serialises the bytes of its file; cannot add; closes like any index', async () => {
    const copy = join(tmp.dir, 'copy.faiss');
    await mapped.save(copy);
    assert.ok(readFileSync(copy).equals(readFileSync(path)));
    assert.ok(Buffer.from(await mapped.serialize()).equals(readFileSync(path)));
    await assert.rejects(mapped.add(X.subarray(0, d), ids.subarray(0, 1)), (e: Error) => e instanceof InvalidArgumentError && /read-only/.test(e.message));
    const other = await IpIndex.load(copy, { mmap: true });
    other.close();
    other.close();
    assert.throws(() => other.ntotal, ClosedError);
    await assert.rejects(other.search(Q, 1), ClosedError);
  });

  it('maps empty indexes of either kind and every storage', async () => {
    for (const kind of ['hnsw', 'flat'] as const) {
      for (const storage of IP_STORAGES) {
        const empty = IpIndex.create({ d, kind, storage });
        const p = join(tmp.dir, `empty-${kind}-${storage}.faiss`);
        await empty.save(p);
        empty.close();
        const m = await IpIndex.load(p, { mmap: true });
        assert.deepEqual([m.ntotal, m.kind, m.storage], [0, kind, storage]);
        m.close();
      }
    }
  });

  it('maps flat indexes (search = the exact scan) and indexes whose ids are their positions', async () => {
    const positions = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
    for (const storage of IP_STORAGES) {
      const flatPath = await savedIndex(`flat-${storage}`, X, storage, 'flat', positions);
      const a = await IpIndex.load(flatPath);
      const b = await IpIndex.load(flatPath, { mmap: true });
      try {
        assert.equal(b.kind, 'flat');
        const want = await a.search(Q, 10);
        const got = await b.search(Q, 10);
        assert.deepEqual(got.labels, want.labels, storage);
        // IpIndex's fp32 flat search is Faiss's IndexFlatIP (its own summation order); fp16 and
        // sq8 are our scan in both
        for (let i = 0; i < want.distances.length; i++) assert.ok(Math.abs(got.distances[i]! - want.distances[i]!) <= 1e-5 * Math.max(1, Math.abs(want.distances[i]!)), storage);
        const rows = BigInt64Array.from([0n, 17n, BigInt(n - 1)]);
        assert.ok(bits(await b.reconstruct(rows)).equals(bits(await a.reconstruct(rows))));
        await assert.rejects(b.reconstruct(BigInt64Array.from([BigInt(n)])), InvalidArgumentError);
      } finally {
        a.close();
        b.close();
      }
    }
  });
});

/** Byte offsets of an HNSW file's link table and its entry point (Faiss's layout: faiss_index_file.h). */
function hnswTables(buf: Buffer): { linksAt: number; slotOf: (node: number) => number; entry: number; maxLevel: number; cum: number[] } {
  let at = 2 * (4 + 33); // IxM2 + header, IHN? + header
  at += 8 + 8 * Number(buf.readBigUInt64LE(at)); // assign_probas
  const nCum = Number(buf.readBigUInt64LE(at));
  const cum = Array.from({ length: nCum }, (_, i) => buf.readInt32LE(at + 8 + 4 * i));
  at += 8 + 4 * nCum;
  at += 8 + 4 * Number(buf.readBigUInt64LE(at)); // levels
  const offsetsAt = at + 8;
  at += 8 + 8 * Number(buf.readBigUInt64LE(at));
  const nLinks = Number(buf.readBigUInt64LE(at));
  const linksAt = at + 8;
  const tail = linksAt + 4 * nLinks;
  return { linksAt, slotOf: (node) => Number(buf.readBigUInt64LE(offsetsAt + 8 * node)), entry: buf.readInt32LE(tail), maxLevel: buf.readInt32LE(tail + 4), cum };
}

describe('mapped IpIndex: damaged files', () => {
  const { X, Q } = datasets.random;
  let path: string;
  let good: Buffer;
  before(async () => {
    path = await savedIndex('damage-sq8', X.subarray(0, 500 * d), 'sq8', 'hnsw', ids.subarray(0, 500));
    good = readFileSync(path);
  });

  /** `bytes` written to a fresh file: its path. */
  const fileOf = (name: string, bytes: Uint8Array): string => {
    const p = join(tmp.dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const corrupt = (p: string, what: RegExp) => (e: Error) => e instanceof CorruptFileError && e.path === p && e.message.includes(p) && what.test(e.message);

  it('refuses truncated files at open, naming the path and the field that does not fit', async () => {
    for (const len of [0, 3, 30, 60, 200, Math.floor(good.length / 2), good.length - 8 * 500 - 3, good.length - 1]) {
      const p = fileOf(`trunc-${len}.faiss`, good.subarray(0, len));
      await assert.rejects(IpIndex.load(p, { mmap: true }), corrupt(p, /needs \d+ bytes, the file ends at|cannot fit in \d+ bytes/), `length ${len}`);
    }
  });

  it('refuses trailing bytes, foreign files and damaged tables; a missing file is an IoError', async () => {
    const padded = fileOf('padded.faiss', Buffer.concat([good, Buffer.from([0])]));
    await assert.rejects(IpIndex.load(padded, { mmap: true }), corrupt(padded, /1 bytes follow the id map/));
    const foreign = fileOf('foreign.faiss', Buffer.from('LEMURTS1 not an index at all, but long enough to have a header'));
    await assert.rejects(IpIndex.load(foreign, { mmap: true }), corrupt(foreign, /not an IndexIDMap2/));
    const t = hnswTables(good);
    const badEntry = Buffer.from(good);
    badEntry.writeInt32LE(500, t.linksAt + 4 * t.slotOf(500)); // entry_point = ntotal
    const pe = fileOf('bad-entry.faiss', badEntry);
    await assert.rejects(IpIndex.load(pe, { mmap: true }), corrupt(pe, /entry point 500/));
    const badSlot = Buffer.from(good);
    badSlot.writeBigUInt64LE(BigInt(t.slotOf(7) + 1), t.linksAt - 8 - 8 * (501 - 7)); // offsets[7] moved
    const ps = fileOf('bad-slot.faiss', badSlot);
    await assert.rejects(IpIndex.load(ps, { mmap: true }), corrupt(ps, /HNSW node 6 has a neighbour slot/));
    await assert.rejects(IpIndex.load(join(tmp.dir, 'missing.faiss'), { mmap: true }), IoError);
  });

  it('opens a file with a damaged link, and the search that follows it fails with CorruptFileError', async () => {
    const t = hnswTables(good);
    const bad = Buffer.from(good);
    bad.writeInt32LE(123456, t.linksAt + 4 * (t.slotOf(t.entry) + t.cum[t.maxLevel]!)); // the entry point's first top-level link
    const p = fileOf('bad-link.faiss', bad);
    const ix = await IpIndex.load(p, { mmap: true });
    try {
      await assert.rejects(ix.search(Q, 10, { efSearch: 32 }), corrupt(p, /links at level \d+ to 123456, outside \[0, 500\)/));
      assert.equal((await ix.scan(Q.subarray(0, d), 3)).labels.length, 3); // the rows are fine
    } finally {
      ix.close();
    }
  });
});

/** RssAnon / RssFile of a child process around opening `path` and touching every row of it. */
function childMemory(path: string, mmap: boolean, dim: number): { anonBefore: number; anonAfter: number; fileBefore: number; fileAfter: number } {
  const ipIndexUrl = new URL('../../src/native/ip-index.js', import.meta.url).href;
  const script = `
    import { readFileSync } from 'node:fs';
    import { IpIndex } from ${JSON.stringify(ipIndexUrl)};
    const mem = () => {
      const t = readFileSync('/proc/self/status', 'utf8');
      const f = (name) => Number(new RegExp('^' + name + ':\\\\s+(\\\\d+) kB', 'm').exec(t)[1]) * 1024;
      return { anon: f('RssAnon'), file: f('RssFile') };
    };
    const [path, mmap, dim] = [process.argv[1], process.argv[2] === 'true', Number(process.argv[3])];
    const q = Float32Array.from({ length: 5 * dim }, (_, i) => Math.sin(i));
    const before = mem();
    const ix = await IpIndex.load(path, { mmap });
    await ix.search(q, 100, { efSearch: 400, threads: 2 });
    await ix.scan(q, 10, { threads: 2 }); // reads every row
    await ix.reconstructRange(0, 50);
    const after = mem();
    ix.close();
    process.stdout.write(JSON.stringify({ anonBefore: before.anon, anonAfter: after.anon, fileBefore: before.file, fileAfter: after.file }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, path, String(mmap), String(dim)], { encoding: 'utf8', env: { ...process.env, LEMUR_THREADS: '2' } });
  return JSON.parse(out);
}

describe('mapped IpIndex: memory', () => {
  it('a fresh process that maps a ~200 MB index and reads all of it keeps RssAnon far below the index size (loading it does not)', async () => {
    // fp32 rows of 4096 dims: 16 KiB a row, so 12.5k rows make 200 MiB and the graph builds in seconds
    const dim = 4096;
    const rows = 12_800;
    const big = IpIndex.create({ d: dim, kind: 'hnsw', M: 4, efConstruction: 16 });
    const path = join(tmp.dir, 'big.faiss');
    try {
      const r = new Random(5);
      const X = Float32Array.from({ length: rows * dim }, () => r.next() - 0.5);
      await big.add(X, BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)), { threads: 2 });
      await big.save(path);
    } finally {
      big.close();
    }
    const size = statSync(path).size;
    assert.ok(size > 200e6, `index is ${size} bytes`);
    const m = childMemory(path, true, dim);
    const anon = m.anonAfter - m.anonBefore;
    assert.ok(anon < 0.1 * size, `mapped: RssAnon grew by ${anon} bytes for a ${size}-byte index`);
    assert.ok(m.fileAfter - m.fileBefore > 0.9 * size, `mapped: RssFile grew by only ${m.fileAfter - m.fileBefore} bytes: the scan did not read the rows from the mapping`);
    const h = childMemory(path, false, dim);
    assert.ok(h.anonAfter - h.anonBefore > 0.9 * size, `loaded: RssAnon grew by only ${h.anonAfter - h.anonBefore} bytes: the measurement misses the heap`);
    process.stderr.write(`# mapped ${JSON.stringify(m)} loaded ${JSON.stringify(h)} size ${size}\n`);
  });
});
