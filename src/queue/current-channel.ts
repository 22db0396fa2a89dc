/**
 * Tells running search servers that a store's `current` moved: a Redis PUBLISH on a channel named
 * after the store, sent by the process that moved it (workers publishing a build, `lemur
 * rollback`). Servers subscribed to the channel re-read `current` from the store at once; the
 * message is only a nudge (the store stays the truth) and servers also poll, so a message lost
 * while Redis is away delays a swap by one poll interval, nothing more.
 */
import { Redis, type RedisOptions } from 'ioredis';

import { log } from '../log.js';
import type { ObjectStore } from '../store/object-store.js';
import { onCurrentMoved } from '../versions/current.js';
import { reconnectDelay, redisConnection } from './connection.js';

/** The channel of one store (its URL names it; tests' stores are unique folders). */
export const currentChannel = (storeUrl: string): string => `lemur:current:${storeUrl}`;

/** Publishes one move; a Redis that cannot be reached is logged, not thrown (servers poll too). */
export async function announceCurrent(redisUrl: string, storeUrl: string, version: string): Promise<void> {
  // a connection per move: moves are rare, and a held connection would keep short commands alive
  const redis = new Redis({ ...(redisConnection(redisUrl) as RedisOptions), maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000, lazyConnect: true, retryStrategy: () => null });
  redis.on('error', () => {}); // reported through the publish's rejection below
  try {
    await redis.connect();
    await redis.publish(currentChannel(storeUrl), version);
  } catch (err) {
    log.warn('could not announce the new current version (servers will notice it when they poll)', { version, error: (err as Error).message });
  } finally {
    redis.disconnect();
  }
}

const announcing = new Set<string>();

/** Announces every move of `current` this process makes on its Redis (once per Redis URL). */
export function announceCurrentMoves(redisUrl: string): void {
  if (announcing.has(redisUrl)) return;
  announcing.add(redisUrl);
  onCurrentMoved((store: ObjectStore, version: string) => void announceCurrent(redisUrl, store.url, version));
}

/**
 * Calls `onMove(version)` for each announced move of the store's `current` until the returned
 * close() is called. Reconnects on its own (ioredis re-subscribes after a reconnect).
 */
export function subscribeCurrent(redisUrl: string, storeUrl: string, onMove: (version: string) => void): { close: () => void } {
  // not awaited: a Redis away at start is the same as one lost later (ioredis connects, queues the
  // SUBSCRIBE and re-subscribes after every reconnect); the store's poll covers the meantime
  const sub = new Redis({ ...(redisConnection(redisUrl) as RedisOptions), retryStrategy: reconnectDelay });
  let warned = false;
  sub.on('error', (err: Error) => {
    if (!warned) log.warn('current-version notifications unavailable (polling the store meanwhile)', { error: err.message });
    warned = true;
  });
  sub.on('ready', () => (warned = false));
  const channel = currentChannel(storeUrl);
  sub.on('message', (ch: string, message: string) => {
    if (ch === channel) onMove(message);
  });
  sub.subscribe(channel).catch(() => undefined); // failures are the 'error' events above
  return { close: () => sub.disconnect() };
}
