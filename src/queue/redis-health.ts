/**
 * Whether this process's workers reach Redis, for its log and metrics: one "redis unreachable,
 * retrying" line when a connection is lost and one "redis reconnected" line when every worker is
 * back, instead of an error line per failed reconnect of every connection (ioredis reports each
 * one; 7 roles hold 14 connections). Keeps the gauges lemur_redis_connected and lemur_worker_ready.
 * It only watches: reconnecting is ioredis's (connection.ts sets its backoff).
 */
import type { Worker } from 'bullmq';

import { log } from '../log.js';
import { metrics } from '../metrics.js';

/** Socket-level failures: Redis down, restarting or out of reach. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return CONNECTION_CODES.has(e?.code ?? '') || /ECONNREFUSED|ECONNRESET|Connection is closed/.test(e?.message ?? '');
}

class RedisHealth {
  readonly #workers = new Set<Worker>();
  readonly #ready = new Set<Worker>();
  readonly #log = log.child({ role: 'worker' });
  #outageSince: number | undefined;
  #errorsInOutage = 0;
  #closing = false;

  /** Follows a worker's connections; its other errors are logged as they come. */
  watch(worker: Worker, queue: string): void {
    this.#workers.add(worker);
    this.#update();
    worker.on('ready', () => this.#up(worker));
    worker.on('ioredis:close', () => this.#down(worker, undefined));
    worker.on('error', (err) => {
      if (isConnectionError(err)) this.#down(worker, err);
      else this.#log.error('worker error', { queue, error: err });
    });
    worker.on('closed', () => {
      this.#workers.delete(worker);
      this.#ready.delete(worker);
      this.#update();
    });
  }

  /** Every watched worker holds its connection (false before the first connect, too). */
  get connected(): boolean {
    return this.#workers.size > 0 && this.#ready.size === this.#workers.size;
  }

  /** The process is shutting down: it takes no more jobs, whatever Redis does. */
  closing(): void {
    this.#closing = true;
    this.#update();
  }

  #down(worker: Worker, err: Error | undefined): void {
    this.#ready.delete(worker);
    if (this.#outageSince !== undefined) {
      this.#errorsInOutage++;
      this.#update();
      return;
    }
    this.#outageSince = performance.now();
    this.#errorsInOutage = err ? 1 : 0;
    this.#log.warn('redis unreachable, retrying', { ...(err ? { error: err } : {}), retry: 'backoff doubling from 250 ms to 10 s, jittered' });
    this.#update();
  }

  #up(worker: Worker): void {
    this.#ready.add(worker);
    if (this.connected && this.#outageSince !== undefined) {
      this.#log.info('redis reconnected', { downSeconds: Math.round(performance.now() - this.#outageSince) / 1000, errors: this.#errorsInOutage });
      this.#outageSince = undefined;
    }
    this.#update();
  }

  #update(): void {
    metrics.redisConnected.set(this.connected ? 1 : 0);
    metrics.workerReady.set(this.connected && !this.#closing ? 1 : 0);
  }
}

/** The process's one watcher (its workers share one Redis). */
export const redisHealth = new RedisHealth();
