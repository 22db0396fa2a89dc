/**
 * Gathers concurrent requests into one engine call. A batched search is several times cheaper
 * per query than one at a time (features, the HNSW walks and the rerank all go through one
 * threaded native call), so while a batch runs the next one gathers, and a request that finds
 * the engine idle waits at most `windowMs` for company, or until a batch holds `maxBatch`
 * queries. The default window is 0: measured on `small` (bench serve, c=32), windows of 0, 1 and
 * 2 ms gave the same QPS (batches fill while the engine is busy), and every millisecond of window
 * was a millisecond more on a lone request's latency. Only requests with the same key
 * (version and search settings) share a batch. The queue is bounded in queries: past it, submit
 * refuses at once with OverloadedError (a 429 with Retry-After), so memory never grows with load.
 */
import { InputDataError, InvalidArgumentError } from '../errors.js';
import { OverloadedError } from './serve-errors.js';

export interface MicroBatcherOptions {
  /** Longest a request that finds the engine idle waits for others. @defaultValue 0 */
  windowMs?: number;
  /** Queries per engine call at most. @defaultValue 32 */
  maxBatch?: number;
  /** Queries waiting at most (beyond it: OverloadedError). @defaultValue 1024 */
  maxQueue?: number;
  /** Engine calls running at once (each already uses every thread). @defaultValue 1 */
  concurrency?: number;
  /** Errors that are one request's fault. @defaultValue InvalidArgumentError, InputDataError */
  isRequestFault?: (err: unknown) => boolean;
}

export interface BatchItem {
  /** Items with equal keys may share a batch. */
  key: string;
  /** Queries this item holds. */
  size: number;
}

interface Pending<I, R> {
  item: I;
  at: number;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/** Where a request's time went. */
export interface BatchInfo {
  /** Queries in the engine call that answered it. */
  batchQueries: number;
  /** Waiting for the batch to start. */
  queueMs: number;
}

export class MicroBatcher<I extends BatchItem, R> {
  readonly #run: (items: I[]) => Promise<R[]>;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  readonly #maxQueue: number;
  readonly #concurrency: number;
  #queue: Pending<I, R & BatchInfo>[] = [];
  #queued = 0;
  #running = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Queries per second of recent batches (exponential average), for Retry-After. */
  #rate = 0;

  /** @param run answers a batch: one result per item, in order */
  constructor(run: (items: I[]) => Promise<R[]>, options: MicroBatcherOptions = {}) {
    this.#run = run;
    this.#isRequestFault = options.isRequestFault ?? ((err) => err instanceof InvalidArgumentError || err instanceof InputDataError);
    this.#windowMs = options.windowMs ?? 0;
    this.#maxBatch = options.maxBatch ?? 32;
    this.#maxQueue = options.maxQueue ?? 1024;
    this.#concurrency = options.concurrency ?? 1;
  }

  /** Errors that are one request's fault (a batch failing so is re-run request by request). */
  readonly #isRequestFault: (err: unknown) => boolean;

  /** Queries waiting for a batch. */
  get queued(): number {
    return this.#queued;
  }

  /** Engine calls running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Queues one item; resolves with its own result and how it was batched.
   * @throws OverloadedError (synchronously) when the queue is full
   */
  submit(item: I): Promise<R & BatchInfo> {
    if (this.#queued + item.size > this.#maxQueue && this.#queued > 0) {
      // time to work off the queue at the recent rate, at least a second
      const seconds = Math.max(1, Math.ceil(this.#queued / Math.max(this.#rate, 1)));
      throw new OverloadedError(`the search queue is full (${this.#queued} queries waiting, limit ${this.#maxQueue}): retry in ${seconds} s`, seconds);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, at: performance.now(), resolve, reject });
      this.#queued += item.size;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#queue.length > 0) {
      const first = this.#queue[0]!;
      const waited = performance.now() - first.at;
      const ready = this.#queuedFor(first.item.key) >= this.#maxBatch || waited >= this.#windowMs;
      if (!ready) {
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, Math.max(0, this.#windowMs - waited));
        return;
      }
      this.#dispatch(this.#take(first.item.key));
    }
  }

  #queuedFor(key: string): number {
    let n = 0;
    for (const p of this.#queue) if (p.item.key === key) n += p.item.size;
    return n;
  }

  /** The oldest items of one key, up to maxBatch queries (at least one item), in arrival order. */
  #take(key: string): Pending<I, R & BatchInfo>[] {
    const batch: Pending<I, R & BatchInfo>[] = [];
    const rest: Pending<I, R & BatchInfo>[] = [];
    let size = 0;
    let full = false;
    for (const p of this.#queue) {
      // strictly first come, first served: the first item that does not fit closes the batch
      if (!full && p.item.key === key && (batch.length === 0 || size + p.item.size <= this.#maxBatch)) {
        batch.push(p);
        size += p.item.size;
      } else {
        if (p.item.key === key) full = true;
        rest.push(p);
      }
    }
    this.#queue = rest;
    this.#queued -= size;
    return batch;
  }

  #dispatch(batch: Pending<I, R & BatchInfo>[]): void {
    this.#running++;
    const t0 = performance.now();
    const size = batch.reduce((a, p) => a + p.item.size, 0);
    const settle = (results: R[]): void => {
      const s = (performance.now() - t0) / 1000;
      if (s > 0) this.#rate = this.#rate === 0 ? size / s : 0.8 * this.#rate + 0.2 * (size / s);
      batch.forEach((p, i) => p.resolve({ ...results[i]!, batchQueries: size, queueMs: t0 - p.at }));
    };
    this.#run(batch.map((p) => p.item))
      .then(settle, async (err: unknown) => {
        // a request's own fault must not fail the others it was batched with: each runs alone
        // again, one after another (still one engine call at a time). Anything else (a group
        // down, no version, a store error) would fail them all alike: no point repeating it.
        if (batch.length === 1 || !this.#isRequestFault(err)) {
          for (const p of batch) p.reject(err);
          return;
        }
        for (const p of batch) {
          await this.#run([p.item]).then(
            (r) => p.resolve({ ...r[0]!, batchQueries: p.item.size, queueMs: t0 - p.at }),
            (e: unknown) => p.reject(e),
          );
        }
      })
      .finally(() => {
        this.#running--;
        this.#pump();
      });
  }
}
