/**
 * float16 sources: list<float16> leaves written by arrow-rs (flat, nested and fixed-size lists;
 * plain pages from its V1 writer, dictionary pages from its V2 one) and float16 blobs written by
 * DuckDB (declared in the footer or by the reader's option), read exactly as the float32 of the
 * same halves; a non-finite half and a blob of the wrong length named with row and field (and,
 * for a blob, the dtype assumed); the writer's float16 shards; the float16 helpers against
 * hyparquet's own parseFloat16 and the native encoder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { parquetMetadata, type FileMetaData } from 'hyparquet';
import { parseFloat16 } from 'hyparquet/src/convert.js';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { writeCorpusParquet } from '../../src/data/write-corpus-parquet.js';
import { InputDataError, InvalidArgumentError } from '../../src/errors.js';
import { TokenStore } from '../../src/native/token-store.js';
import { DTYPE_KEY } from '../../src/parquet/embeddings-dtype.js';
import { decodeHalves, encodeHalves, floatToHalf, halfToFloat } from '../../src/parquet/float16.js';
import { readShard, type ReadShardOptions } from '../../src/parquet/read-shard.js';
import { validateShard } from '../../src/parquet/validate-sources.js';
import { LocalStore } from '../../src/store/local-store.js';
import { arrow, floatLists, tokenLists, vectorOf, writeArrowParquet, type ArrowWriteOptions } from '../helpers/arrow-parquet.js';
import { writeBlobFixture } from '../helpers/parquet-fixtures.js';
import { shardFailure } from '../helpers/shard-failure.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const store = new LocalStore(tmp.dir);
mkdirSync(join(tmp.dir, 'half'), { recursive: true });

/** hyparquet's own widening of a half (its FLOAT16 converter), as float32: the reference. */
function reference(h: number): number {
  return Math.fround(parseFloat16(new Uint8Array([h & 0xff, h >> 8]))!);
}

/** Every finite half, in bit-pattern order (63488 of them: ±0, subnormals, normals up to ±65504). */
function finiteHalves(): Uint16Array {
  const out: number[] = [];
  for (let h = 0; h < 1 << 16; h++) if ((h & 0x7c00) !== 0x7c00) out.push(h);
  return Uint16Array.from(out);
}

/** Token offsets of documents of 1, 2, 3, 1, … tokens covering `tokens` tokens. */
function tokenOffsets(tokens: number): Int32Array {
  const out = [0];
  for (let i = 0; out.at(-1)! < tokens; i++) out.push(Math.min(out.at(-1)! + 1 + (i % 3), tokens));
  return Int32Array.from(out);
}

/** Asserts every value equals the reference widening of its half, bit for bit (−0 included). */
function assertWidened(got: Float32Array, halves: Uint16Array, what: string): void {
  assert.equal(got.length, halves.length, what);
  const bits = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const want = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) want[i] = reference(halves[i]!);
  const wantBits = new Uint32Array(want.buffer);
  for (let i = 0; i < halves.length; i++) if (bits[i] !== wantBits[i]) assert.fail(`${what}: value ${i} (half 0x${halves[i]!.toString(16)}) read as ${got[i]}, expected ${want[i]}`);
}

