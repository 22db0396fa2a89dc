/**
 * Publishing versions: a version's manifest is written only once every artifact exists and
 * hashes as recorded; then the `current` pointer moves to it (src/versions/current.ts). Old
 * versions stay; rollback moves the pointer back.
 */
import { InvalidArgumentError } from '../errors.js';
import { checkName, keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkCurrent, currentVersion, moveCurrent } from './current.js';
import { describeArtifact, listVersions, readManifest, shardArtifacts, verifyVersion, type ArtifactRef, type Manifest, type ManifestInput } from './manifest.js';

export interface PublishOptions {
  /** Move `current` to the new version. @defaultValue true */
  promote?: boolean;
  /**
   * Refuse to promote unless `current` still points here (null: no version yet). Derived
   * versions pass their base, so two writers racing cannot drop each other's changes.
   */
  expectCurrent?: string | null;
  /** A manifest whose artifact hashes can be reused (immutable keys it already lists). */
  reuse?: Manifest;
}

/** Writes the version's manifest, then (by default) moves `current` to it. */
export async function publishVersion(store: ObjectStore, version: string, input: ManifestInput, options: PublishOptions = {}): Promise<Manifest> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(version)) throw new InvalidArgumentError(`Expected a version like 2026-11-22T03-30-00Z or v7 but received '${version}'`);
  const all = [...new Set([input.modelKey, ...input.shards.flatMap(shardArtifacts), ...(input.deletedIdsKey ? [input.deletedIdsKey] : [])])];
  if (await store.head(keys.manifest(version))) return republish(store, version, input, all, options);
  // artifacts are immutable once published, so a base version's hashes stand for the same keys
  const known = new Map((options.reuse?.artifacts ?? []).map((a) => [a.key, a]));
  const artifacts: ArtifactRef[] = [];
  for (const key of all) artifacts.push(known.get(key) ?? (await describeArtifact(store, key)));
  const manifest: Manifest = {
    format: 'lemur-manifest',
    version,
    createdAt: new Date().toISOString(),
    ...input,
    docs: input.shards.reduce((a, s) => a + s.docs - s.deleted, 0),
    artifacts,
  };
  if (options.expectCurrent !== undefined) await checkCurrent(store, options.expectCurrent, version);
  await store.put(keys.manifest(version), Buffer.from(JSON.stringify(manifest, null, 2)));
  if (options.promote ?? true) await moveCurrent(store, version, options.expectCurrent);
  return manifest;
}

/**
 * A publish that runs again (a retried job whose first attempt wrote the manifest, then died
 * before or after moving `current`) finishes the first attempt's work; anything else under an
 * existing version name is refused: versions are immutable.
 */
async function republish(store: ObjectStore, version: string, input: ManifestInput, all: string[], options: PublishOptions): Promise<Manifest> {
  const m = await readManifest(store, version);
  const same = m.operation === input.operation && m.base === input.base && m.modelKey === input.modelKey && JSON.stringify(m.artifacts.map((a) => a.key)) === JSON.stringify(all);
  if (!same) throw new InvalidArgumentError(`version ${version} is already published: versions are immutable`);
  if ((options.promote ?? true) && (await currentVersion(store)) !== version) await moveCurrent(store, version, options.expectCurrent);
  return m;
}

/** Moves `current` to an already published version (a candidate that passed its evaluation). */
export async function promoteVersion(store: ObjectStore, version: string, expectCurrent?: string | null): Promise<void> {
  await readManifest(store, version);
  await moveCurrent(store, version, expectCurrent);
}

/**
 * Moves `current` to `to`, or to the version published before the current one.
 * @throws InvalidArgumentError when there is nothing to roll back to
 */
export async function rollback(store: ObjectStore, to?: string): Promise<string> {
  if (to !== undefined) checkName('version', to);
  const versions = await listVersions(store);
  let target = to;
  if (target === undefined) {
    const i = versions.findIndex((v) => v.current);
    if (i <= 0) throw new InvalidArgumentError('no earlier version to roll back to');
    target = versions[i - 1]!.version;
  } else if (!versions.some((v) => v.version === target)) {
    throw new InvalidArgumentError(`version ${target} is not published`);
  }
  await verifyVersion(store, target);
  // a publish that lands meanwhile wins: rolling back over it would silently undo it
  await moveCurrent(store, target, versions.find((v) => v.current)?.version ?? null);
  return target;
}
