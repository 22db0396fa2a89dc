/**
 * A version's manifest: config, shards, doc counts, tombstones, size and sha256 of every
 * artifact. Written once every artifact exists and hashes as recorded (src/versions/publish.ts);
 * readers check it, so they never see a half-written version.
 */
import { CorruptFileError, InvalidArgumentError, StoreError } from '../errors.js';
import type { ArtifactEncoding } from '../fit-defaults.js';
import type { ReadShardOptions } from '../parquet/read-shard.js';
import { hashObject } from '../store/files.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { currentVersion } from './current.js';

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
  /**
   * The shard's W rows as float32: for sq8 index rows (src/pipeline/stages.ts keepsWeights says
   * why), and in every shard of versions published before W became a build-only artifact.
   * Otherwise absent: the index holds the rows and compaction reads them there
   * (src/pipeline/shard-rows.ts).
   */
  weightsKey?: string;
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
  /** How the version's Parquet sources were read (column names, dim, blob element type): an ingest reads its sources the same way unless told otherwise. */
  input?: ReadShardOptions;
  /** How token stores and index rows are stored; absent: float32 tokens and fp32 rows (versions before encodings were chosen). */
  encoding?: ArtifactEncoding;
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

/** An artifact's size and sha256, as the manifest records it (hashed as it streams, never held whole). */
export async function describeArtifact(store: ObjectStore, key: string): Promise<ArtifactRef> {
  try {
    const { bytes, sha256 } = await hashObject(store, key);
    return { key, bytes, sha256 };
  } catch (err) {
    if (err instanceof StoreError && err.notFound) throw new InvalidArgumentError(`cannot publish: artifact '${key}' does not exist`);
    throw err;
  }
}

/** Every artifact key of a shard. */
export function shardArtifacts(s: ShardEntry): string[] {
  return [s.tokensKey, ...(s.weightsKey ? [s.weightsKey] : []), s.indexKey, ...(s.deletedKey ? [s.deletedKey] : [])];
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

/**
 * The version a new version derives from: `current`, unless a first attempt of the same job
 * already published it (and died before its completion was recorded): then what that attempt
 * derived from. From `current` (the new version itself by then) a retry would see its own work
 * done and report nothing deleted, compacted or added.
 */
export async function baseVersion(store: ObjectStore, version: string): Promise<string | undefined> {
  const done = await findManifest(store, version);
  return done ? done.base : currentVersion(store);
}

/** Re-hashes every artifact of a version. @throws CorruptFileError naming the first that differs */
export async function verifyVersion(store: ObjectStore, version: string): Promise<Manifest> {
  const m = await readManifest(store, version);
  for (const a of m.artifacts) {
    const now = await describeArtifact(store, a.key).catch(() => undefined);
    if (!now || now.sha256 !== a.sha256 || now.bytes !== a.bytes) {
      throw new CorruptFileError(`version ${version}: artifact ${a.key} ${now ? 'differs from its manifest entry' : 'is missing'}`, `${store.url}/${a.key}`);
    }
  }
  return m;
}

/** Published versions, oldest first. */
export async function listVersions(store: ObjectStore): Promise<{ version: string; createdAt: string; operation: string; docs: number; shards: number; current: boolean }[]> {
  const cur = await currentVersion(store);
  const out = [];
  for (const o of await store.list(keys.versionsPrefix)) {
    const version = keys.versionOfManifest(o.key);
    if (version === undefined) continue;
    const m = await readManifest(store, version);
    out.push({ version, createdAt: m.createdAt, operation: m.operation, docs: m.docs, shards: m.shards.length, current: version === cur });
  }
  return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
}
