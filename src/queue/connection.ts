/**
 * Redis connection options for BullMQ, from a redis:// URL. Options rather than a client
 * instance: BullMQ then owns its connections and closes them with the queue or worker (a client
 * passed in is treated as shared and left open). Workers need maxRetriesPerRequest null.
 */
import { FlowProducer, Queue, type ConnectionOptions } from 'bullmq';

import { ConfigError } from '../errors.js';

/** First reconnect delay after Redis is lost, and the most it grows to. */
const RECONNECT_BASE_MS = 250;
const RECONNECT_MAX_MS = 10_000;

/**
 * ioredis's delay before reconnect attempt `times` (1, 2, …): doubling from 250 ms to at most
 * 10 s, each drawn in [½, 1] of that. The cap bounds how long a worker stays idle once Redis is
 * back; the jitter keeps the workers that lost Redis together from reconnecting in lockstep.
 */
export function reconnectDelay(times: number): number {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(Math.max(times, 1) - 1, 16));
  return Math.round(ceiling * (0.5 + 0.5 * Math.random()));
}

export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`Expected REDIS_URL like redis://host:port[/db] but received '${url}'`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError(`Expected a redis:// or rediss:// URL but received '${url}'`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(`Expected a numeric database in REDIS_URL but received '${u.pathname}'`);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    db,
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelay,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** Where the queues are: a Redis URL and the BullMQ key prefix. */
export interface QueueTarget {
  redisUrl: string;
  /** BullMQ key prefix. @defaultValue 'bull' */
  prefix?: string;
}

export function openQueue(t: QueueTarget, name: string): Queue {
  return new Queue(name, { connection: redisConnection(t.redisUrl), prefix: t.prefix ?? 'bull' });
}

/** Runs `fn` with a queue handle that is closed afterwards. */
export async function withQueue<T>(t: QueueTarget, name: string, fn: (q: Queue) => Promise<T>): Promise<T> {
  const q = openQueue(t, name);
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

/** Runs `fn` with a flow producer that is closed afterwards. */
export async function withFlow<T>(t: QueueTarget, fn: (flow: FlowProducer) => Promise<T>): Promise<T> {
  const flow = new FlowProducer({ connection: redisConnection(t.redisUrl), prefix: t.prefix ?? 'bull' });
  try {
    return await fn(flow);
  } finally {
    await flow.close();
  }
}
