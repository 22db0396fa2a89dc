/**
 * Keeps a VersionPool on the store's `current`: at start, on every announcement over Redis
 * (src/queue/current-channel.ts) and on a poll of the store, it reads `current` and, when it
 * moved, loads that version beside the serving one and promotes it. A rollback is the same move
 * backwards. Syncs never overlap; a version that fails to load is logged and tried again at the
 * next poll while the old one keeps serving.
 */
import { log } from '../log.js';
import { metrics } from '../metrics.js';
import { subscribeCurrent } from '../queue/current-channel.js';
import type { ObjectStore } from '../store/object-store.js';
import { currentVersion } from '../versions/current.js';

/** The part of a VersionPool a follower moves (a search server's, or a router's models). */
export interface FollowedPool {
  readonly current: string | undefined;
  load(version: string): Promise<void>;
  promote(version: string): void;
}

export interface FollowOptions {
  /** Seconds between polls of the store. @defaultValue 2 (30 with Redis announcements) */
  pollSeconds?: number;
  /** Subscribe to announcements of moves on this Redis. */
  redisUrl?: string;
  /** Serve this version only; never follow `current`. */
  pinned?: string;
  /** Called after each version change (tests, the group registry). */
  onChange?: (version: string) => void;
}

export class CurrentFollower {
  readonly #store: ObjectStore;
  readonly #pool: FollowedPool;
  readonly #o: FollowOptions;
  #timer: NodeJS.Timeout | undefined;
  #sub: { close: () => void } | undefined;
  #syncing: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  /** A version that failed to load, not retried before the next poll. */
  #failed: string | undefined;

  constructor(store: ObjectStore, pool: FollowedPool, options: FollowOptions = {}) {
    this.#store = store;
    this.#pool = pool;
    this.#o = options;
  }

  /**
   * Loads the first version (waits for it unless none is published yet: then readiness waits
   * for a publish) and starts following.
   */
  async start(): Promise<void> {
    if (this.#o.pinned) {
      await this.#switch(this.#o.pinned);
      return;
    }
    if (this.#o.redisUrl) {
      // never fails: a Redis away now is one lost later (it warns, the store's poll covers it)
      this.#sub = subscribeCurrent(this.#o.redisUrl, this.#store.url, () => void this.sync());
    }
    await this.sync();
    const every = (this.#o.pollSeconds ?? (this.#sub ? 30 : 2)) * 1000;
    this.#timer = setInterval(() => {
      this.#failed = undefined;
      void this.sync();
    }, every);
    this.#timer.unref();
  }

  /** Reads `current` and moves to it; overlapping calls fold into one more pass. */
  sync(): Promise<void> {
    if (this.#syncing) {
      this.#again = true;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      do {
        this.#again = false;
        try {
          const v = await currentVersion(this.#store);
          if (v !== undefined && v !== this.#pool.current && v !== this.#failed && !this.#stopped) await this.#switch(v);
        } catch (err) {
          log.warn('cannot read the current version', { store: this.#store.url, error: (err as Error).message });
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #switch(version: string): Promise<void> {
    const t0 = performance.now();
    try {
      await this.#pool.load(version);
    } catch (err) {
      if (this.#stopped) return; // the pool closed under a load: shutting down, nothing failed
      this.#failed = version;
      metrics.serveVersionLoadFailures.inc();
      log.error('cannot load version; still serving the previous one', { version, serving: this.#pool.current ?? null, error: (err as Error).message });
      if (this.#o.pinned) throw err;
      return;
    }
    this.#pool.promote(version);
    metrics.serveVersionSwaps.inc();
    log.info('version loaded', { version, seconds: Number(((performance.now() - t0) / 1000).toFixed(3)) });
    this.#o.onChange?.(version);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#sub?.close();
    // a sync loading a version is not waited for: the pool, closed next, closes it when it lands
  }
}

