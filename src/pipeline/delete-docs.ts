/**
 * `lemur delete`: tombstones documents by external id in a new version derived from current.
 * Nothing is rewritten (HNSW cannot remove vectors; `compact` does the rewriting later) and ids
 * are never renumbered. Deleted ids are remembered, so a rebuild from the sources does not bring
 * them back; ingesting an id again undeletes it.
 */
import { InvalidArgumentError } from '../errors.js';
import { baseVersion, readManifest } from '../versions/manifest.js';
import { publishVersion } from '../versions/publish.js';
import { readDeletedIds, tombstoneIds, writeDeletedIds } from '../versions/tombstones.js';
import type { ObjectStore } from '../store/object-store.js';

export interface DeleteOutcome {
  /** The new version, or undefined when none of the ids was live (nothing published). */
  version: string | undefined;
  base: string;
  deleted: number;
  notFound: string[];
}

export async function deleteDocs(store: ObjectStore, ids: string[], version: string): Promise<DeleteOutcome> {
  if (ids.length === 0) throw new InvalidArgumentError('Expected at least one id to delete');
  const base = await baseVersion(store, version);
  if (!base) throw new InvalidArgumentError(`nothing to delete from: no published version in ${store.url}`);
  const m = await readManifest(store, base);
  const wanted = new Set(ids);
  const t = await tombstoneIds(store, version, m.shards, wanted);
  const notFound = [...wanted].filter((id) => !t.found.has(id));
  if (t.count === 0) return { version: undefined, base, deleted: 0, notFound };
  const deletedIds = await readDeletedIds(store, m.deletedIdsKey);
  for (const id of t.found) deletedIds.add(id);
  const deletedIdsKey = await writeDeletedIds(store, version, deletedIds);
  await publishVersion(
    store,
    version,
    { operation: 'delete', base, modelKey: m.modelKey, config: m.config, ...(m.input ? { input: m.input } : {}), ...(m.encoding ? { encoding: m.encoding } : {}), lineage: m.lineage, shards: t.shards, ...(deletedIdsKey ? { deletedIdsKey } : {}) },
    { expectCurrent: base, reuse: m },
  );
  return { version, base, deleted: t.count, notFound };
}
