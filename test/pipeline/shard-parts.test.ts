/**
 * A file larger than --shard-docs becomes several shards, each a row range of it: planShards
 * splits by the footer's row count, each part loads only its rows (the same documents, ids and
 * vectors as the whole file's load, in order), and a range the file no longer has fails clearly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { CorpusStream } from '../../src/data/corpus-stream.js';
import { TokenStore } from '../../src/native/token-store.js';
import { loadShard } from '../../src/pipeline/load-shard.js';
import { formatSourceRef, parseSourceRef, planShards } from '../../src/parquet/source-ref.js';
import { shardId } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
import { writeStreamSources } from '../../src/data/write-stream-parquet.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
const store = new LocalStore(tmp.dir);
let key: string;

before(() => {
  // 5 000 documents in row groups of 1 000 (one block each), fp16 blobs declared in the footer
  const stream = new CorpusStream({ docs: 5000, dim: 16, seed: 5, blockDocs: 1000 });
  key = writeStreamSources(stream, tmp.dir, 'big/', 5000, 'float16').keys[0]!;
});
after(() => tmp.cleanup());

async function open(sourceKey: string): Promise<TokenStore> {
  const s = await loadShard(store, sourceKey, { dtype: 'float32' });
  return TokenStore.open(store.localPath(s.tokensKey));
}

describe('a file split into row ranges', () => {
  it('plans equal ranges from the footer, and none for a file within the limit or with 0', async () => {
    assert.deepEqual(await planShards(store, [key], 2000), [`${key}#rows=0-1666`, `${key}#rows=1666-3333`, `${key}#rows=3333-5000`]);
    assert.deepEqual(await planShards(store, [key], 5000), [key]);
    assert.deepEqual(await planShards(store, [key], 0), [key]);
    assert.deepEqual(parseSourceRef(`${key}#rows=1666-3333`), { key, rows: { from: 1666, to: 3333 } });
    assert.equal(formatSourceRef({ key }), key);
    assert.throws(() => parseSourceRef(`${key}#rows=9-9`), /empty/);
  });

  it('loads each part as its own shard holding exactly its rows', async () => {
    const whole = await open(key);
    const parts = await planShards(store, [key], 2000);
    assert.equal(new Set(parts.map(shardId)).size, 3, 'a shard id per part');
    const wholeIds = (await whole.ids()) as string[];
    let at = 0;
    for (const ref of parts) {
      const part = await open(ref);
      const ids = (await part.ids()) as string[];
      assert.deepEqual(ids, wholeIds.slice(at, at + part.nDocs));
      for (const p of [0, Math.floor(part.nDocs / 2), part.nDocs - 1]) assert.deepEqual(part.docTokens(p), whole.docTokens(at + p));
      at += part.nDocs;
      part.close();
    }
    assert.equal(at, 5000);
    whole.close();
  });

  it('fails a range past the end of the file, naming both', async () => {
    await assert.rejects(loadShard(store, `${key}#rows=4000-6000`), /rows 4000-5999 asked for, the file has rows 0-4999/);
  });
});
