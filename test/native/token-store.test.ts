/**
 * Token store files: round trips (fp32, fp16, int64 and string ids), atomic replacement, and
 * every kind of bad input or damaged file giving a typed error instead of a crash.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { CorruptFileError, InputDataError, InvalidArgumentError, IoError } from '../../src/errors.js';
import { TokenStore } from '../../src/native/token-store.js';
import { offsetsOf, randomItems, sequentialIds } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const dim = 24;
const docs = randomItems(new Random(3), 17, dim, 1, 40);
const off = offsetsOf(docs.counts);

async function written(name: string, extra: Partial<Parameters<typeof TokenStore.write>[1]> = {}): Promise<string> {
  const path = join(tmp.dir, name);
  await TokenStore.write(path, { vectors: docs.vectors, counts: docs.counts, dim, ids: sequentialIds(17, 100), ...extra });
  return path;
}

/** Overwrites `bytes` at `at` in a file. */
function patch(path: string, at: number, bytes: number[]): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from(bytes), 0, bytes.length, at);
  closeSync(fd);
}

describe('TokenStore round trip', () => {
  it('keeps shape, int64 ids and every fp32 value', async () => {
    const s = await TokenStore.open(await written('a.lts'));
    try {
      assert.equal(s.dim, dim);
      assert.equal(s.nDocs, 17);
      assert.equal(s.nTokens, off[17]);
      assert.equal(s.dtype, 'float32');
      assert.equal(s.idKind, 'int64');
      assert.deepEqual(await s.ids(), sequentialIds(17, 100));
      for (let j = 0; j < 17; j++) assert.deepEqual(s.docTokens(j), docs.vectors.subarray(off[j]! * dim, off[j + 1]! * dim));
    } finally {
      s.close();
    }
  });

  it('keeps string ids (UTF-8)', async () => {
    const ids = Array.from({ length: 17 }, (_, i) => (i === 3 ? 'doc-ü-€-3' : i === 4 ? '' : `doc-${i}`));
    const s = await TokenStore.open(await written('s.lts', { ids }));
    try {
      assert.equal(s.idKind, 'string');
      assert.deepEqual(await s.ids(), ids);
    } finally {
      s.close();
    }
  });

  it('stores fp16 rounded to nearest even, half the vector bytes', async () => {
    const s32 = await TokenStore.open(await written('f32.lts'));
    const s16 = await TokenStore.open(await written('f16.lts', { dtype: 'float16' }));
    try {
      assert.equal(s16.dtype, 'float16');
      assert.ok(s16.fileBytes < s32.fileBytes * 0.6);
      for (let j = 0; j < 17; j++) {
        const a = s32.docTokens(j);
        const b = s16.docTokens(j);
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= Math.abs(a[i]!) * 2 ** -11 + 2 ** -25);
      }
      const v = Float32Array.from([0.1, 1, -2.5, 65504, 1e-5, 5.96e-8, 1e-9, 0.333251953125]);
      const p = join(tmp.dir, 'h.lts');
      await TokenStore.write(p, { vectors: v, counts: Int32Array.from([1]), dim: 8, ids: BigInt64Array.from([1n]), dtype: 'float16' });
      const h = await TokenStore.open(p);
      assert.deepEqual(Array.from(h.docTokens(0)), [0.0999755859375, 1, -2.5, 65504, 0.000010013580322265625, 5.960464477539063e-8, 0, 0.333251953125]);
      h.close();
    } finally {
      s32.close();
      s16.close();
    }
  });

  it('replaces a file atomically: an open store keeps reading the old version', async () => {
    const path = await written('atomic.lts');
    const old = await TokenStore.open(path);
    try {
      const other = randomItems(new Random(9), 2, dim, 3, 3);
      await TokenStore.write(path, { vectors: other.vectors, counts: other.counts, dim, ids: sequentialIds(2) });
      assert.equal(old.nDocs, 17);
      assert.deepEqual(old.docTokens(0), docs.vectors.subarray(0, docs.counts[0]! * dim));
      const fresh = await TokenStore.open(path);
      assert.equal(fresh.nDocs, 2);
      fresh.close();
    } finally {
      old.close();
    }
  });
});

