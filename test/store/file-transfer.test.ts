/**
 * Files in and out of both object stores as streams (a folder, and S3 on a real s3rver): putFile
 * and getFile of an object larger than the copy buffers (several multipart parts on S3), streamed
 * sha256, reads into typed arrays, and failures midway that leave no partial object or file.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, openSync, readdirSync, readFileSync, closeSync, truncateSync, writeFileSync, writeSync, copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CorruptFileError, StoreError } from '../../src/errors.js';
import { hashObject, readObjectInto, readWeights } from '../../src/store/files.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const MiB = 1024 * 1024;
/** 4 parts of 5 MiB and a short fifth on S3; 21 chunks of the 1 MiB copy buffer. */
const BIG = 21 * MiB + 777;

const tmp = makeTmpDir();
let s3: S3Server;
let s3store: S3Store;
let bigPath: string;
let bigSha: string;

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** A file of random bytes, written a MiB at a time. */
function writeRandomFile(path: string, bytes: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let left = bytes; left > 0; left -= MiB) {
    const chunk = randomBytes(Math.min(MiB, left));
    h.update(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  return h.digest('hex');
}

before(async () => {
  s3 = await startS3();
  // the smallest part S3 allows, two at a time: BIG goes up in five parts
  s3store = new S3Store({ bucket: s3.bucket, prefix: 'files', endpoint: s3.endpoint, forcePathStyle: true, partSize: 5 * MiB, queueSize: 2 });
  bigPath = join(tmp.dir, 'big.bin');
  bigSha = writeRandomFile(bigPath, BIG);
});
after(async () => {
  s3store?.destroy();
  await s3?.stop();
  tmp.cleanup();
});

const stores: [string, () => ObjectStore][] = [
  ['LocalStore', () => new LocalStore(join(tmp.dir, 'store'))],
  ['S3Store (s3rver)', () => s3store],
];

for (const [name, make] of stores) {
  const s3 = name.startsWith('S3');
  describe(`${name} files`, () => {
    it('uploads and downloads a 21 MiB file unchanged, streamed, with progress', async () => {
      const store = make();
      const progress: number[] = [];
      await store.putFile('big/obj.bin', bigPath, { onProgress: (done, total) => {
        assert.equal(total, BIG);
        progress.push(done);
      } });
      assert.ok(existsSync(bigPath), 'the source stays without move');
      assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress only grows');
      assert.equal(progress.at(-1), BIG);
      // S3 reports once per part: five parts went up
      if (s3) assert.equal(progress.length, 5, JSON.stringify(progress));
      const head = await store.head('big/obj.bin');
      assert.equal(head?.size, BIG);

      const dst = join(tmp.dir, `${name}-down`, 'nested', 'obj.bin');
      let last = 0;
      const info = await store.getFile('big/obj.bin', dst, { onProgress: (done) => (last = done) });
      assert.deepEqual(info, head, 'getFile reports the size and etag of what it wrote');
      assert.equal(last, BIG);
      assert.equal(await sha256File(dst), bigSha);
      assert.deepEqual(readdirSync(join(tmp.dir, `${name}-down`, 'nested')), ['obj.bin'], 'no temporary file left');
      assert.deepEqual(await hashObject(store, 'big/obj.bin'), { bytes: BIG, sha256: bigSha });
    });

    it('moves an empty file both ways', async () => {
      const store = make();
      const src = join(tmp.dir, `${name}-empty`);
      writeFileSync(src, '');
      await store.putFile('empty/obj', src);
      assert.equal((await store.head('empty/obj'))?.size, 0);
      const dst = join(tmp.dir, `${name}-empty-down`);
      assert.equal((await store.getFile('empty/obj', dst)).size, 0);
      assert.equal(readFileSync(dst).length, 0);
      assert.deepEqual(await hashObject(store, 'empty/obj'), { bytes: 0, sha256: createHash('sha256').digest('hex') });
    });

    it('replaces the file at the target path whole', async () => {
      const store = make();
      await store.put('small/a', Buffer.from('new content'));
      const dst = join(tmp.dir, `${name}-replace.txt`);
      writeFileSync(dst, 'old content that is longer');
      await store.getFile('small/a', dst);
      assert.equal(readFileSync(dst, 'utf8'), 'new content');
    });

    it('moves a file in with move: the source is gone, the object whole', async () => {
      const store = make();
      const src = join(tmp.dir, `${name}-move.bin`);
      copyFileSync(bigPath, src);
      await store.putFile('moved/obj.bin', src, { move: true });
      assert.equal(existsSync(src), false);
      assert.deepEqual(await hashObject(store, 'moved/obj.bin'), { bytes: BIG, sha256: bigSha });
    });

    it('reports a missing object before any stream or file exists', async () => {
      const store = make();
      const dst = join(tmp.dir, `${name}-missing.bin`);
      await assert.rejects(store.getStream('none/x'), (e: Error) => e instanceof StoreError && e.notFound && e.key === 'none/x');
      await assert.rejects(store.getFile('none/x', dst), (e: Error) => e instanceof StoreError && e.notFound);
      assert.equal(existsSync(dst), false);
      await assert.rejects(store.putFile('none/y', join(tmp.dir, 'no-such-file')), StoreError);
      assert.equal(await store.head('none/y'), undefined);
    });

    it('fails an upload whose file shrinks midway, leaving the old object (or none)', async () => {
      const store = make();
      await store.put('shrink/kept', Buffer.from('the old object'));
      for (const key of ['shrink/kept', 'shrink/new']) {
        const src = join(tmp.dir, `${name}-shrink.bin`);
        copyFileSync(bigPath, src);
        let calls = 0;
        await assert.rejects(
          store.putFile(key, src, { onProgress: () => {
            if (calls++ === 0) truncateSync(src, 1000); // another writer cut the file
          } }),
          (e: Error) => e instanceof StoreError && e.message.includes(`of ${BIG} bytes`),
        );
        assert.ok(calls >= 1);
      }
      assert.equal((await store.get('shrink/kept')).toString(), 'the old object');
      assert.equal(await store.head('shrink/new'), undefined);
      assert.deepEqual((await store.list('shrink/')).map((o) => o.key), ['shrink/kept']);
      if (!s3) assert.deepEqual(readdirSync(join(tmp.dir, 'store', 'shrink')), ['kept'], 'no temporary file left');
    });

    it('reads W rows and fixed-size objects straight into typed arrays', async () => {
      const store = make();
      const W = Float32Array.from({ length: 3 * MiB / 4 + 5 }, (_, i) => i * 0.5 - 7);
      await store.put('arrays/W.f32', new Uint8Array(W.buffer));
      assert.deepEqual(await readWeights(store, 'arrays/W.f32'), W);
      await assert.rejects(readObjectInto(store, 'arrays/W.f32', new Uint8Array(W.byteLength - 4)), CorruptFileError);
      await assert.rejects(readObjectInto(store, 'arrays/W.f32', new Uint8Array(W.byteLength + 4)), CorruptFileError);
      await store.put('arrays/odd.f32', Buffer.from('12345'));
      await assert.rejects(readWeights(store, 'arrays/odd.f32'), CorruptFileError);
      await assert.rejects(readWeights(store, 'arrays/none.f32'), (e: Error) => e instanceof StoreError && e.notFound);
    });
  });
}

describe('LocalStore files', () => {
  it('fails a download whose object shrinks midway, keeping what was at the target', async () => {
    const store = new LocalStore(join(tmp.dir, 'store'));
    await store.putFile('cut/obj.bin', bigPath);
    const dir = join(tmp.dir, 'local-cut');
    const dst = join(dir, 'obj.bin');
    await store.put('cut/small', Buffer.from('new content'));
    await store.getFile('cut/small', dst); // something already there
    let calls = 0;
    await assert.rejects(
      store.getFile('cut/obj.bin', dst, { onProgress: () => {
        if (calls++ === 0) truncateSync(store.localPath('cut/obj.bin'), 10);
      } }),
      (e: Error) => e instanceof StoreError && /ended after/.test(e.message),
    );
    assert.equal(readFileSync(dst, 'utf8'), 'new content');
    assert.deepEqual(readdirSync(dir), ['obj.bin']);
  });
});

describe('S3Store downloads', () => {
  let server: Server;
  let cut: S3Store;
  before(async () => {
    // an S3 endpoint whose GET promises 8 MiB, sends 1 MiB, then drops the connection
    server = createServer((req, res) => {
      const headers = { 'Content-Length': String(8 * MiB), ETag: '"cut"', 'Content-Type': 'application/octet-stream', 'Last-Modified': new Date().toUTCString() };
      if (req.method === 'HEAD') {
        res.writeHead(200, headers).end();
        return;
      }
      res.writeHead(200, headers);
      res.write(Buffer.alloc(MiB, 7), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cut = new S3Store({ bucket: 'b', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, forcePathStyle: true });
  });
  after(async () => {
    cut?.destroy();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('fails a download cut midway, keeping what was at the target and no partial file', async () => {
    const dir = join(tmp.dir, 's3-cut');
    const dst = join(dir, 'obj.bin');
    await s3store.put('small/b', Buffer.from('whole'));
    await s3store.getFile('small/b', dst);
    await assert.rejects(cut.getFile('x/obj.bin', dst), StoreError);
    assert.equal(readFileSync(dst, 'utf8'), 'whole');
    assert.deepEqual(readdirSync(dir), ['obj.bin']);
    // the same cut, read as a stream, fails instead of ending early
    await assert.rejects(hashObject(cut, 'x/obj.bin'), (e: Error) => e instanceof StoreError && e.key === 'x/obj.bin');
    await assert.rejects(readObjectInto(cut, 'x/obj.bin', new Uint8Array(8 * MiB)), StoreError);
  });
});
