/**
 * Published versions for the search-server tests, built in-process through the pipeline's own
 * stages (train, weights, index, publish) on a local store: one model, v1 over sources a b c (three
 * shards), v2 over a b d (different documents, so results tell the versions apart).
 */
import { join } from 'node:path';

import { generateCorpus, type Corpus } from '../../src/data/synthetic-corpus.js';
import { loadShard } from '../../src/pipeline/load-shard.js';
import { publishBuild } from '../../src/pipeline/publish-stage.js';
import { indexStage, trainStage, weightsStage, type IndexedShard } from '../../src/pipeline/stages.js';
import { LocalStore } from '../../src/store/local-store.js';
import { putCorpusShard } from './corpus-shards.js';

export const SERVE_DIM = 32;

export interface ServeFixture {
  store: LocalStore;
  corpus: Corpus;
  /** Publishes a version over these sources (keys under sources/) with the one model; moves `current`. */
  publish: (version: string, sources: string[]) => Promise<void>;
  /** Query i's token vectors and their count. */
  query: (i: number) => { vectors: Float32Array; tokens: number };
}

const RANGES: Record<string, [number, number]> = { a: [0, 300], b: [300, 600], c: [600, 900], d: [900, 1200] };

export async function serveFixture(dir: string): Promise<ServeFixture> {
  const corpus = generateCorpus({ docs: 1200, queries: 80, dim: SERVE_DIM, seed: 21, minTokens: 6, maxTokens: 30 });
  const store = new LocalStore(join(dir, 'store'));
  for (const [name, [from, to]] of Object.entries(RANGES)) await putCorpusShard(store, `sources/${name}.parquet`, corpus, from, to);
  const load = (name: string) => loadShard(store, `sources/${name}.parquet`, { dim: SERVE_DIM });
  const { modelKey } = await trainStage(store, 'model', await Promise.all(['a', 'b', 'c'].map(load)), { mPrime: 128, nLearn: 4000, olsSamples: 256, hidden: 64, epochs: 2, seed: 3 });
  const offsets = new Int32Array(corpus.queryCounts.length + 1);
  corpus.queryCounts.forEach((c, i) => (offsets[i + 1] = offsets[i]! + c));
  return {
    store,
    corpus,
    publish: async (version, sources) => {
      const built: IndexedShard[] = [];
      for (const s of sources) built.push(await indexStage(store, version, await weightsStage(store, version, modelKey, await load(s))));
      await publishBuild(store, { version, modelKey }, built);
    },
    query: (i) => ({ vectors: corpus.queryVectors.subarray(offsets[i]! * SERVE_DIM, offsets[i + 1]! * SERVE_DIM), tokens: corpus.queryCounts[i]! }),
  };
}
