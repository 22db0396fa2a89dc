/**
 * LocalStore: a folder as the object store (the embedded default, `./.lemur`). Keys map to
 * files below the root and can never leave it; writes go to a temporary file in the same
 * folder, are fsynced, then renamed over the target (atomic on POSIX).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { StoreError } from '../errors.js';
import { checkKey, type ObjectInfo, type ObjectStore } from './object-store.js';

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

export class LocalStore implements ObjectStore {
  readonly root: string;
  readonly url: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.url = `file://${this.root}`;
  }

  #path(key: string): string {
    const p = resolve(this.root, checkKey(key));
    // belt and braces beyond checkKey: the resolved path must stay below the root
    if (p !== this.root && !p.startsWith(this.root + sep)) throw new StoreError(`${this.url}: key '${key}' leaves the store root`, key);
    return p;
  }

  async put(key: string, body: Uint8Array | Readable): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      if (body instanceof Uint8Array) {
        const fh = await open(tmp, 'w');
        try {
          await fh.writeFile(body);
          await fh.sync();
        } finally {
          await fh.close();
        }
      } else {
        await pipeline(body, createWriteStream(tmp));
        const fh = await open(tmp, 'r');
        await fh.sync();
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StoreError(`${this.url}: writing '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
    }
  }

  /**
   * Compare-and-swap under a lock file (created with O_EXCL, so one process at a time); a lock
   * older than 30 s is taken to be left by a crashed writer and broken.
   */
  async swap(key: string, expected: Uint8Array | undefined, body: Uint8Array): Promise<boolean> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    const lock = `${path}.swap-lock`;
    for (let waited = 0; ; waited += 10) {
      try {
        await (await open(lock, 'wx')).close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StoreError(`${this.url}: locking '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
        const age = await stat(lock).then((st) => Date.now() - st.mtimeMs, () => 0);
        if (age > 30_000) await rm(lock, { force: true });
        else if (waited > 10_000) throw new StoreError(`${this.url}: '${key}' stayed locked by another writer for 10 s (${lock})`, key);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    try {
      const now = await readFile(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      const same = now === undefined ? expected === undefined : expected !== undefined && Buffer.compare(now, expected) === 0;
      if (!same) return false;
      await this.put(key, body);
      return true;
    } finally {
      await rm(lock, { force: true });
    }
  }

  async get(key: string): Promise<Buffer> {
    const path = this.#path(key);
    try {
      return await readFile(path);
    } catch (err) {
      if (isMissing(err)) throw new StoreError(`${this.url}: no object '${key}'`, key, true);
      throw new StoreError(`${this.url}: reading '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    const path = this.#path(key);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) throw new StoreError(`${this.url}: no object '${key}'`, key, true);
      throw new StoreError(`${this.url}: reading '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
    }
    try {
      const size = (await fh.stat()).size;
      const to = Math.min(end, size);
      if (start < 0 || start > to) throw new StoreError(`${this.url}: range [${start}, ${end}) outside '${key}' (${size} bytes)`, key);
      const buf = Buffer.alloc(to - start);
      let at = 0;
      while (at < buf.length) {
        const { bytesRead } = await fh.read(buf, at, buf.length - at, start + at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return buf.subarray(0, at);
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.#path(key);
    try {
      const s = await stat(path);
      if (!s.isFile()) return undefined;
      return { key, size: s.size, etag: `${s.size}-${Math.round(s.mtimeMs * 1000)}` };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw new StoreError(`${this.url}: stat '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) {
          await walk(full);
        } else if (e.isFile() && !/\.tmp-\d+-[0-9a-f]{8}$/.test(e.name) && !e.name.endsWith('.swap-lock')) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) {
            const info = await this.head(key);
            if (info) out.push(info);
          }
        }
      }
    };
    await walk(this.root);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }
}
