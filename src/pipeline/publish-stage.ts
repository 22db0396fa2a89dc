/**
 * The last stage of a build or an ingest: turn built shards into a published version.
 *
 * A build derives from whatever is current when it publishes: shards whose token store is the
 * same object as before keep their tombstones, and ids users deleted stay deleted, so a
 * rebuild never resurrects a delete. An ingest derives from current too, but only when current
 * still has the model its W rows were computed with (rows of different models do not mix).
 * Once the manifest is written, the shards' W.f32 objects are deleted (but for sq8 shards): W is
 * a build artifact.
 */
import { InvalidArgumentError, VersionConflictError } from '../errors.js';
import { baseVersion, readManifest, type Manifest, type ShardEntry } from '../versions/manifest.js';
import { publishVersion } from '../versions/publish.js';
import { addTombstones, readDeleted, readDeletedIds, readShardIds, tombstoneIds, writeDeletedIds } from '../versions/tombstones.js';
import type { ArtifactEncoding } from '../fit-defaults.js';
import type { ReadShardOptions } from '../parquet/read-shard.js';
import { log } from '../log.js';
import type { ObjectStore } from '../store/object-store.js';
import { loadModel, shardEntry, type IndexedShard } from './stages.js';

const bySource = (a: { shardId: string; sourceKey: string }, b: { shardId: string; sourceKey: string }): number =>
  a.sourceKey < b.sourceKey ? -1 : a.sourceKey > b.sourceKey ? 1 : 0;

const live = (shards: ShardEntry[]): number => shards.reduce((a, s) => a + s.docs - s.deleted, 0);

/**
 * Deletes the W rows the published shards were indexed from and the manifest does not list (it
 * lists them for sq8 shards only: stages.ts keepsWeights): the version holds them in its indexes,
 * and compaction reconstructs them from there. Only after the manifest is written: until then a
 * retried index job reads them again, and a publish that fails leaves them to its retry. A
 * retried publish deletes whatever is left (deleting a missing object is fine).
 */
async function dropBuildWeights(store: ObjectStore, manifest: Manifest, built: IndexedShard[]): Promise<void> {
  const listed = new Set(manifest.artifacts.map((a) => a.key));
  const drop = built.map((b) => b.weightsKey).filter((k) => !listed.has(k));
  for (const key of drop) await store.delete(key);
  if (drop.length) log.info('build-only W rows deleted', { version: manifest.version, shards: drop.length });
}

export interface PublishBuildInput {
  version: string;
  modelKey: string;
  /** Leave `current` where it is (a scheduled candidate, promoted after its evaluation). @defaultValue true */
  promote?: boolean;
  /** How the sources were read (recorded in the manifest). */
  input?: ReadShardOptions;
  /** How token stores and index rows were stored (recorded in the manifest). */
  encoding?: ArtifactEncoding;
}

export async function publishBuild(store: ObjectStore, input: PublishBuildInput, built: IndexedShard[]): Promise<Manifest> {
  const model = await loadModel(store, input.modelKey);
  const base = await baseVersion(store, input.version);
  const baseManifest = base ? await readManifest(store, base) : undefined;
  let shards = built.map(shardEntry).sort(bySource);
  let deletedIdsKey: string | undefined;
  if (baseManifest) {
    const before = new Map(baseManifest.shards.map((s) => [s.tokensKey, s]));
    shards = await Promise.all(shards.map(async (s) => {
      const prev = before.get(s.tokensKey);
      return prev && prev.deleted > 0 ? addTombstones(store, input.version, s, await readDeleted(store, prev)) : s;
    }));
    const deletedIds = await readDeletedIds(store, baseManifest.deletedIdsKey);
    shards = (await tombstoneIds(store, input.version, shards, deletedIds)).shards;
    deletedIdsKey = await writeDeletedIds(store, input.version, deletedIds);
  }
  const manifest = await publishVersion(
    store,
    input.version,
    {
      operation: 'build',
      ...(base ? { base } : {}),
      modelKey: input.modelKey,
      config: { ...model.config },
      ...(input.input ? { input: input.input } : {}),
      ...(input.encoding ? { encoding: input.encoding } : {}),
      lineage: { trainedIn: input.version, trainedDocs: live(shards), addedSinceTraining: 0 },
      shards,
      ...(deletedIdsKey ? { deletedIdsKey } : {}),
    },
    { promote: input.promote ?? true, expectCurrent: base ?? null, ...(baseManifest ? { reuse: baseManifest } : {}) },
  );
  await dropBuildWeights(store, manifest, built);
  return manifest;
}

