/**
 * The build stages after loading, as plain functions over the object store (the queue workers
 * call these; a single process can call them in order): train ψ on all shards, weight each
 * shard's documents, index each shard's W rows (publishing is src/pipeline/publish-stage.ts,
 * which also deletes the W rows: a published version keeps them inside its indexes, and as
 * W.f32 only where keepsWeights says so).
 */
import { join } from 'node:path';

import { config } from '../config.js';
import { InputDataError } from '../errors.js';
import { metrics } from '../metrics.js';
import type { ShardEntry } from '../versions/manifest.js';
import { fitLemur, type FitLemurOptions } from '../model/fit-lemur.js';
import { LemurModel } from '../model/lemur-model.js';
import { IpIndex, type IpStorage } from '../native/ip-index.js';
import { TokenStore } from '../native/token-store.js';
import { readWeights } from '../store/files.js';
import { keys } from '../store/keys.js';
import { localCopy, type LocalCopy } from '../store/local-copy.js';
import type { ObjectStore } from '../store/object-store.js';
import { makeScratchDir } from '../store/scratch.js';
import type { LoadedShard } from '../store/loaded-shard.js';

async function openShardStores(store: ObjectStore, shards: LoadedShard[]): Promise<{ stores: TokenStore[]; copies: LocalCopy[] }> {
  const copies: LocalCopy[] = [];
  const stores: TokenStore[] = [];
  try {
    for (const s of shards) {
      const c = await localCopy(store, s.tokensKey);
      copies.push(c);
      stores.push(await TokenStore.open(c.path));
    }
  } catch (err) {
    for (const s of stores) s.close();
    for (const c of copies) c.release();
    throw err;
  }
  return { stores, copies };
}

/** Trains the version's model on every shard and stores it under keys.model(version). */
export async function trainStage(store: ObjectStore, version: string, shards: LoadedShard[], options: FitLemurOptions = {}): Promise<{ modelKey: string; seconds: number }> {
  const t0 = performance.now();
  const { stores, copies } = await openShardStores(store, shards);
  const scratch = makeScratchDir();
  try {
    const { model } = await fitLemur(stores, options);
    const local = join(scratch.dir, 'model.lemur');
    await model.save(local);
    await store.putFile(keys.model(version), local, { move: true });
    return { modelKey: keys.model(version), seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const s of stores) s.close();
    for (const c of copies) c.release();
    scratch.cleanup();
  }
}

export async function loadModel(store: ObjectStore, modelKey: string): Promise<LemurModel> {
  const c = await localCopy(store, modelKey);
  try {
    return await LemurModel.load(c.path);
  } finally {
    c.release();
  }
}

/** A shard after the weights stage (and, with indexKey, after the index stage). */
export interface BuiltShard {
  shard: LoadedShard;
  /**
   * The shard's W rows. The index job reads them (a retried index job reads them again); the
   * publish step deletes them once the manifest is written (src/pipeline/publish-stage.ts), so
   * the published version holds the rows in its index only, unless keepsWeights(storage).
   */
  weightsKey: string;
  indexKey?: string;
  /** The index's row storage (set by the index stage). */
  storage?: IpStorage;
}

/** A shard after the index stage (storage is absent in what index jobs of older releases returned: fp32). */
export type IndexedShard = BuiltShard & { indexKey: string };

/**
 * Whether a published shard keeps its W.f32 beside its index: only with sq8 rows. Compaction
 * rebuilds an index from the rows of the old one; fp32 and fp16 rows come back as the same bits
 * (the rebuilt index is the bytes a build of the survivors gives), sq8 rows do not: ranges
 * retrained on decoded rows (bin centres) put the new centres on the old bin edges, so values
 * move by half a step, mostly the same way (the encoder truncates), and it adds up with every
 * compaction. Measured in test/pipeline/compact.test.ts (generated rows, h = 128): recall@10 of
 * the inner product 0.945, then 0.920, after one and two compactions, vs 0.958 for a clean sq8
 * build of the same rows; worst row error 1, then 1.5 steps. sq8 is chosen for query memory
 * (its rows take half of fp16's RAM); the kept W costs store bytes only.
 */
