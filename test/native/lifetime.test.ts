/** Explicit lifetime of native objects, and native work staying off the event loop. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { Random } from '../../src/data/random.js';
import { ClosedError, ResourceBusyError } from '../../src/errors.js';
import { maxsimExactTopK, maxsimRerank } from '../../src/native/maxsim.js';
import { TokenStore } from '../../src/native/token-store.js';
import { randomItems, sequentialIds } from '../helpers/data.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);

async function bigStore(name: string, nDocs: number): Promise<{ store: TokenStore; queries: ReturnType<typeof randomItems> }> {
  const rng = new Random(1);
  const docs = randomItems(rng, nDocs, 128, 60, 80);
  const path = join(tmp.dir, name);
  await TokenStore.write(path, { vectors: docs.vectors, counts: docs.counts, dim: 128, ids: sequentialIds(nDocs) });
  return { store: await TokenStore.open(path), queries: randomItems(rng, 64, 128, 32, 32) };
}

describe('TokenStore lifetime', () => {
  it('close() is idempotent and every later call throws ClosedError', async () => {
    const { store, queries } = await bigStore('closed.lts', 10);
    store.close();
    store.close();
    assert.equal(store.closed, true);
    await assert.rejects(store.ids(), ClosedError);
    assert.throws(() => store.docTokens(0), ClosedError);
    await assert.rejects(maxsimExactTopK(queries.vectors, queries.counts, store, 1), ClosedError);
    await assert.rejects(maxsimRerank(queries.vectors, queries.counts, store, new BigInt64Array(64), 1), ClosedError);
  });

  it('close() during a call in flight throws ResourceBusyError; after it settles, close() works', async () => {
    const { store, queries } = await bigStore('busy.lts', 2000);
    const pending = maxsimExactTopK(queries.vectors, queries.counts, store, 5, { threads: 1 });
    assert.throws(() => store.close(), ResourceBusyError);
    const r = await pending;
    assert.equal(r.labels.length, 64 * 5);
    store.close();
    assert.equal(store.closed, true);
  });

  it('runs heavy calls off the event loop: timers keep firing while the kernel works', async () => {
    const { store, queries } = await bigStore('loop.lts', 3000);
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      let settled = false;
      const pending = maxsimExactTopK(queries.vectors, queries.counts, store, 5, { threads: 1 }).then(() => {
        settled = true;
      });
      // wait for ten timer ticks; a blocked loop could not deliver them before the call settles
      while (ticks < 10 && !settled) await new Promise((r) => setTimeout(r, 1));
      const ticksWhileBusy = settled ? -1 : ticks;
      await pending;
      clearInterval(timer);
      assert.ok(ticksWhileBusy >= 10, `the event loop ran ${ticksWhileBusy} timer ticks while the native call was in flight`);
    } finally {
      store.close();
    }
  });
});