export interface PublishIngestInput {
  version: string;
  /** The version the ingest started from (its model computed the new rows). */
  base: string;
  modelKey: string;
  /** How the sources were read (recorded in the manifest; default: the base's). */
  input?: ReadShardOptions;
  /** How the new shards were stored (default: the base's). */
  encoding?: ArtifactEncoding;
}

export interface IngestOutcome {
  manifest: Manifest;
  added: number;
  /** Older rows replaced because an ingested id already existed. */
  upserted: number;
}

/**
 * Adds ingested shards to the current version. A source ingested again replaces its shard; an
 * id that is already live elsewhere is an upsert: the older row is tombstoned (within one
 * ingest, the shard whose source key sorts last wins).
 */
export async function publishIngest(store: ObjectStore, input: PublishIngestInput, built: IndexedShard[]): Promise<IngestOutcome> {
  const cur = await baseVersion(store, input.version);
  if (!cur) throw new InvalidArgumentError('nothing to ingest into: no published version (run lemur build first)');
  const m = await readManifest(store, cur);
  if (m.modelKey !== input.modelKey) {
    throw new VersionConflictError(`the ingest started from ${input.base}, but current (${cur}) was retrained since: its rows would not match; ingest again`, input.base, cur);
  }
  const added = built.map(shardEntry).sort(bySource);
  const replacing = new Set(added.map((s) => s.shardId));
  let shards = m.shards.filter((s) => !replacing.has(s.shardId));
  const deletedIds = await readDeletedIds(store, m.deletedIdsKey);
  // the shard (index into `added`) whose row each ingested id keeps: the last source wins
  const owner = new Map<string, number>();
  const addedIds = await Promise.all(added.map((s) => readShardIds(store, s)));
  addedIds.forEach((ids, i) => ids.forEach((id) => owner.set(id, i)));
  for (const id of owner.keys()) deletedIds.delete(id); // ingested again: no longer deleted
  // one pass over the existing shards' ids for every ingested id, then the losers within the ingest
  const t = await tombstoneIds(store, input.version, shards, new Set(owner.keys()));
  shards = t.shards;
  let upserted = t.count;
  for (const [i, s] of added.entries()) {
    const lost = addedIds[i]!.flatMap((id, p) => (owner.get(id) === i ? [] : [p]));
    upserted += lost.length;
    shards.push(lost.length ? await addTombstones(store, input.version, s, lost) : s);
  }
  const deletedIdsKey = await writeDeletedIds(store, input.version, deletedIds);
  const docsAdded = added.reduce((a, s) => a + s.docs, 0);
  const manifest = await publishVersion(
    store,
    input.version,
    {
      operation: 'ingest',
      base: cur,
      modelKey: m.modelKey,
      config: m.config,
      ...((input.input ?? m.input) ? { input: input.input ?? m.input } : {}),
      ...((input.encoding ?? m.encoding) ? { encoding: input.encoding ?? m.encoding } : {}),
      lineage: { ...m.lineage, addedSinceTraining: m.lineage.addedSinceTraining + docsAdded },
      shards,
      ...(deletedIdsKey ? { deletedIdsKey } : {}),
    },
    { expectCurrent: cur, reuse: m },
  );
  await dropBuildWeights(store, manifest, built);
  return { manifest, added: docsAdded, upserted };
}

/** True when the documents added since training exceed `fraction` of those it was trained on. */
export function needsRetrain(m: Manifest, fraction: number): boolean {
  return m.lineage.addedSinceTraining > fraction * Math.max(1, m.lineage.trainedDocs);
}
