/**
 * TokenStoreWriter: documents appended in uneven batches give the bytes TokenStore.write gives
 * (fp32 and fp16, int64 and string ids); bad input names its position in the store across
 * batches; a writer aborted, failed or short of documents leaves nothing; lifetime as every
 * native object (ClosedError after finish or abort, ResourceBusyError for overlapping calls).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { ClosedError, InputDataError, InvalidArgumentError, ResourceBusyError } from '../../src/errors.js';
import { TokenStoreWriter } from '../../src/native/token-store-writer.js';
import { TokenStore, type StoreDType } from '../../src/native/token-store.js';
import { offsetsOf, randomItems, sequentialIds } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const dim = 20;
const n = 45;
const docs = randomItems(new Random(11), n, dim, 1, 30);
const off = offsetsOf(docs.counts);
const intIds = sequentialIds(n, -7);
const strIds = Array.from({ length: n }, (_, i) => `doc-${i}${'é'.repeat(i % 5)}`);

/** Documents [from, to) as one append's arguments. */
function batch(from: number, to: number, ids: BigInt64Array | string[]): [Float32Array, Int32Array, BigInt64Array | string[]] {
  return [docs.vectors.subarray(off[from]! * dim, off[to]! * dim), docs.counts.subarray(from, to), ids.slice(from, to)];
}

/** Writes the docs in batches cut at `cuts` and returns the file's bytes. */
async function streamed(name: string, cuts: number[], ids: BigInt64Array | string[], dtype: StoreDType): Promise<Buffer> {
  const path = join(tmp.dir, name);
  const w = await TokenStoreWriter.open(path, { dim, nDocs: n, idKind: ids instanceof BigInt64Array ? 'int64' : 'string', dtype });
  try {
    const bounds = [0, ...cuts, n];
    for (let i = 0; i + 1 < bounds.length; i++) await w.append(...batch(bounds[i]!, bounds[i + 1]!, ids));
    await w.finish();
  } finally {
    w.abort();
  }
  return readFileSync(path);
}

/** Files in the temp folder that are not finished stores (temp files left behind). */
function leftovers(): string[] {
  return readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'));
}

describe('TokenStoreWriter', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    for (const [kind, ids] of [['int64', intIds], ['string', strIds]] as const) {
      it(`gives TokenStore.write's bytes in uneven batches (${dtype}, ${kind} ids)`, async () => {
        const whole = join(tmp.dir, `whole-${dtype}-${kind}.lts`);
        await TokenStore.write(whole, { ...docs, dim, ids, dtype });
        const want = readFileSync(whole);
        assert.ok(want.equals(await streamed(`a-${dtype}-${kind}.lts`, [1, 2, 17, 17, 44], ids, dtype)), 'batches of 1, 1, 15, 0, 27 and 1 documents');
        assert.ok(want.equals(await streamed(`b-${dtype}-${kind}.lts`, [], ids, dtype)), 'one batch');
        const s = await TokenStore.open(join(tmp.dir, `a-${dtype}-${kind}.lts`));
        try {
          assert.deepEqual([s.nDocs, s.nTokens, s.dtype, s.idKind], [n, off[n], dtype, kind]);
        } finally {
          s.close();
        }
      });
    }
  }

  it('names the position in the store of a duplicate id or a NaN in a later batch, and leaves nothing', async () => {
    const ids = intIds.slice();
    ids[30] = ids[3]!;
    const w = await TokenStoreWriter.open(join(tmp.dir, 'dup.lts'), { dim, nDocs: n, idKind: 'int64' });
    await w.append(...batch(0, 20, ids));
    await assert.rejects(w.append(...batch(20, n, ids)), (e: Error) => e instanceof InputDataError && e.row === 30 && e.field === 'ids' && /doc 30: duplicate id -4$/.test(e.message));
    await assert.rejects(w.append(...batch(20, n, ids)), InvalidArgumentError, 'a failed writer takes nothing more');
    w.abort();
    const vectors = docs.vectors.slice();
    vectors[off[25]! * dim + dim + 3] = NaN;
    const v = await TokenStoreWriter.open(join(tmp.dir, 'nan.lts'), { dim, nDocs: n, idKind: 'int64' });
    await v.append(...batch(0, 20, intIds));
    await assert.rejects(
      v.append(vectors.subarray(off[20]! * dim, off[n]! * dim), docs.counts.subarray(20), intIds.slice(20)),
      (e: Error) => e instanceof InputDataError && e.row === 25 && e.field === 'vectors' && /doc 25 \(id 18\), token 1, component 3: value nan is not finite$/.test(e.message),
    );
    v.abort();
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(readdirSync(tmp.dir).filter((f) => f.startsWith('dup') || f.startsWith('nan')), []);
  });

  it('refuses more documents than it was opened for, and a finish short of them', async () => {
    const w = await TokenStoreWriter.open(join(tmp.dir, 'short.lts'), { dim, nDocs: 10, idKind: 'string' });
    await assert.rejects(w.append(...batch(0, 11, strIds)), (e: Error) => e instanceof InvalidArgumentError && /11 more documents would pass the 10 it was opened for \(0 appended\)/.test(e.message));
    await assert.rejects(w.append(...batch(0, 3, intIds)), InvalidArgumentError, 'ids of the other kind');
    await w.append(...batch(0, 9, strIds));
    await assert.rejects(w.finish(), (e: Error) => e instanceof InvalidArgumentError && /9 documents appended, it was opened for 10/.test(e.message));
    w.abort();
    assert.deepEqual(leftovers(), []);
  });

  it('is closed after finish or abort; one call at a time; abort during a call is refused', async () => {
    const w = await TokenStoreWriter.open(join(tmp.dir, 'life.lts'), { dim, nDocs: n, idKind: 'int64' });
    const first = w.append(...batch(0, 20, intIds));
    await assert.rejects(w.append(...batch(20, n, intIds)), ResourceBusyError);
    assert.throws(() => w.abort(), ResourceBusyError);
    await first;
    await w.append(...batch(20, n, intIds));
    await w.finish();
    assert.equal(w.closed, true);
    w.abort(); // idempotent, and the finished file stays
    await assert.rejects(w.append(...batch(0, 1, intIds)), ClosedError);
    await assert.rejects(w.finish(), ClosedError);
    (await TokenStore.open(join(tmp.dir, 'life.lts'))).close();
    await assert.rejects(TokenStoreWriter.open(join(tmp.dir, 'x.lts'), { dim: 0, nDocs: 1, idKind: 'int64' }), InvalidArgumentError);
    await assert.rejects(TokenStoreWriter.open(join(tmp.dir, 'x.lts'), { dim, nDocs: 1, idKind: 'uuid' as never }), InvalidArgumentError);
  });
});
