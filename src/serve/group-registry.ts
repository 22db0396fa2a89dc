/**
 * Shard groups announce themselves to routers through Redis: each `lemur serve --group i/n`
 * keeps a key `lemur:serve:<store url>:group:<n>:<i>:<instance>` → {url, group, version, loaded}
 * alive with a TTL it refreshes every couple of seconds. A process that dies stops refreshing and
 * its key expires, so a router scanning the keys sees only live instances, with no deregistration
 * step that a crash could skip. Several instances of one group are replicas.
 */
import { randomUUID } from 'node:crypto';

import { Redis, type RedisOptions } from 'ioredis';

import { log } from '../log.js';
import { reconnectDelay, redisConnection } from '../queue/connection.js';
import type { ShardGroup } from './shard-group.js';

export interface GroupRegistration {
  url: string;
  group: ShardGroup;
  version: string | null;
  loaded: string[];
}

export interface RegistryTiming {
  /** Between refreshes. @defaultValue 2000 */
  heartbeatMs?: number;
  /** Life of a key not refreshed: a few heartbeats, so one slow refresh does not drop a group. @defaultValue 3 × heartbeatMs */
  ttlMs?: number;
}

const prefix = (storeUrl: string): string => `lemur:serve:${storeUrl}:group:`;

/** SCAN MATCH is a glob: the store URL's own glob characters must match literally. */
const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

function connect(redisUrl: string): Redis {
  // a stalled Redis (connection up, no answers) must not freeze the router's refresh or a shutdown
  const r = new Redis({ ...(redisConnection(redisUrl) as RedisOptions), lazyConnect: true, maxRetriesPerRequest: 1, commandTimeout: 2000, retryStrategy: reconnectDelay });
  let warned = false;
  r.on('error', (err: Error) => {
    if (!warned) log.warn('shard-group registry: Redis unavailable (retrying)', { error: err.message });
    warned = true;
  });
  r.on('ready', () => (warned = false));
  return r;
}

/**
 * Keeps this group's key alive until close() (which deletes it: a clean stop is seen at once).
 * @param state read at every heartbeat, so the key tells which versions are loaded now
 */
export async function registerGroup(redisUrl: string, storeUrl: string, state: () => GroupRegistration, timing: RegistryTiming = {}): Promise<{ close: () => Promise<void> }> {
  const every = timing.heartbeatMs ?? 2000;
  const ttl = timing.ttlMs ?? 3 * every;
  const redis = connect(redisUrl);
  const first = state();
  const key = `${prefix(storeUrl)}${first.group.count}:${first.group.index}:${randomUUID()}`;
  const beat = async (): Promise<void> => {
    try {
      await redis.set(key, JSON.stringify(state()), 'PX', ttl);
    } catch (err) {
      log.warn('shard-group heartbeat failed', { key, error: (err as Error).message });
    }
  };
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect(); // else ioredis keeps reconnecting, and holds the process open
    throw err;
  }
  await beat();
  const timer = setInterval(() => void beat(), every);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await redis.del(key).catch(() => undefined);
      redis.disconnect();
    },
  };
}

/** Reads the live registrations of a store's groups. */
export class GroupRegistryReader {
  readonly #redis: Redis;
  readonly #match: string;

  constructor(redisUrl: string, storeUrl: string) {
    this.#redis = connect(redisUrl);
    this.#match = `${globEscape(prefix(storeUrl))}*`;
  }

  async list(): Promise<GroupRegistration[]> {
    if (this.#redis.status === 'wait') await this.#redis.connect();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', this.#match, 'COUNT', 200);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.#redis.mget(...keys);
    const out: GroupRegistration[] = [];
    for (const v of values) {
      if (v === null) continue; // expired between the scan and the read
      try {
        out.push(JSON.parse(v) as GroupRegistration);
      } catch {
        log.warn('shard-group registry: unreadable registration', { value: v.slice(0, 200) });
      }
    }
    return out;
  }

  close(): void {
    this.#redis.disconnect();
  }
}
