/**
 * The artifact cache over a real s3rver: a copy is reused (by this process, another one, and
 * every version naming the same key), the folder is trimmed to its limit least recently used
 * first, a held copy is never removed (also by another process trimming the same folder), a
 * changed object gets a new copy, and a dead process's holds are reaped. A LocalStore's files
 * are used in place.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { StoreError } from '../../src/errors.js';
import { ArtifactCache, type LocalCopy } from '../../src/store/artifact-cache.js';
import { localCopy } from '../../src/store/local-copy.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const tmp = makeTmpDir();
let s3: S3Server;
let s3store: S3Store;
const content = new Map<string, Buffer>();

before(async () => {
  s3 = await startS3();
  s3store = new S3Store({ bucket: s3.bucket, prefix: 'cache', endpoint: s3.endpoint, forcePathStyle: true });
  for (const k of ['a', 'b', 'c', 'd']) {
    const body = randomBytes(MiB);
    content.set(k, body);
    await s3store.put(`shards/${k}/t/tokens.lts`, body);
  }
});
after(async () => {
  s3store?.destroy();
  await s3?.stop();
  tmp.cleanup();
});

const key = (k: string): string => `shards/${k}/t/tokens.lts`;

/** The store, counting the downloads made through it. */
function counting(store: S3Store): { store: ObjectStore; downloads: string[] } {
  const downloads: string[] = [];
  const proxy = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'getFile') return (k: string, ...rest: unknown[]) => (downloads.push(k), (v as (...a: unknown[]) => unknown).call(target, k, ...rest));
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: proxy, downloads };
}

let n = 0;
function freshCache(maxBytes: number): ArtifactCache {
  return new ArtifactCache({ dir: join(tmp.dir, `cache-${n++}`), maxBytes });
}

const entries = (c: ArtifactCache): string[] => readdirSync(join(c.dir, 'objects')).map((f) => f.replace(/^[0-9a-f]{32}-/, '')).sort();
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 15));

