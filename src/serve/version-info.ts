/** GET /v1/version of a search server or shard group: what it serves and holds. */
import type { ShardGroup } from './shard-group.js';
import type { VersionPool } from './version-pool.js';

export interface VersionInfo {
  /** The version answering requests that pin none (null before the first load). */
  version: string | null;
  /** Versions held open (current first; others drain or stay for pinned requests). */
  loaded: string[];
  /** This process's shard group, or null when it holds whole versions. */
  group: ShardGroup | null;
  /** Shards of the current version held here (manifest indexes). */
  shards: number[];
  /** Live documents of the current version held here. */
  docs: number;
  createdAt: string | null;
}

export function versionInfo(pool: VersionPool, group: ShardGroup | undefined): VersionInfo {
  if (!pool.current) return { version: null, loaded: pool.loaded(), group: group ?? null, shards: [], docs: 0, createdAt: null };
  const lease = pool.acquire();
  try {
    const o = lease.opened;
    return { version: lease.version, loaded: pool.loaded(), group: group ?? null, shards: o.shards, docs: o.engine.liveDocs, createdAt: o.manifest.createdAt };
  } finally {
    lease.release();
  }
}
