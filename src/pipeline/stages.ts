/**
 * The build stages after loading, as plain functions over the object store (the queue workers
 * call these; a single process can call them in order): train ψ on all shards, weight each
 * shard's documents, index each shard's W rows, publish the version.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';

import { config } from '../config.js';
import { publishVersion, type Manifest } from '../index/publish.js';
import { fitLemur, type FitLemurOptions } from '../model/fit-lemur.js';
import { LemurModel } from '../model/lemur-model.js';
import { IpIndex } from '../native/ip-index.js';
import { TokenStore } from '../native/token-store.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import type { LoadedShard } from './load-shard.js';
import { localCopy, type LocalCopy } from './local-copy.js';
import { makeScratchDir } from './scratch.js';

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

async function putFile(store: ObjectStore, key: string, path: string): Promise<void> {
  await store.put(key, createReadStream(path));
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
    await putFile(store, keys.model(version), local);
    return { modelKey: keys.model(version), seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const s of stores) s.close();
    for (const c of copies) c.release();
    scratch.cleanup();
  }
}

async function loadModel(store: ObjectStore, version: string): Promise<LemurModel> {
  const c = await localCopy(store, keys.model(version));
  try {
    return await LemurModel.load(c.path);
  } finally {
    c.release();
  }
}

/** W rows of one shard (docs × hidden float32, little-endian) under keys.weights(version, shard). */
export async function weightsStage(store: ObjectStore, version: string, shard: LoadedShard): Promise<{ weightsKey: string; docs: number }> {
  const model = await loadModel(store, version);
  const { stores, copies } = await openShardStores(store, [shard]);
  try {
    const W = await model.weights(stores[0]!, undefined, { threads: config().threads });
    await store.put(keys.weights(version, shard.shardId), new Uint8Array(W.buffer, W.byteOffset, W.byteLength));
    return { weightsKey: keys.weights(version, shard.shardId), docs: stores[0]!.nDocs };
  } finally {
    stores[0]!.close();
    copies[0]!.release();
  }
}

/** The shard's Faiss HNSW index over its W rows (ids = positions) under keys.index(version, shard). */
export async function indexStage(store: ObjectStore, version: string, shard: LoadedShard, options: { M?: number; efConstruction?: number } = {}): Promise<{ indexKey: string }> {
  const model = await loadModel(store, version);
  const raw = await store.get(keys.weights(version, shard.shardId));
  const W = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const ix = IpIndex.create({ d: model.hidden, kind: 'hnsw', M: options.M ?? 32, efConstruction: options.efConstruction ?? 40 });
  const scratch = makeScratchDir();
  try {
    await ix.add(W, BigInt64Array.from({ length: W.length / model.hidden }, (_, i) => BigInt(i)));
    const local = join(scratch.dir, 'index.faiss');
    await ix.save(local);
    await putFile(store, keys.index(version, shard.shardId), local);
    return { indexKey: keys.index(version, shard.shardId) };
  } finally {
    ix.close();
    scratch.cleanup();
  }
}

/** Publishes the version once every shard's artifacts exist. */
export async function publishStage(store: ObjectStore, version: string, shards: LoadedShard[]): Promise<Manifest> {
  const model = await loadModel(store, version);
  return publishVersion(store, version, {
    modelKey: keys.model(version),
    config: { ...model.config },
    shards: shards.map((s) => ({
      shardId: s.shardId,
      sourceKey: s.sourceKey,
      docs: s.docs,
      tokens: s.tokens,
      artifacts: [s.tokensKey, keys.weights(version, s.shardId), keys.index(version, s.shardId)],
    })),
  });
}
