/**
 * LocalStore: a folder as the object store (the embedded default, `./.lemur`). Keys map to
 * files below the root and can never leave it; writes go to a temporary file in the same
 * folder, are fsynced, then renamed over the target (atomic on POSIX). Files move in and out as
 * streams of COPY_CHUNK_BYTES (or by rename, for putFile with `move`).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { ObjectNotFoundError, StoreError } from '../errors.js';
import { COPY_CHUNK_BYTES, TEMP_NAME, tempPath, writeFileAtomic } from './atomic-file.js';
import { checkKey, type ObjectInfo, type ObjectStore, type PutFileOptions, type TransferOptions } from './object-store.js';

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** size-mtime: changes whenever a write replaces the file (every write is a new file, renamed). */
function etagOf(s: { size: number; mtimeMs: number }): string {
  return `${s.size}-${Math.round(s.mtimeMs * 1000)}`;
}

export class LocalStore implements ObjectStore {
  readonly root: string;
  readonly url: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.url = `file://${this.root}`;
  }

  /** The file that holds `key` (which need not exist). */
  localPath(key: string): string {
    return this.#path(key);
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
    const tmp = tempPath(path);
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

  async putFile(key: string, src: string, options: PutFileOptions = {}): Promise<void> {
    const path = this.#path(key);
    try {
      await mkdir(dirname(path), { recursive: true });
      if (options.move && (await this.#moveInto(src, path, options))) return;
      const fh = await open(src, 'r');
      const size = await fh.stat().then((st) => st.size, async (err: unknown) => {
        await fh.close();
        throw err;
      });
      // the read stream owns (and closes) the handle
      await writeFileAtomic(fh.createReadStream({ highWaterMark: COPY_CHUNK_BYTES }), path, { expectedBytes: size, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
      if (options.move) await rm(src, { force: true });
    } catch (err) {
      throw new StoreError(`${this.url}: writing '${key}' from ${src} failed: ${(err as Error).message}`, key, false, { cause: err });
    }
  }

  /** Renames `src` over `path` after an fsync; false when they are on different filesystems. */
  async #moveInto(src: string, path: string, options: TransferOptions): Promise<boolean> {
    const fh = await open(src, 'r');
    let size: number;
    try {
      size = (await fh.stat()).size;
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(src, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EXDEV') return false;
      throw err;
    }
    options.onProgress?.(size, size);
    return true;
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
      if (isMissing(err)) throw new ObjectNotFoundError(this.url, key);
      throw new StoreError(`${this.url}: reading '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
    }
  }

  /** Opens the object's current file (a later write renames a new file in; this one stays whole). */
  async #open(key: string): Promise<FileHandle> {
    try {
      return await open(this.#path(key), 'r');
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(this.url, key);
      throw new StoreError(`${this.url}: reading '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
    }
  }

  async getStream(key: string): Promise<Readable> {
    const fh = await this.#open(key);
    return fh.createReadStream({ highWaterMark: COPY_CHUNK_BYTES });
  }

  async getFile(key: string, path: string, options: TransferOptions = {}): Promise<ObjectInfo> {
    const fh = await this.#open(key);
    let info: ObjectInfo;
    try {
      const s = await fh.stat();
      info = { key, size: s.size, etag: etagOf(s) };
    } catch (err) {
      await fh.close();
      throw new StoreError(`${this.url}: stat '${key}' failed: ${(err as Error).message}`, key, false, { cause: err });
    }
    try {
      await writeFileAtomic(fh.createReadStream({ highWaterMark: COPY_CHUNK_BYTES }), path, { expectedBytes: info.size, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    } catch (err) {
      throw new StoreError(`${this.url}: downloading '${key}' to ${path} failed: ${(err as Error).message}`, key, false, { cause: err });
    }
    return info;
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    const fh = await this.#open(key);
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
      return { key, size: s.size, etag: etagOf(s) };
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
        } else if (e.isFile() && !TEMP_NAME.test(e.name) && !e.name.endsWith('.swap-lock')) {
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
