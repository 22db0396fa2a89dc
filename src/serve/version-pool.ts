/**
 * The versions a search server holds open, and which one is `current` for it. Searches lease a
 * version for their whole run; a swap only moves the pointer (between requests: a lease taken
 * before keeps its version), and the version swapped out is closed once its last lease is
 * released (drained) and its retention has passed. Loading happens beside the serving version,
 * so a swap never leaves a moment without one.
 */
import { log } from '../log.js';
import type { OpenedVersion } from '../query/open-version.js';
import { NotReadyError, UnknownVersionError } from './serve-errors.js';

/** One version held for the length of a search. release() is idempotent. */
export interface Lease<T = OpenedVersion> {
  readonly version: string;
  readonly opened: T;
  release(): void;
}

/** What a pool holds per version: a search server its shards, a router only the model. */
export interface Closable {
  close(): void;
}

interface Entry<T> {
  opened: T;
  leases: number;
  /** When it stopped being current (undefined while current or never promoted). */
  retiredAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

export interface VersionPoolOptions {
  /**
   * How long a version swapped out stays open for requests that pin it (a router moving its
   * groups over, a client finishing a paging session). @defaultValue 0: closed once drained
   */
  retainMs?: number;
  /** Told whenever the current version or the set of open versions changes (metrics). */
  onChange?: (current: string | undefined, loaded: string[]) => void;
}

export class VersionPool<T extends Closable = OpenedVersion> {
  readonly #open: (version: string) => Promise<T>;
  readonly #retainMs: number;
  readonly #onChange: VersionPoolOptions['onChange'];
  readonly #entries = new Map<string, Entry<T>>();
  readonly #loading = new Map<string, Promise<void>>();
  #current: string | undefined;
  #closed = false;
  #drained: (() => void) | undefined;

  constructor(open: (version: string) => Promise<T>, options: VersionPoolOptions = {}) {
    this.#open = open;
    this.#retainMs = options.retainMs ?? 0;
    this.#onChange = options.onChange;
  }

  get current(): string | undefined {
    return this.#current;
  }

  /** Versions open now, current first. */
  loaded(): string[] {
    return [...this.#entries.keys()].sort((a, b) => Number(b === this.#current) - Number(a === this.#current));
  }

  get ready(): boolean {
    return this.#current !== undefined;
  }

  /** Opens a version beside the others (no-op when open; concurrent calls share one load). */
  load(version: string): Promise<void> {
    if (this.#closed) return Promise.reject(new NotReadyError('the server is shutting down'));
    if (this.#entries.has(version)) return Promise.resolve();
    let p = this.#loading.get(version);
    if (!p) {
      p = this.#open(version)
        .then((opened) => {
          if (this.#closed) {
            opened.close();
            throw new NotReadyError('the server is shutting down');
          }
          this.#entries.set(version, { opened, leases: 0, retiredAt: undefined, timer: undefined });
        })
        .finally(() => this.#loading.delete(version));
      this.#loading.set(version, p);
    }
    return p;
  }

  /**
   * Makes an open version current (a swap or a rollback): requests from now on get it; the one
   * it replaces drains, then closes (after retainMs).
   */
  promote(version: string): void {
    const e = this.#entries.get(version);
    if (!e) throw new UnknownVersionError(version, this.loaded());
    if (this.#current === version) return;
    const before = this.#current;
    this.#current = version;
    e.retiredAt = undefined;
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    log.info('serving version', { version, previous: before ?? null });
    if (before !== undefined) this.#retire(before);
    this.#onChange?.(this.#current, this.loaded());
  }

  /**
   * Leases the current version, or a pinned one that is open.
   * @throws NotReadyError before the first version is loaded; UnknownVersionError for a version not open
   */
  acquire(version?: string): Lease<T> {
    if (this.#closed) throw new NotReadyError('the server is shutting down');
    const v = version ?? this.#current;
    if (v === undefined) throw new NotReadyError('no version loaded yet');
    const e = this.#entries.get(v);
    if (!e) throw new UnknownVersionError(v, this.loaded());
    e.leases++;
    let released = false;
    return {
      version: v,
      opened: e.opened,
      release: () => {
        if (released) return;
        released = true;
        e.leases--;
        if (e.leases === 0) this.#maybeClose(v);
      },
    };
  }

  #retire(version: string): void {
    const e = this.#entries.get(version);
    if (!e) return;
    e.retiredAt = Date.now();
    if (this.#retainMs > 0) {
      e.timer = setTimeout(() => {
        e.timer = undefined;
        this.#maybeClose(version);
      }, this.#retainMs);
      e.timer.unref();
    } else {
      this.#maybeClose(version);
    }
  }

  #maybeClose(version: string): void {
    const e = this.#entries.get(version);
    if (!e || e.leases > 0) return;
    const retired = e.retiredAt !== undefined && !e.timer;
    if (!retired && !this.#closed) return;
    this.#entries.delete(version);
    e.opened.close();
    log.info('closed version', { version });
    this.#onChange?.(this.#current, this.loaded());
    if (this.#closed && this.#entries.size === 0) this.#drained?.();
  }

  /** Stops leasing, waits for searches in flight, closes every version. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // a load in flight is not waited for (a big version could outlast a shutdown's grace): it
    // closes what it opened when it lands (load() checks #closed)
    const done = new Promise<void>((resolve) => (this.#drained = resolve));
    for (const [v, e] of this.#entries) {
      if (e.timer) clearTimeout(e.timer);
      e.timer = undefined;
      this.#maybeClose(v);
    }
    if (this.#entries.size > 0) await done;
    this.#current = undefined;
  }
}
