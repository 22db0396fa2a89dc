/**
 * Published versions: a version's manifest (config, shards, doc counts, tombstones, size and
 * sha256 of every artifact) is written only once every artifact exists and hashes as recorded;
 * then the `current` pointer moves to it (one small object, replaced atomically). Old versions stay; rollback moves
 * the pointer back. Readers follow `current` and check hashes, so they never see a half-written
 * version.
 */
import { createHash } from 'node:crypto';

import { CorruptFileError, InvalidArgumentError, StoreError, VersionConflictError } from '../errors.js';
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
  /** Documents stored in the shard, tombstoned ones included (positions 0..docs-1). */
  docs: number;
  tokens: number;
  tokensKey: string;
  weightsKey: string;
  indexKey: string;
  /** Tombstoned positions (never returned; removed by compact). */
  deleted: number;
  /** Sorted uint32 positions, when deleted > 0. */
  deletedKey?: string;
}

/** How far the version's model is from the corpus it serves (the drift trigger reads this). */
export interface Lineage {
  /** The version whose train job produced the model. */
  trainedIn: string;
  /** Live documents when the model was trained. */
  trainedDocs: number;
  /** Documents ingested since (upserts included). */
  addedSinceTraining: number;
}

export interface Manifest {
  format: 'lemur-manifest';
  version: string;
  createdAt: string;
  /** The version this one was derived from (ingest, delete, compact, or the current one at a rebuild). */
  base?: string;
  /** What made this version: build, ingest, delete, compact. */
  operation: string;
  modelKey: string;
  /** Model config and anything else a reader needs to interpret the artifacts. */
  config: Record<string, unknown>;
  /** Live documents (stored minus tombstoned). */
  docs: number;
  lineage: Lineage;
  shards: ShardEntry[];
  /** Ids deleted by users, re-applied as tombstones when the corpus is rebuilt from sources. */
  deletedIdsKey?: string;
  /** Every artifact of the version (model, per-shard files) with size and hash. */
  artifacts: ArtifactRef[];
}

export type ManifestInput = Omit<Manifest, 'format' | 'version' | 'createdAt' | 'docs' | 'artifacts'>;

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

/** Every artifact key of a shard. */
export function shardArtifacts(s: ShardEntry): string[] {
  return [s.tokensKey, s.weightsKey, s.indexKey, ...(s.deletedKey ? [s.deletedKey] : [])];
}

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
  for (const key of all) artifacts.push(known.get(key) ?? (await describe(store, key)));
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

function conflict(version: string, expected: string | null, now: string | undefined): VersionConflictError {
  return new VersionConflictError(`version ${version} was derived from ${expected ?? '(none)'} but current is now ${now ?? '(none)'}; nothing was promoted, run it again`, expected ?? undefined, now);
}

/** Fails early (before writing a manifest) when current already moved away from the base. */
async function checkCurrent(store: ObjectStore, expected: string | null, version: string): Promise<void> {
  const now = await currentVersion(store);
  if ((now ?? null) !== expected) throw conflict(version, expected, now);
}

/**
 * Moves `current` to `version`; with `expected`, as a compare-and-swap on the pointer object
 * (ObjectStore.swap), so of two writers derived from the same base exactly one moves it.
 */
async function moveCurrent(store: ObjectStore, version: string, expected: string | null | undefined): Promise<void> {
  if (expected === undefined) return setCurrent(store, version);
  const raw = (await store.head(keys.current())) ? await store.get(keys.current()) : undefined;
  const now = raw ? (JSON.parse(raw.toString('utf8')) as { version: string }).version : undefined;
  if ((now ?? null) !== expected) throw conflict(version, expected, now);
  if (!(await store.swap(keys.current(), raw, pointer(version)))) throw conflict(version, expected, await currentVersion(store));
}

/** Moves `current` to an already published version (a candidate that passed its evaluation). */
export async function promoteVersion(store: ObjectStore, version: string, expectCurrent?: string | null): Promise<void> {
  await readManifest(store, version);
  await moveCurrent(store, version, expectCurrent);
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

/** The version's manifest if it is published (a retried publish derives from the same base as before). */
export async function findManifest(store: ObjectStore, version: string): Promise<Manifest | undefined> {
  return (await store.head(keys.manifest(version))) ? readManifest(store, version) : undefined;
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

function pointer(version: string): Buffer {
  return Buffer.from(JSON.stringify({ version, at: new Date().toISOString() }));
}

async function setCurrent(store: ObjectStore, version: string): Promise<void> {
  await store.put(keys.current(), pointer(version));
}

/** The version `current` points to, or undefined before the first publish. */
export async function currentVersion(store: ObjectStore): Promise<string | undefined> {
  if (!(await store.head(keys.current()))) return undefined;
  return (JSON.parse((await store.get(keys.current())).toString('utf8')) as { version: string }).version;
}

/** Published versions, oldest first. */
export async function listVersions(store: ObjectStore): Promise<{ version: string; createdAt: string; operation: string; docs: number; shards: number; current: boolean }[]> {
  const cur = await currentVersion(store);
  const out = [];
  for (const o of await store.list('versions/')) {
    if (!o.key.endsWith('/manifest.json')) continue;
    const version = o.key.split('/')[1]!;
    const m = await readManifest(store, version);
    out.push({ version, createdAt: m.createdAt, operation: m.operation, docs: m.docs, shards: m.shards.length, current: version === cur });
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
  // a publish that lands meanwhile wins: rolling back over it would silently undo it
  await moveCurrent(store, target, versions.find((v) => v.current)?.version ?? null);
  return target;
}