export function keepsWeights(storage: IpStorage | undefined): boolean {
  return storage === 'sq8';
}

/**
 * W rows of one shard (docs × hidden float32, little-endian) under keys.weights(version, shard),
 * with the given model (the version's own for a build, the base version's for an ingest: rows
 * are computed per document in fixed blocks, so they are bit-identical either way). The object
 * lives until the version is published (see BuiltShard.weightsKey).
 */
export async function weightsStage(store: ObjectStore, version: string, modelKey: string, shard: LoadedShard, options: { onProgress?: (done: number, total: number) => void } = {}): Promise<BuiltShard> {
  const model = await loadModel(store, modelKey);
  try {
    if (shard.dim !== model.config.dim) {
      // an ingest's shard against the base version's model (a build's shards were checked before training)
      throw new InputDataError(`${shard.sourceKey}: token vectors have dim ${shard.dim}, the model ${modelKey} has dim ${model.config.dim}`, { file: shard.sourceKey, field: 'dim' });
    }
    const { stores, copies } = await openShardStores(store, [shard]);
    try {
      const W = await model.weights(stores[0]!, undefined, { threads: config().threads, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
      const weightsKey = keys.weights(version, shard.shardId);
      await store.put(weightsKey, new Uint8Array(W.buffer, W.byteOffset, W.byteLength));
      metrics.docsWeighted.inc(shard.docs);
      return { shard, weightsKey };
    } finally {
      stores[0]!.close();
      copies[0]!.release();
    }
  } finally {
    model.close();
  }
}

/** Builds a Faiss HNSW index over W rows (ids = positions) and stores it under `key`. */
export interface IndexOptions {
  M?: number;
  efConstruction?: number;
  /** Vectors inserted so far (from the native builder, a few times a second). */
  onProgress?: (done: number, total: number) => void;
  /** Row encoding of the HNSW storage. @defaultValue 'fp32' */
  storage?: IpStorage;
}

export async function writeIndex(store: ObjectStore, key: string, W: Float32Array, docs: number, options: IndexOptions = {}): Promise<void> {
  const ix = IpIndex.create({ d: W.length / docs, kind: 'hnsw', M: options.M ?? 32, efConstruction: options.efConstruction ?? 40, storage: options.storage ?? 'fp32' });
  const scratch = makeScratchDir();
  try {
    await ix.add(W, BigInt64Array.from({ length: docs }, (_, i) => BigInt(i)), options.onProgress ? { onProgress: options.onProgress } : {});
    metrics.docsIndexed.inc(docs);
    const local = join(scratch.dir, 'index.faiss');
    await ix.save(local);
    await store.putFile(key, local, { move: true });
  } finally {
    ix.close();
    scratch.cleanup();
  }
}

/** The shard's Faiss HNSW index over its W rows (ids = positions) under keys.index(version, shard). */
export async function indexStage(store: ObjectStore, version: string, built: BuiltShard, options: IndexOptions = {}): Promise<IndexedShard> {
  const indexKey = keys.index(version, built.shard.shardId);
  const storage = options.storage ?? 'fp32';
  await writeIndex(store, indexKey, await readWeights(store, built.weightsKey), built.shard.docs, { ...options, storage });
  return { ...built, indexKey, storage };
}

/** A built shard as a manifest entry (no tombstones yet; W only where keepsWeights says so). */
export function shardEntry(b: IndexedShard): ShardEntry {
  const s = b.shard;
  return { shardId: s.shardId, sourceKey: s.sourceKey, docs: s.docs, tokens: s.tokens, tokensKey: s.tokensKey, ...(keepsWeights(b.storage) ? { weightsKey: b.weightsKey } : {}), indexKey: b.indexKey, deleted: 0 };
}
