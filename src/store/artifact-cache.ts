/**
 * A bounded folder of local copies of store objects (S3 artifacts that native code reads by
 * path: token stores, models, indexes), shared by every process of one machine. Not for a
 * LocalStore, whose files are used in place (src/store/local-copy.ts).
 *
 * Layout under `dir`:
 *   objects/<id>-<name>                 one copy per object content: id hashes store URL, key,
 *                                       size and etag (artifacts are immutable, so two versions
 *                                       that share a shard share its copy)
 *   held/<id>-<name>.<host>-<pid>-<n>   a hard link per holder, removed by release()
 *   downloads/<id>-<name>.<host>-<pid>-<r>   downloads in flight
 *
 * Why hard links: a holder's path is its own link to the copy's inode, so nothing another
 * process does to objects/ can take the file from under an open token store or index, and the
 * link count says, across processes, whether a copy is in use (more than one link). Trimming
 * removes the least recently used copies with no holder until the folder fits `maxBytes`; a copy
 * comes into place by link(2) (atomic, never over another's), and every removal tolerates a file
 * another process removed first. Links of processes that died (this host, pid gone) are reaped.
 * The folder must be on a filesystem with hard links (any local POSIX one).
 */
import { createHash, randomBytes } from 'node:crypto';
import { unlinkSync, utimesSync } from 'node:fs';
import { link, lstat, mkdir, readdir, rm, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';

import { ObjectNotFoundError, StoreError } from '../errors.js';
import { log } from '../log.js';
import type { ObjectInfo, ObjectStore, TransferOptions } from './object-store.js';

/** A local file holding an object's bytes, usable until release() (idempotent). */
export interface LocalCopy {
  path: string;
  /** Lets the copy go (the cache may then remove it; no-op for a LocalStore's own file). */
  release: () => void;
}

export interface ArtifactCacheOptions {
  /** The cache folder (created when missing). */
  dir: string;
  /** Size the folder is trimmed to before each download; copies in use are never removed. */
  maxBytes: number;
}

export interface CacheUsage {
  /** Bytes of every file in the folder (copies, held copies whose entry is gone, downloads). */
  bytes: number;
  /** Copies in objects/. */
  entries: number;
  /** Copies with at least one holder, and their bytes. */
  held: number;
  heldBytes: number;
}

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
/** Owner suffix of held links and downloads (a getFile temporary name may follow it). */
const OWNED = /\.([0-9a-f]{8})-(\d+)-[0-9a-f]+(?:\.tmp-\d+-[0-9a-f]{8})?$/;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The copy's file name: content identity, then the key's base name for people reading the folder. */
function entryName(url: string, info: ObjectInfo): string {
  const id = createHash('sha256').update(`${url}\n${info.key}\n${info.size}\n${info.etag}`).digest('hex').slice(0, 32);
  return `${id}-${basename(info.key).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}`;
}

export class ArtifactCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #objects: string;
  readonly #held: string;
  readonly #downloads: string;
  /** Downloads this process has in flight, by entry name (two callers of one key share one). */
  readonly #inFlight = new Map<string, Promise<string>>();
  #seq = 0;

  constructor(o: ArtifactCacheOptions) {
    this.dir = o.dir;
    this.maxBytes = o.maxBytes;
    this.#objects = join(o.dir, 'objects');
    this.#held = join(o.dir, 'held');
    this.#downloads = join(o.dir, 'downloads');
  }

  /**
   * A local copy of `key`: the cached one when the object (same size and etag) was copied
   * before, by this process or another, else a download. Hold it while the file is open.
   * @throws StoreError (NOT_FOUND when the object is missing)
   */
  async acquire(store: ObjectStore, key: string, options: TransferOptions = {}): Promise<LocalCopy> {
    const info = await store.head(key);
    if (!info) throw new ObjectNotFoundError(store.url, key);
    await this.#makeDirs();
    let name = entryName(store.url, info);
    // a copy trimmed by another process before this one held it is downloaded again
    for (let attempt = 0; attempt < 3; attempt++) {
      const held = await this.#hold(join(this.#objects, name), name);
      if (held) return held;
      const pending = this.#inFlight.get(name);
      if (pending) {
        name = await pending; // another caller in this process is downloading it
        continue;
      }
      const fetching = this.#fetch(store, info, name, options);
      const named = fetching.then((r) => r.name);
      named.catch(() => undefined); // its waiters see the failure; nobody else needs to
      this.#inFlight.set(name, named);
      try {
        return (await fetching).copy;
      } finally {
        this.#inFlight.delete(name);
      }
    }
    throw new StoreError(`${store.url}: the cached copy of '${key}' in ${this.dir} kept disappearing (LEMUR_CACHE_BYTES too small for the copies in use?)`, key);
  }

  async #makeDirs(): Promise<void> {
    try {
      for (const d of [this.#objects, this.#held, this.#downloads]) await mkdir(d, { recursive: true });
    } catch (err) {
      throw new StoreError(`cache folder ${this.dir} (LEMUR_CACHE_DIR): ${(err as Error).message}`, this.dir, false, { cause: err });
    }
  }

  /** A holder's own link to `source` (a copy of entry `name`), or undefined when `source` is gone. */
  async #hold(source: string, name: string): Promise<LocalCopy | undefined> {
    const path = join(this.#held, `${name}.${HOST}-${process.pid}-${(this.#seq++).toString(16)}`);
    try {
      await link(source, path);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw new StoreError(`cache folder ${this.dir}: linking ${source} failed (the folder needs a filesystem with hard links): ${(err as Error).message}`, name, false, { cause: err });
    }
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined); // last use (one inode: the entry's too), for trimming
    let held = true;
    return {
      path,
      release: () => {
        if (!held) return;
        held = false;
        try {
          const t = new Date();
          utimesSync(path, t, t);
          unlinkSync(path);
        } catch {
          // removed already (the folder was cleared): nothing left to release
        }
      },
    };
  }

  /**
   * Downloads the object, holds the download for the caller, then puts it in place as an entry
   * (held before it is visible, so no trim can take it in between).
   */
  async #fetch(store: ObjectStore, info: ObjectInfo, name: string, options: TransferOptions): Promise<{ name: string; copy: LocalCopy }> {
    const usage = await this.trim(info.size);
    if (usage.bytes + info.size > this.maxBytes) {
      log.warn('artifact cache over its limit: the copies in use need more', { dir: this.dir, maxBytes: this.maxBytes, bytes: usage.bytes, heldBytes: usage.heldBytes, downloading: info.key, size: info.size });
    }
    const tmp = join(this.#downloads, `${name}.${HOST}-${process.pid}-${randomBytes(4).toString('hex')}`);
    const t0 = performance.now();
    try {
      const got = await store.getFile(info.key, tmp, options);
      // named by what was downloaded, should the object have changed since head()
      const final = got.size === info.size && got.etag === info.etag ? name : entryName(store.url, got);
      const copy = await this.#hold(tmp, final);
      if (!copy) throw new StoreError(`cache folder ${this.dir}: the download ${tmp} disappeared (removed by another process?)`, info.key);
      try {
        await link(tmp, join(this.#objects, final));
      } catch (err) {
        // EEXIST: another process put the same copy in place first; ours stays held until released
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          copy.release();
          throw err;
        }
      }
      log.debug('artifact cached', { key: info.key, bytes: got.size, seconds: (performance.now() - t0) / 1000 });
      return { name: final, copy };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * Removes the least recently used copies that nobody holds until the folder plus `reserve`
   * bytes fits maxBytes (or nothing unheld is left), and the links and downloads of processes of
   * this host that are gone. Returns what the folder holds afterwards.
   */
  async trim(reserve = 0): Promise<CacheUsage> {
    const seen = new Set<string>();
    let bytes = 0;
    const count = (s: { dev: number; ino: number; size: number }): boolean => {
      const id = `${s.dev}:${s.ino}`;
      if (seen.has(id)) return false;
      seen.add(id);
      bytes += s.size;
      return true;
    };
    const entries: { path: string; size: number; lastUse: number }[] = [];
    let held = 0;
    let heldBytes = 0;
    // stale links first: a copy held only by a dead process is free this pass
    for (const d of [this.#held, this.#downloads]) {
      for (const name of await readdir(d).catch(() => [] as string[])) {
        const path = join(d, name);
        const m = OWNED.exec(name);
        if (m && m[1] === HOST && !processAlive(Number(m[2]))) {
          await rm(path, { force: true });
          continue;
        }
        const s = await lstat(path).catch(() => undefined);
        if (s?.isFile()) count(s);
      }
    }
    for (const name of await readdir(this.#objects).catch(() => [] as string[])) {
      const path = join(this.#objects, name);
      const s = await lstat(path).catch(() => undefined);
      if (!s?.isFile()) continue;
      count(s);
      if (s.nlink > 1) {
        held++;
        heldBytes += s.size;
      } else {
        entries.push({ path, size: s.size, lastUse: s.mtimeMs });
      }
    }
    entries.sort((a, b) => a.lastUse - b.lastUse);
    let removed = 0;
    for (const e of entries) {
      if (bytes + reserve <= this.maxBytes) break;
      // gone already (another process trimmed it): its bytes are freed all the same
      await rm(e.path, { force: true });
      bytes -= e.size;
      removed++;
    }
    if (removed) log.debug('artifact cache trimmed', { dir: this.dir, removed, bytes, maxBytes: this.maxBytes });
    return { bytes, entries: entries.length - removed + held, held, heldBytes };
  }
}
