/**
 * The two pieces of `lemur serve` that decide correctness under concurrency, on their own: the
 * version pool (a swapped-out version closes only once its last lease is released, after its
 * retention; a rollback to a draining version revives it) and the micro-batcher (same-key items
 * share a call in arrival order, other keys never do, one failing item does not fail the items
 * batched with it, the queue bound refuses with a Retry-After).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { InvalidArgumentError } from '../../src/errors.js';
import { setLogLevel } from '../../src/log.js';
import type { OpenedVersion } from '../../src/query/open-version.js';
import { MicroBatcher } from '../../src/serve/micro-batcher.js';
import { NotReadyError, OverloadedError, UnknownVersionError } from '../../src/serve/serve-errors.js';
import { VersionPool } from '../../src/serve/version-pool.js';

setLogLevel('error');

/** Opened versions that only record whether they were closed (the pool never looks inside). */
function opener(): { open: (v: string) => Promise<OpenedVersion>; closed: string[] } {
  const closed: string[] = [];
  return { closed, open: async (v) => ({ version: v, close: () => closed.push(v) }) as unknown as OpenedVersion };
}

describe('VersionPool', () => {
  it('is not ready before a promote; refuses versions it does not hold', async () => {
    const o = opener();
    const pool = new VersionPool(o.open);
    assert.throws(() => pool.acquire(), NotReadyError);
    await pool.load('v1');
    assert.throws(() => pool.acquire(), NotReadyError);
    pool.promote('v1');
    assert.equal(pool.acquire().version, 'v1');
    assert.throws(() => pool.acquire('v2'), (e: unknown) => e instanceof UnknownVersionError && /v2 is not loaded here \(loaded: v1\)/.test(e.message));
    assert.throws(() => pool.promote('v3'), UnknownVersionError);
  });

  it('closes a swapped-out version when its last lease is released, not before', async () => {
    const o = opener();
    const pool = new VersionPool(o.open);
    await pool.load('v1');
    pool.promote('v1');
    const a = pool.acquire();
    const b = pool.acquire();
    await pool.load('v2');
    pool.promote('v2');
    assert.equal(pool.acquire().version, 'v2', 'new requests get the new version at once');
    assert.deepEqual(o.closed, []);
    a.release();
    a.release(); // idempotent
    assert.deepEqual(o.closed, []);
    b.release();
    assert.deepEqual(o.closed, ['v1']);
    assert.deepEqual(pool.loaded(), ['v2']);
  });

  it('keeps a swapped-out version for pinned requests during its retention; a rollback revives it', async () => {
    const o = opener();
    const pool = new VersionPool(o.open, { retainMs: 60_000 });
    await pool.load('v1');
    pool.promote('v1');
    await pool.load('v2');
    pool.promote('v2');
    const pinned = pool.acquire('v1');
    assert.equal(pinned.version, 'v1');
    pinned.release();
    assert.deepEqual(o.closed, [], 'retained although drained');
    pool.promote('v1'); // rollback while v1 is still open: no reload
    assert.deepEqual(pool.loaded(), ['v1', 'v2']);
    await pool.close();
    assert.deepEqual(o.closed.sort(), ['v1', 'v2']);
  });

  it('close() waits for leases in flight', async () => {
    const o = opener();
    const pool = new VersionPool(o.open);
    await pool.load('v1');
    pool.promote('v1');
    const lease = pool.acquire();
    let done = false;
    const closing = pool.close().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(done, false);
    assert.throws(() => pool.acquire(), NotReadyError);
    lease.release();
    await closing;
    assert.deepEqual(o.closed, ['v1']);
  });
});

interface Item {
  key: string;
  size: number;
  value: number;
}

describe('MicroBatcher', () => {
  it('batches same-key items in arrival order, never mixes keys, and answers each its own result', async () => {
    const calls: string[][] = [];
    const b = new MicroBatcher<Item, { doubled: number }>(
      async (items) => {
        calls.push(items.map((i) => `${i.key}:${i.value}`));
        return items.map((i) => ({ doubled: 2 * i.value }));
      },
      { windowMs: 20, maxBatch: 4 },
    );
    const items = [1, 2, 3, 4, 5, 6].map((value) => ({ key: value % 2 ? 'odd' : 'even', size: 1, value }));
    const out = await Promise.all(items.map((i) => b.submit(i)));
    assert.deepEqual(out.map((r) => r.doubled), [2, 4, 6, 8, 10, 12]);
    assert.deepEqual(calls, [['odd:1', 'odd:3', 'odd:5'], ['even:2', 'even:4', 'even:6']]);
    assert.deepEqual(out.map((r) => r.batchQueries), [3, 3, 3, 3, 3, 3]);
  });

  it('caps a batch at maxBatch queries', async () => {
    const sizes: number[] = [];
    const b = new MicroBatcher<Item, object>(async (items) => (sizes.push(items.reduce((a, i) => a + i.size, 0)), items.map(() => ({}))), { windowMs: 10, maxBatch: 5 });
    await Promise.all([3, 2, 2, 4, 1].map((size, value) => b.submit({ key: 'k', size, value })));
    assert.deepEqual(sizes, [5, 2, 5]); // in arrival order: 3+2, then 2 (4 does not fit), then 4+1
  });

  it('runs each item alone when a batch fails for one request’s fault, so only the bad one fails', async () => {
    const b = new MicroBatcher<Item, { v: number }>(
      async (items) => {
        if (items.some((i) => i.value < 0)) throw new InvalidArgumentError(`bad item in a batch of ${items.length}`);
        return items.map((i) => ({ v: i.value }));
      },
      { windowMs: 10 },
    );
    const out = await Promise.allSettled([1, -1, 3].map((value) => b.submit({ key: 'k', size: 1, value })));
    assert.equal(out[0]!.status, 'fulfilled');
    assert.equal(out[2]!.status, 'fulfilled');
    assert.equal(out[1]!.status, 'rejected');
    assert.match(String((out[1] as PromiseRejectedResult).reason), /batch of 1/);
  });

  it('fails the whole batch at once for a failure that is nobody’s request (no re-runs)', async () => {
    let calls = 0;
    const b = new MicroBatcher<Item, object>(
      async () => {
        calls++;
        throw new NotReadyError('the engine is gone');
      },
      { windowMs: 10 },
    );
    const out = await Promise.allSettled([1, 2, 3].map((value) => b.submit({ key: 'k', size: 1, value })));
    assert.ok(out.every((o) => o.status === 'rejected' && o.reason instanceof NotReadyError));
    assert.equal(calls, 1);
  });

  it('refuses beyond its queue bound with a Retry-After, and recovers', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new MicroBatcher<Item, object>(async (items) => (await gate, items.map(() => ({}))), { windowMs: 0, maxBatch: 2, maxQueue: 3 });
    const running = b.submit({ key: 'k', size: 2, value: 0 }); // taken at once: the queue is empty again
    await new Promise((r) => setTimeout(r, 5));
    const queued = [b.submit({ key: 'k', size: 2, value: 1 })];
    assert.equal(b.queued, 2);
    assert.throws(() => b.submit({ key: 'k', size: 2, value: 2 }), (e: unknown) => e instanceof OverloadedError && e.retryAfterSeconds >= 1 && /queue is full/.test(e.message));
    queued.push(b.submit({ key: 'k', size: 1, value: 3 })); // still fits
    release();
    await Promise.all([running, ...queued]);
    assert.equal(b.queued, 0);
    await b.submit({ key: 'k', size: 2, value: 4 });
  });
});