function footer(path: string): FileMetaData {
  const b = readFileSync(path);
  return parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The encodings of the embedding leaf's column chunks. */
function encodings(path: string): Set<string> {
  const m = footer(path);
  return new Set(m.row_groups.flatMap((g) => g.columns.filter((c) => c.meta_data!.path_in_schema[0] === 'embedding').flatMap((c) => c.meta_data!.encodings)));
}

/** readShard's rejection of `key` in this test's store. */
const failure = (key: string, options: ReadShardOptions = {}): Promise<InputDataError> => shardFailure(store, key, options);

describe('float16 helpers', () => {
  it('widen every half as hyparquet does, and narrow each widened half back to itself', () => {
    for (let h = 0; h < 1 << 16; h++) {
      const x = halfToFloat(h);
      const want = reference(h);
      if (!Object.is(x, want)) assert.fail(`half 0x${h.toString(16)}: ${x}, hyparquet ${want}`);
      if (!Number.isNaN(x) && floatToHalf(x) !== h) assert.fail(`half 0x${h.toString(16)} narrows back to 0x${floatToHalf(x).toString(16)}`);
    }
    // unaligned bytes decode like aligned ones
    const bytes = new Uint8Array(9);
    bytes.set(encodeHalves([1.5, -2, 65504, 2 ** -24]), 1);
    assert.deepEqual(Array.from(decodeHalves(bytes.subarray(1))), [1.5, -2, 65504, 2 ** -24]);
  });

  it('narrow floats exactly as the native fp16 token store does (ties to even, subnormals, the top of the range)', async () => {
    const values = [0, -0, 1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 2 ** -25 + 2 ** -40, 3 * 2 ** -26, 65504, 65519.99, -65519, 6e-8, 1e-9];
    let seed = 7;
    for (let i = 0; i < 20000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      values.push(Math.fround(((seed / 2 ** 32) * 2 - 1) * 2 ** ((i % 40) - 24)));
    }
    const path = join(tmp.dir, 'narrow.lts');
    await TokenStore.write(path, { vectors: Float32Array.from(values), counts: Int32Array.from([values.length]), dim: 1, ids: BigInt64Array.from([0n]), dtype: 'float16' });
    const ts = await TokenStore.open(path);
    try {
      const native = ts.docTokens(0);
      values.forEach((x, i) => {
        if (!Object.is(halfToFloat(floatToHalf(x)), native[i])) assert.fail(`${x}: TS ${halfToFloat(floatToHalf(x))}, native ${native[i]}`);
      });
    } finally {
      ts.close();
    }
  });
});

describe('list<float16> written by arrow-rs', () => {
  const halves = finiteHalves();
  const dim = 16;
  const tokens = tokenOffsets(halves.length / dim);
  const docs = tokens.length - 1;
  // arrow-rs's V1 writer stores FIXED_LEN_BYTE_ARRAY plain, its V2 writer with a dictionary
  const cases: [string, 'flat' | 'nested' | 'fixed', ArrowWriteOptions, string][] = [
    ['flat, plain pages, small ones', 'flat', { rowGroupSize: 700, pageBytes: 4096 }, 'PLAIN'],
    ['flat, V2 dictionary pages', 'flat', { rowGroupSize: 700, pageVersion: 2, codec: 'snappy' }, 'RLE_DICTIONARY'],
    ['nested, plain pages', 'nested', { rowGroupSize: 500 }, 'PLAIN'],
    ['fixed-size lists, V2 dictionary pages, small ones', 'fixed', { rowGroupSize: 900, pageVersion: 2, pageBytes: 4096 }, 'RLE_DICTIONARY'],
  ];
  for (const [what, layout, o, encoding] of cases) {
    it(`reads every finite half exactly as float32 (${what})`, async () => {
      const key = `half/arrow-${what.replace(/\W+/g, '-')}.parquet`;
      const embedding = layout === 'flat' ? floatLists(halves, tokens.map((t) => t * dim)) : tokenLists(halves, dim, tokens, layout === 'fixed');
      writeArrowParquet(join(tmp.dir, key), { doc_id: vectorOf(new arrow.Int64(), Array.from({ length: docs }, (_, i) => BigInt(i))), embedding }, o);
      const leaf = footer(join(tmp.dir, key)).schema.at(-1)!;
      assert.deepEqual([leaf.type, leaf.type_length, leaf.logical_type?.type], ['FIXED_LEN_BYTE_ARRAY', 2, 'FLOAT16']);
      const used = encodings(join(tmp.dir, key));
      assert.equal(used.has('RLE_DICTIONARY'), encoding === 'RLE_DICTIONARY', [...used].join());
      const data = await readShard(store, key, { columns: { id: 'doc_id', embeddings: 'embedding' }, ...(layout === 'flat' ? { dim } : {}) });
      assert.ok(data.rowGroups >= 2);
      assert.equal(data.dim, dim);
      assert.deepEqual(Array.from(data.counts), Array.from({ length: docs }, (_, i) => tokens[i + 1]! - tokens[i]!));
      assertWidened(data.vectors, halves, key);
      const v = await validateShard(store, key, { columns: { id: 'doc_id', embeddings: 'embedding' }, dim });
      assert.deepEqual([v.ok, v.dtype, v.dtypeFrom], [true, 'float16', 'schema']);
    });
  }

  it('names the row and field of a NaN or infinite half, as for float32', async () => {
    const bits = new Uint16Array(8 * 6).fill(0x3c00); // 1.0
    bits[8 * 3 + 5] = 0x7e00; // NaN: row 3 (one token each), component 5
    bits[8 * 4 + 1] = 0xfc00; // -Infinity
    writeArrowParquet(join(tmp.dir, 'half/nan.parquet'), { doc_id: vectorOf(new arrow.Utf8(), ['a', 'b', 'c', 'd', 'e', 'f']), embedding: tokenLists(bits, 8, Int32Array.from([0, 1, 2, 3, 4, 5, 6]), false) }, { rowGroupSize: 2 });
    const columns = { id: 'doc_id', embeddings: 'embedding' };
    const e = await failure('half/nan.parquet', { columns });
    assert.equal(e.row, 3);
    assert.equal(e.field, 'embedding');
    assert.match(e.message, /row 3, field `embedding`: token 0, component 5: value NaN is not a finite number$/);
    const v = await validateShard(store, 'half/nan.parquet', { columns });
    assert.deepEqual(v.problems.map((p) => p.message), ['row 3, field `embedding`: token 0, component 5: value NaN is not a finite number', 'row 4, field `embedding`: token 0, component 1: value -Infinity is not a finite number']);
  });
});

describe('float16 blobs written by DuckDB', () => {
  const halves = finiteHalves();
  const dim = 32;
  const tokens = tokenOffsets(halves.length / dim);
  const rows = Array.from({ length: tokens.length - 1 }, (_, i) => {
    const h = halves.subarray(tokens[i]! * dim, tokens[i + 1]! * dim);
    return { id: `doc-${i}`, values: new Uint8Array(h.buffer, h.byteOffset, h.byteLength), nTokens: tokens[i + 1]! - tokens[i]! };
  });

  it('reads every finite half exactly when the footer declares float16, or the option does', async () => {
    await writeBlobFixture(join(tmp.dir, 'half/declared.parquet'), rows, { kv: { [DTYPE_KEY]: 'float16' } });
    await writeBlobFixture(join(tmp.dir, 'half/undeclared.parquet'), rows);
    const declared = await readShard(store, 'half/declared.parquet');
    assert.equal(declared.dim, dim);
    assert.deepEqual(Array.from(declared.counts), rows.map((r) => r.nTokens));
    assertWidened(declared.vectors, halves, 'declared');
    const given = await readShard(store, 'half/undeclared.parquet', { embeddingsDtype: 'float16' });
    assertWidened(given.vectors, halves, 'option');
    // the footer and the option agreeing is fine
    assertWidened((await readShard(store, 'half/declared.parquet', { embeddingsDtype: 'float16' })).vectors, halves, 'both');
    assert.deepEqual(
      await Promise.all(['declared', 'undeclared'].map(async (k) => (({ dtype, dtypeFrom }) => [dtype, dtypeFrom])(await validateShard(store, `half/${k}.parquet`)))),
      [['float16', 'footer'], ['float32', 'default']],
    );
  });

  it('without a declaration reads float32 (as before), and says so when the lengths do not fit', async () => {
    // six halves read as float32 are three floats: not 2 tokens of any dim, but as halves they would be
    const odd = [{ id: 'a', values: encodeHalves([1, 2, 3, 4, 5, 6]), nTokens: 2 }];
    await writeBlobFixture(join(tmp.dir, 'half/odd.parquet'), odd);
    let e = await failure('half/odd.parquet');
    assert.equal(e.row, 0);
    assert.equal(e.field, 'embeddings');
    assert.match(e.message, /row 0, field `embeddings`: 3 float32 values do not make 2 tokens of one dim \(float32 assumed: no lemur\.embeddings\.dtype in the footer and no --embeddings-dtype\); as float16 it would fit$/);
    // n_tokens and dim known (given), the blob fits neither float32 nor float16
    const short = [{ id: 'a', values: encodeHalves([1, 2, 3, 4, 5, 6, 7, 8]), nTokens: 1 }, { id: 'b', values: encodeHalves([1, 2, 3, 4, 5]), nTokens: 1 }];
    await writeBlobFixture(join(tmp.dir, 'half/short.parquet'), short, { kv: { [DTYPE_KEY]: 'float16' } });
    e = await failure('half/short.parquet', { dim: 8 });
    assert.equal(e.row, 1);
    assert.equal(e.field, 'embeddings');
    assert.match(e.message, /row 1, field `embeddings`: 10 bytes are 5 float16 values, not 1 tokens × dim 8 = 8 \(float16 as the footer's lemur\.embeddings\.dtype says\)$/);
    // the same halves with the option and an odd byte count
    await writeBlobFixture(join(tmp.dir, 'half/odd-bytes.parquet'), [{ id: 'a', values: new Uint8Array(7), nTokens: 1 }]);
    e = await failure('half/odd-bytes.parquet', { embeddingsDtype: 'float16' });
    assert.match(e.message, /row 0, field `embeddings`: 7 bytes is not a non-empty whole number of float16 values \(float16 as --embeddings-dtype says\)$/);
    // float32 blobs declared as float16: the count is blamed when the halves make whole tokens, with the hint
    const f32 = [{ id: 'a', values: Float32Array.from([1, 2, 3, 4]), nTokens: 1 }];
    await writeBlobFixture(join(tmp.dir, 'half/f32.parquet'), f32);
    e = await failure('half/f32.parquet', { embeddingsDtype: 'float16', dim: 4 });
    assert.equal(e.field, 'n_tokens');
    assert.match(e.message, /row 0, field `n_tokens`: says 1 tokens, the embeddings hold 2 \(float16 as --embeddings-dtype says\); as float32 it would fit$/);
  });

  it('names the row and field of a NaN half in a blob', async () => {
    const bad = rows.slice(0, 40).map((r) => ({ ...r, values: r.values.slice() }));
    new Uint16Array(bad[37]!.values.buffer)[dim + 3] = 0x7c01; // a signalling NaN: row 37, token 1, component 3
    await writeBlobFixture(join(tmp.dir, 'half/nan-blob.parquet'), bad, { kv: { [DTYPE_KEY]: 'float16' } });
    const e = await failure('half/nan-blob.parquet');
    assert.equal(e.row, 37);
    assert.equal(e.field, 'embeddings');
    assert.match(e.message, /row 37, field `embeddings`: token 1, component 3: value NaN is not a finite number$/);
  });

  it('refuses a footer that declares something else, or that disagrees with the option', async () => {
    await writeBlobFixture(join(tmp.dir, 'half/bf16.parquet'), rows.slice(0, 3), { kv: { [DTYPE_KEY]: 'bfloat16' } });
    let e = await failure('half/bf16.parquet');
    assert.equal(e.field, 'embeddings');
    assert.match(e.message, /: the footer's lemur\.embeddings\.dtype is 'bfloat16', expected float32 or float16$/);
    e = await failure('half/declared.parquet', { embeddingsDtype: 'float32' });
    assert.match(e.message, /: the footer's lemur\.embeddings\.dtype says float16, --embeddings-dtype says float32: drop the option or fix the file$/);
    await assert.rejects(readShard(store, 'half/declared.parquet', { embeddingsDtype: 'bf16' as never }), InvalidArgumentError);
  });
});

describe('writeCorpusParquet with float16 blobs', () => {
  it('writes half-size sources that declare float16 and read back as the halves of the corpus', async () => {
    const corpus = generateCorpus({ docs: 60, queries: 1, dim: 24, seed: 3, minTokens: 2, maxTokens: 9 });
    const [k32] = await writeCorpusParquet(store, 'written/', corpus, 1, { stem: 'f32' });
    const [k16] = await writeCorpusParquet(store, 'written/', corpus, 1, { stem: 'f16', dtype: 'float16', rowGroupSize: 16 });
    const kv = (k: string): unknown => footer(join(tmp.dir, k!)).key_value_metadata?.find((e) => e.key === DTYPE_KEY)?.value;
    assert.deepEqual([kv(k32!), kv(k16!)], ['float32', 'float16']);
    const d16 = await readShard(store, k16!);
    assert.equal(d16.rowGroups, 4);
    assert.deepEqual(Array.from(d16.counts), Array.from(corpus.docCounts));
    assert.deepEqual(Array.from(d16.vectors), Array.from(corpus.docVectors, (x) => halfToFloat(floatToHalf(x))));
    assert.deepEqual((await readShard(store, k32!)).vectors, corpus.docVectors);
  });
});
