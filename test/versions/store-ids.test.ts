/** Ids read by ranged reads equal the token store's own, for every id kind and dtype; damage is named. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { CorruptFileError } from '../../src/errors.js';
import { readStoreIds } from '../../src/versions/store-ids.js';
import { TokenStore } from '../../src/native/token-store.js';
import { LocalStore } from '../../src/store/local-store.js';
import { randomItems } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const store = new LocalStore(tmp.dir);

describe('readStoreIds', () => {
  for (const [dtype, idKind, dim] of [['float32', 'int64', 7], ['float16', 'string', 16], ['float32', 'string', 3]] as const) {
    it(`reads ${idKind} ids of a ${dtype} store (dim ${dim}) without opening it`, async () => {
      const d = randomItems(new Random(dim), 37, dim, 1, 9);
      const ids = idKind === 'int64' ? BigInt64Array.from({ length: 37 }, (_, i) => BigInt(i * 1000 - 5)) : Array.from({ length: 37 }, (_, i) => `dóc-${i}-${'x'.repeat(i % 5)}`);
      const key = `${dtype}-${idKind}.lts`;
      await TokenStore.write(join(tmp.dir, key), { vectors: d.vectors, counts: d.counts, dim, ids, dtype });
      const ts = await TokenStore.open(join(tmp.dir, key));
      try {
        assert.deepEqual(await readStoreIds(store, key), Array.from(await ts.ids(), String));
      } finally {
        ts.close();
      }
    });
  }

  it('names a damaged header or a file that is not a token store', async () => {
    const raw = readFileSync(join(tmp.dir, 'float32-int64.lts'));
    raw[30] = raw[30]! ^ 1; // n_tokens changed, header checksum no longer matches
    writeFileSync(join(tmp.dir, 'damaged.lts'), raw);
    await assert.rejects(readStoreIds(store, 'damaged.lts'), (e: Error) => e instanceof CorruptFileError && /damaged\.lts: header checksum mismatch/.test(e.message));
    writeFileSync(join(tmp.dir, 'other.lts'), Buffer.alloc(128, 7));
    await assert.rejects(readStoreIds(store, 'other.lts'), /bad magic/);
  });
});
