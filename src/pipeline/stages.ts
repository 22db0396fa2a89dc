/**
 * The build stages after loading, as plain functions over the object store (the queue workers
 * call these; a single process can call them in order): train ψ on all shards, weight each
 * shard's documents, index each shard's W rows (publishing is src/pipeline/publish-stage.ts).
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
  weightsKey: string;
  indexKey?: string;
}

/**
 * W rows of one shard (docs × hidden float32, little-endian) under keys.weights(version, shard),
 * with the given model (the version's own for a build, the base version's for an ingest: rows
 * are computed per document in fixed blocks, so they are bit-identical either way).
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
export async function indexStage(store: ObjectStore, version: string, built: BuiltShard, options: IndexOptions = {}): Promise<Required<BuiltShard>> {
  const indexKey = keys.index(version, built.shard.shardId);
  await writeIndex(store, indexKey, await readWeights(store, built.weightsKey), built.shard.docs, options);
  return { ...built, indexKey };
}

/** A built shard as a manifest entry (no tombstones yet). */
export function shardEntry(b: Required<BuiltShard>): ShardEntry {
  return { shardId: b.shard.shardId, sourceKey: b.shard.sourceKey, docs: b.shard.docs, tokens: b.shard.tokens, tokensKey: b.shard.tokensKey, weightsKey: b.weightsKey, indexKey: b.indexKey, deleted: 0 };
}
