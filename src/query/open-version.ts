/**
 * Opens a published version for querying: its model, and per shard the token store, the HNSW
 * index (which holds the W rows, so W is never loaded) and the tombstones, as a QueryEngine.
 * Token stores and indexes are memory-mapped (issue 15): rows, tokens and graphs stay in the
 * page cache, shared with other query processes on the machine, not in this process's heap.
 * What it opens it owns: close() (idempotent) frees the indexes, token stores and the model's
 * native ψ, and releases any downloaded copies; the engine opens nothing.
 */
import { currentVersion } from '../versions/current.js';
import { readManifest, type Manifest } from '../versions/manifest.js';
import { InvalidArgumentError } from '../errors.js';
import { LemurModel } from '../model/lemur-model.js';
import { IpIndex } from '../native/ip-index.js';
import { TokenStore } from '../native/token-store.js';
import { readDeleted } from '../versions/tombstones.js';
import { localCopy, type LocalCopy } from '../store/local-copy.js';
import type { ObjectStore } from '../store/object-store.js';
import { QueryEngine, type EngineShard } from './query-engine.js';

export interface OpenedVersion {
  version: string;
  manifest: Manifest;
  engine: QueryEngine;
  /** The shards opened (manifest indexes): all, or a shard group's. */
  shards: number[];
  close: () => void;
}

export interface OpenVersionOptions {
  /**
   * Open only the shards whose ordinal (manifest index) this accepts: a shard group serving part
   * of a version (src/serve). The engine's hits name shards by ordinal. @defaultValue every shard
   */
  shards?: (ordinal: number) => boolean;
}

export async function openVersion(store: ObjectStore, version?: string, options: OpenVersionOptions = {}): Promise<OpenedVersion> {
  const v = version ?? (await currentVersion(store));
  if (!v) throw new InvalidArgumentError(`no published version in ${store.url}`);
  const manifest = await readManifest(store, v);
  const copies: LocalCopy[] = [];
  const stores: TokenStore[] = [];
  const indexes: IpIndex[] = [];
  let model: LemurModel | undefined;
  const release = (): void => {
    model?.close();
    for (const i of indexes) i.close();
    for (const s of stores) s.close();
    for (const c of copies) c.release();
  };
  try {
    const mc = await localCopy(store, manifest.modelKey);
    copies.push(mc);
    model = await LemurModel.load(mc.path);
    const shards: EngineShard[] = [];
    const ordinals = manifest.shards.map((_, i) => i).filter(options.shards ?? (() => true));
    if (ordinals.length === 0) throw new InvalidArgumentError(`version ${v} has ${manifest.shards.length} shards, none of them selected`);
    for (const s of ordinals.map((i) => manifest.shards[i]!)) {
      const tc = await localCopy(store, s.tokensKey);
      copies.push(tc);
      const ts = await TokenStore.open(tc.path);
      stores.push(ts);
      const ic = await localCopy(store, s.indexKey);
      copies.push(ic);
      const hnsw = await IpIndex.load(ic.path, { mmap: true });
      indexes.push(hnsw);
      // W is not loaded: the index holds the rows (the exact scan reads them there)
      shards.push({ store: ts, ids: await ts.ids(), hnsw });
    }
    const engine = new QueryEngine(model, shards, { ordinals });
    for (const [i, o] of ordinals.entries()) {
      const s = manifest.shards[o]!;
      if (s.deleted > 0) engine.tombstone(i, await readDeleted(store, s));
    }
    let open = true;
    return {
      version: v,
      manifest,
      engine,
      shards: ordinals,
      close: () => {
        if (!open) return;
        open = false;
        release();
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}
