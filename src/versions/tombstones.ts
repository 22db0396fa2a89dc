/**
 * Tombstones: the positions of a shard that are deleted (or replaced by an upsert) in a version.
 * A shard's token store, W rows and HNSW index are immutable and HNSW cannot remove vectors, so
 * a delete writes a new sorted list of positions for the new version and the query engine skips
 * them; `compact` later rewrites the shard without them. External ids never change.
 */
import { readObjectInto } from '../store/files.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import type { ShardEntry } from './manifest.js';
import { readStoreIds } from './store-ids.js';

/**
 * The shard's tombstoned positions, sorted, streamed straight into the array (uint32
 * little-endian, the host's order on x86-64 and arm64, as W rows assume too).
 * @throws CorruptFileError when the list is not shard.deleted positions long
 */
export async function readDeleted(store: ObjectStore, shard: ShardEntry): Promise<Uint32Array> {
  if (!shard.deletedKey || shard.deleted === 0) return new Uint32Array(0);
  const out = new Uint32Array(shard.deleted);
  await readObjectInto(store, shard.deletedKey, new Uint8Array(out.buffer));
  return out;
}

/**
 * The shard as of `version` with `positions` tombstoned as well; writes the merged list under
 * keys.deleted(version, shard). Returns the shard unchanged when nothing new is deleted.
 */
export async function addTombstones(store: ObjectStore, version: string, shard: ShardEntry, positions: Iterable<number>): Promise<ShardEntry> {
  const all = new Set(await readDeleted(store, shard));
  const before = all.size;
  for (const p of positions) {
    if (!Number.isInteger(p) || p < 0 || p >= shard.docs) throw new RangeError(`position ${p} outside shard ${shard.shardId} (${shard.docs} docs)`);
    all.add(p);
  }
  if (all.size === before) return shard;
  const sorted = Uint32Array.from(all).sort();
  const buf = Buffer.alloc(sorted.length * 4);
  sorted.forEach((p, i) => buf.writeUInt32LE(p, i * 4));
  const deletedKey = keys.deleted(version, shard.shardId);
  await store.put(deletedKey, buf);
  return { ...shard, deleted: sorted.length, deletedKey };
}

/** External ids of a shard in position order, as strings (ids may be int64 or strings). */
export async function readShardIds(store: ObjectStore, shard: ShardEntry): Promise<string[]> {
  return readStoreIds(store, shard.tokensKey);
}

/**
 * Where each wanted id is live: shardId → positions, and which ids were found. Tombstoned
 * positions are skipped, so a deleted id is not found again.
 */
export async function locateIds(store: ObjectStore, shards: ShardEntry[], wanted: ReadonlySet<string>): Promise<{ positions: Map<string, number[]>; found: Set<string> }> {
  const positions = new Map<string, number[]>();
  const found = new Set<string>();
  if (wanted.size === 0) return { positions, found };
  for (const s of shards) {
    const dead = new Set(await readDeleted(store, s));
    const ids = await readShardIds(store, s);
    const hit: number[] = [];
    ids.forEach((id, p) => {
      if (!dead.has(p) && wanted.has(id)) {
        hit.push(p);
        found.add(id);
      }
    });
    if (hit.length) positions.set(s.shardId, hit);
  }
  return { positions, found };
}

/** `shards` with every live position holding one of `ids` tombstoned (new lists under `version`). */
export async function tombstoneIds(store: ObjectStore, version: string, shards: ShardEntry[], ids: ReadonlySet<string>): Promise<{ shards: ShardEntry[]; found: Set<string>; count: number }> {
  const { positions, found } = await locateIds(store, shards, ids);
  let count = 0;
  const out = await Promise.all(shards.map((s) => {
    const p = positions.get(s.shardId);
    if (!p) return s;
    count += p.length;
    return addTombstones(store, version, s, p);
  }));
  return { shards: out, found, count };
}

/** Ids users deleted (kept so a rebuild from sources does not bring them back). */
export async function readDeletedIds(store: ObjectStore, deletedIdsKey: string | undefined): Promise<Set<string>> {
  if (!deletedIdsKey) return new Set();
  return new Set(JSON.parse((await store.get(deletedIdsKey)).toString('utf8')) as string[]);
}

/** Writes the version's deleted-id list; undefined when empty (nothing to reference). */
export async function writeDeletedIds(store: ObjectStore, version: string, ids: ReadonlySet<string>): Promise<string | undefined> {
  if (ids.size === 0) return undefined;
  const key = keys.deletedIds(version);
  await store.put(key, Buffer.from(JSON.stringify([...ids].sort())));
  return key;
}
