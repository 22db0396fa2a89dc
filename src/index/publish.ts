/**
 * Published versions: a version's manifest (config, shards, doc counts, size and sha256 of every
 * artifact) is written only once every artifact exists and hashes as recorded; then the `current`
 * pointer moves to it (one small object, replaced atomically). Old versions stay; rollback moves
 * the pointer back. Readers follow `current` and check hashes, so they never see a half-written
 * version.
 */
import { createHash } from 'node:crypto';

import { CorruptFileError, InvalidArgumentError, StoreError } from '../errors.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';

export interface ArtifactRef {
  key: string;
  bytes: number;
  sha256: string;
}

export interface ShardEntry {
  shardId: string;
  sourceKey: string;
  docs: number;
  tokens: number;
  /** Artifact keys of the shard in this version (token store, W rows, index). */
  artifacts: string[];
}

export interface Manifest {
  format: 'lemur-manifest';
  version: string;
  createdAt: string;
  /** Model config and anything else a reader needs to interpret the artifacts. */
  config: Record<string, unknown>;
  docs: number;
  shards: ShardEntry[];
  /** Every artifact of the version (model, per-shard files) with size and hash. */
  artifacts: ArtifactRef[];
}

async function describe(store: ObjectStore, key: string): Promise<ArtifactRef> {
  let body: Buffer;
  try {
    body = await store.get(key);
  } catch (err) {
    if (err instanceof StoreError && err.notFound) throw new InvalidArgumentError(`cannot publish: artifact '${key}' does not exist`);
    throw err;
  }
  return { key, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
}

/** Writes the version's manifest, then moves `current` to it. */
export async function publishVersion(
  store: ObjectStore,
  version: string,
  input: { modelKey: string; config: Record<string, unknown>; shards: ShardEntry[] },
): Promise<Manifest> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(version)) throw new InvalidArgumentError(`Expected a version like 2026-11-22T03-30-00Z or v7 but received '${version}'`);
  if (await store.head(keys.manifest(version))) throw new InvalidArgumentError(`version ${version} is already published: versions are immutable`);
  const all = [input.modelKey, ...input.shards.flatMap((s) => s.artifacts)];
  const artifacts: ArtifactRef[] = [];
  for (const key of all) artifacts.push(await describe(store, key));
  const manifest: Manifest = {
    format: 'lemur-manifest',
    version,
    createdAt: new Date().toISOString(),
    config: input.config,
    docs: input.shards.reduce((a, s) => a + s.docs, 0),
    shards: input.shards,
    artifacts,
  };
  await store.put(keys.manifest(version), Buffer.from(JSON.stringify(manifest, null, 2)));
  await setCurrent(store, version);
  return manifest;
}

export async function readManifest(store: ObjectStore, version: string): Promise<Manifest> {
  const key = keys.manifest(version);
  let m: Manifest;
  try {
    m = JSON.parse((await store.get(key)).toString('utf8')) as Manifest;
  } catch (err) {
    if (err instanceof SyntaxError) throw new CorruptFileError(`${store.url}/${key}: not valid JSON`, `${store.url}/${key}`);
    throw err;
  }
  if (m.format !== 'lemur-manifest' || m.version !== version) throw new CorruptFileError(`${store.url}/${key}: not the manifest of version ${version}`, `${store.url}/${key}`);
  return m;
}

/** Re-hashes every artifact of a version. @throws CorruptFileError naming the first that differs */
export async function verifyVersion(store: ObjectStore, version: string): Promise<Manifest> {
  const m = await readManifest(store, version);
  for (const a of m.artifacts) {
    const now = await describe(store, a.key).catch(() => undefined);
    if (!now || now.sha256 !== a.sha256 || now.bytes !== a.bytes) {
      throw new CorruptFileError(`version ${version}: artifact ${a.key} ${now ? 'differs from its manifest entry' : 'is missing'}`, `${store.url}/${a.key}`);
    }
  }
  return m;
}

async function setCurrent(store: ObjectStore, version: string): Promise<void> {
  await store.put(keys.current(), Buffer.from(JSON.stringify({ version, at: new Date().toISOString() })));
}

/** The version `current` points to, or undefined before the first publish. */
export async function currentVersion(store: ObjectStore): Promise<string | undefined> {
  if (!(await store.head(keys.current()))) return undefined;
  return (JSON.parse((await store.get(keys.current())).toString('utf8')) as { version: string }).version;
}

/** Published versions, oldest first. */
export async function listVersions(store: ObjectStore): Promise<{ version: string; createdAt: string; docs: number; current: boolean }[]> {
  const cur = await currentVersion(store);
  const out = [];
  for (const o of await store.list('versions/')) {
    if (!o.key.endsWith('/manifest.json')) continue;
    const version = o.key.split('/')[1]!;
    const m = await readManifest(store, version);
    out.push({ version, createdAt: m.createdAt, docs: m.docs, current: version === cur });
  }
  return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
}

/**
 * Moves `current` to `to`, or to the version published before the current one.
 * @throws InvalidArgumentError when there is nothing to roll back to
 */
export async function rollback(store: ObjectStore, to?: string): Promise<string> {
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
  await setCurrent(store, target);
  return target;
}