describe('ArtifactCache', () => {
  it('downloads an object once and hands every holder the same bytes (one copy, one download)', async () => {
    const cache = freshCache(100 * MiB);
    const { store, downloads } = counting(s3store);
    // two versions naming the same shard, opened at once and one after the other
    const [v1, v2] = await Promise.all([cache.acquire(store, key('a')), cache.acquire(store, key('a'))]);
    const v3 = await localCopy(store, key('a'), { cache });
    assert.deepEqual(downloads, [key('a')]);
    assert.deepEqual(readFileSync(v1!.path), content.get('a'));
    const ino = statSync(v1!.path).ino;
    assert.ok([v2!, v3].every((c) => c.path !== v1!.path && statSync(c.path).ino === ino), 'each holder has its own link to one copy');
    assert.equal(readdirSync(join(cache.dir, 'objects')).length, 1);
    for (const c of [v1!, v2!, v3]) c.release();
    v1!.release(); // idempotent
    assert.deepEqual(readdirSync(join(cache.dir, 'held')), []);
    // released copies stay for the next reader
    const again = await cache.acquire(store, key('a'));
    assert.equal(statSync(again.path).ino, ino);
    assert.equal(downloads.length, 1);
    again.release();
  });

  it('trims to its limit, least recently used first, and keeps the copy it is downloading', async () => {
    const cache = freshCache(2.5 * MiB);
    const { store, downloads } = counting(s3store);
    for (const k of ['a', 'b']) {
      (await cache.acquire(store, key(k))).release();
      await tick();
    }
    (await cache.acquire(store, key('a'))).release(); // a used again: b is now the oldest
    await tick();
    (await cache.acquire(store, key('c'))).release();
    assert.deepEqual(entries(cache), ['tokens.lts', 'tokens.lts']);
    assert.equal(existsSync(join(cache.dir, 'objects')), true);
    assert.ok((await cache.trim()).bytes <= 2.5 * MiB);
    const before = downloads.length;
    (await cache.acquire(store, key('a'))).release();
    assert.equal(downloads.length, before, 'a survived the trim');
    (await cache.acquire(store, key('b'))).release();
    assert.equal(downloads.length, before + 1, 'b was trimmed');
  });

  it('never removes a held copy, over its limit if it must', async () => {
    const cache = freshCache(1 * MiB);
    const { store } = counting(s3store);
    const held: LocalCopy[] = [];
    for (const k of ['a', 'b', 'c']) held.push(await cache.acquire(store, key(k)));
    const usage = await cache.trim();
    assert.equal(usage.held, 3);
    assert.equal(usage.bytes, 3 * MiB, 'over the limit: every copy is in use');
    held.forEach((c, i) => assert.deepEqual(readFileSync(c.path), content.get('abc'[i]!)));
    held[0]!.release();
    assert.equal((await cache.trim()).entries, 2, 'the released copy goes first');
    for (const c of held) c.release();
    assert.deepEqual(await cache.trim(), { bytes: MiB, entries: 1, held: 0, heldBytes: 0 }, 'released: down to the limit');
  });

  it('keeps what this process holds when another process trims the folder to nothing', async () => {
    const cache = freshCache(100 * MiB);
    const held = await cache.acquire(s3store, key('a'));
    (await cache.acquire(s3store, key('b'))).release();
    const module = fileURLToPath(new URL('../../src/store/artifact-cache.js', import.meta.url));
    const script = `const { ArtifactCache } = await import(${JSON.stringify(module)}); const u = await new ArtifactCache({ dir: ${JSON.stringify(cache.dir)}, maxBytes: 0 }).trim(); console.log(JSON.stringify(u));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    assert.deepEqual(JSON.parse(stdout), { bytes: MiB, entries: 1, held: 1, heldBytes: MiB });
    assert.deepEqual(readFileSync(held.path), content.get('a'));
    held.release();
  });

  it('reaps the holds of a process that died without releasing', async () => {
    const cache = freshCache(100 * MiB);
    const module = fileURLToPath(new URL('../../src/store/artifact-cache.js', import.meta.url));
    const s3mod = fileURLToPath(new URL('../../src/store/s3-store.js', import.meta.url));
    const script = [
      `const { ArtifactCache } = await import(${JSON.stringify(module)});`,
      `const { S3Store } = await import(${JSON.stringify(s3mod)});`,
      `const store = new S3Store({ bucket: ${JSON.stringify(s3.bucket)}, prefix: 'cache', endpoint: ${JSON.stringify(s3.endpoint)}, forcePathStyle: true });`,
      `await new ArtifactCache({ dir: ${JSON.stringify(cache.dir)}, maxBytes: ${100 * MiB} }).acquire(store, ${JSON.stringify(key('d'))});`,
      'process.exit(0);', // no release
    ].join('\n');
    await run(process.execPath, ['--input-type=module', '-e', script], { env: process.env });
    assert.equal(readdirSync(join(cache.dir, 'held')).length, 1, 'the dead process left its hold');
    // this process reuses the copy the other one downloaded
    const { store, downloads } = counting(s3store);
    const c = await cache.acquire(store, key('d'));
    assert.deepEqual(downloads, []);
    c.release();
    const usage = await new ArtifactCache({ dir: cache.dir, maxBytes: 0 }).trim();
    assert.deepEqual(usage, { bytes: 0, entries: 0, held: 0, heldBytes: 0 });
    assert.deepEqual(readdirSync(join(cache.dir, 'held')), []);
  });

  it('copies a changed object anew, leaving the old copy to its holder', async () => {
    const cache = freshCache(100 * MiB);
    await s3store.put('changing/model.lemur', Buffer.from('first'));
    const old = await cache.acquire(s3store, 'changing/model.lemur');
    await s3store.put('changing/model.lemur', Buffer.from('second'));
    const now = await cache.acquire(s3store, 'changing/model.lemur');
    assert.equal(readFileSync(old.path, 'utf8'), 'first');
    assert.equal(readFileSync(now.path, 'utf8'), 'second');
    old.release();
    now.release();
  });

  it('leaves nothing behind for a missing object or a download that fails midway', async () => {
    const cache = freshCache(100 * MiB);
    await assert.rejects(cache.acquire(s3store, 'none/tokens.lts'), (e: Error) => e instanceof StoreError && e.notFound);
    let calls = 0;
    await assert.rejects(
      cache.acquire(s3store, key('c'), { onProgress: () => {
        if (++calls === 2) throw new Error('consumer gave up');
      } }),
      /consumer gave up/,
    );
    assert.equal(calls, 2);
    for (const d of ['objects', 'held', 'downloads']) assert.deepEqual(existsSync(join(cache.dir, d)) ? readdirSync(join(cache.dir, d)) : [], [], d);
  });
});

describe('localCopy', () => {
  it('uses a LocalStore file in place, copying nothing', async () => {
    const store = new LocalStore(join(tmp.dir, 'local'));
    await store.put('shards/a/t/tokens.lts', Buffer.from('tokens'));
    const cache = freshCache(100 * MiB);
    const c = await localCopy(store, 'shards/a/t/tokens.lts', { cache });
    assert.equal(c.path, store.localPath('shards/a/t/tokens.lts'));
    c.release();
    assert.equal(existsSync(cache.dir), false);
    await assert.rejects(localCopy(store, 'shards/none', { cache }), (e: Error) => e instanceof StoreError && e.notFound);
  });
});