describe('TokenStore bad input', () => {
  it('names the doc, token and component of a non-finite value', async () => {
    const v = docs.vectors.slice();
    v[(off[5]! + 2) * dim + 7] = NaN;
    const path = join(tmp.dir, 'nan.lts');
    await assert.rejects(TokenStore.write(path, { vectors: v, counts: docs.counts, dim, ids: sequentialIds(17, 100) }), (e: unknown) => {
      assert.ok(e instanceof InputDataError);
      assert.equal(e.row, 5);
      assert.equal(e.field, 'vectors');
      assert.equal(e.file, path);
      assert.match(e.message, /doc 5 \(id 105\), token 2, component 7/);
      return true;
    });
    assert.throws(() => readFileSync(path), /ENOENT/, 'nothing half-written is left behind');
  });

  it('rejects values fp16 cannot hold, duplicate ids, empty docs and shapes that disagree', async () => {
    const big = docs.vectors.slice();
    big[3] = 70000;
    await assert.rejects(written('big.lts', { vectors: big, dtype: 'float16' }), (e: Error) => e instanceof InputDataError && /not representable in float16/.test(e.message));
    const dup = sequentialIds(17);
    dup[9] = 2n;
    await assert.rejects(written('dup.lts', { ids: dup }), (e: Error) => e instanceof InputDataError && e.row === 9 && e.field === 'ids' && /duplicate id 2/.test(e.message));
    await assert.rejects(written('dups.lts', { ids: Array.from({ length: 17 }, (_, i) => (i === 16 ? 'a' : `${i === 0 ? 'a' : i}`)) }), (e: Error) => e instanceof InputDataError && /duplicate id "a"/.test(e.message));
    const empty = docs.counts.slice();
    empty[4] = 0;
    empty[5]! += docs.counts[4]!;
    await assert.rejects(written('empty.lts', { counts: empty }), (e: Error) => e instanceof InputDataError && e.row === 4 && e.field === 'counts');
    await assert.rejects(written('len.lts', { vectors: docs.vectors.subarray(1) }), InvalidArgumentError);
    await assert.rejects(written('dim0.lts', { dim: 0 }), (e: Error) => e instanceof InvalidArgumentError && /for dim but received 0/.test(e.message));
    await assert.rejects(written('ids.lts', { ids: sequentialIds(16) }), InvalidArgumentError);
    await assert.rejects(written('dtype.lts', { dtype: 'int8' as 'float32' }), InvalidArgumentError);
  });
});

describe('TokenStore damaged files', () => {
  it('rejects a truncated file', async () => {
    const path = await written('trunc.lts');
    truncateSync(path, 1000);
    await assert.rejects(TokenStore.open(path), (e: Error) => e instanceof CorruptFileError && /truncated/.test(e.message));
    truncateSync(path, 10);
    await assert.rejects(TokenStore.open(path), (e: Error) => e instanceof CorruptFileError && /shorter than the 64-byte header/.test(e.message));
  });

  it('rejects a flipped byte in the body (checksum), unless verification is off', async () => {
    const path = await written('flip.lts');
    const at = readFileSync(path).length - 100;
    patch(path, at, [readFileSync(path)[at]! ^ 0x40]);
    await assert.rejects(TokenStore.open(path), (e: Error) => e instanceof CorruptFileError && /body checksum/.test(e.message) && (e as CorruptFileError).path === path);
    const s = await TokenStore.open(path, { verify: false });
    assert.equal(s.nDocs, 17);
    s.close();
  });

  it('rejects bad magic, a damaged header and an unknown major version', async () => {
    const path = await written('hdr.lts');
    const good = readFileSync(path);
    patch(path, 24, [99]); // n_docs
    await assert.rejects(TokenStore.open(path), (e: Error) => e instanceof CorruptFileError && /header checksum/.test(e.message));
    writeFileSync(path, good);
    patch(path, 8, [2, 0]); // major version 2
    await assert.rejects(TokenStore.open(path), (e: Error) => e instanceof CorruptFileError && /version 2\.0 is not readable/.test(e.message));
    writeFileSync(path, good);
    patch(path, 0, [0x50, 0x4b]);
    await assert.rejects(TokenStore.open(path), (e: Error) => e instanceof CorruptFileError && /bad magic/.test(e.message));
  });

  it('gives IoError for a missing file', async () => {
    await assert.rejects(TokenStore.open(join(tmp.dir, 'missing.lts')), (e: Error) => e instanceof IoError && /cannot open/.test(e.message));
  });
});
