/** The dataset a benchmark runs on: a ../shared/data folder (--data) or a generated corpus. */
import { join } from 'node:path';

import { readSharedDataset } from '../../src/data/shared-dataset.js';
import { maxsimExactTopK } from '../../src/native/maxsim.js';
import { TokenStore } from '../../src/native/token-store.js';
import { generateCorpus, type Corpus, type SyntheticCorpusOptions } from '../../src/data/synthetic-corpus.js';
import { makeTmpDir } from '../../test/helpers/tmp-dir.js';
import { progress } from './report.js';

export interface BenchDataset {
  corpus: Corpus;
  groundTruth: Int32Array | undefined;
  /** meta.json's summary, or "generated" with its parameters (../shared/conventions.md). */
  summary: Record<string, unknown> | { generated: SyntheticCorpusOptions };
}

export function loadBenchDataset(dir: string | undefined, generated: SyntheticCorpusOptions): BenchDataset {
  if (dir) {
    progress(`reading dataset ${dir}`);
    const d = readSharedDataset(dir);
    const { meta } = d;
    const summary: Record<string, unknown> = { path: dir };
    for (const key of ['dim', 'docs', 'queries', 'tokens', 'query_tokens', 'seed', 'generator']) {
      if (key in meta) summary[key] = meta[key];
    }
    return { corpus: d, groundTruth: d.groundTruth, summary };
  }
  progress(`generating a corpus: ${JSON.stringify(generated)}`);
  return { corpus: generateCorpus(generated), groundTruth: undefined, summary: { generated } };
}

/** Writes the corpus as an fp32 token store (ids = positions) in `dir` and opens it. */
export async function openBenchStore(corpus: Corpus, dir: string): Promise<TokenStore> {
  const path = join(dir, 'corpus.lts');
  const n = corpus.docCounts.length;
  progress(`writing token store (${n} docs)`);
  await TokenStore.write(path, { vectors: corpus.docVectors, counts: corpus.docCounts, dim: corpus.dim, ids: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) });
  return TokenStore.open(path);
}

/** Exact top-100 per query: the dataset's ground truth, or computed now (generated corpora). */
export async function groundTruthTop100(ds: BenchDataset, store: TokenStore): Promise<Int32Array> {
  if (ds.groundTruth) return ds.groundTruth;
  progress('computing exact ground truth (top-100)');
  const r = await maxsimExactTopK(ds.corpus.queryVectors, ds.corpus.queryCounts, store, 100);
  return Int32Array.from(r.labels, Number);
}

/** What the model and query benchmarks start from: the dataset, its token store and ground truth. */
export interface BenchCorpus extends BenchDataset {
  nDocs: number;
  nq: number;
  store: TokenStore;
  /** queries × 100 exact top doc positions. */
  gt: Int32Array;
  /** Closes the store and removes its folder. */
  cleanup: () => void;
}

/** The shared dataset in `dir` (or 10 000 generated docs, 3 000 with `quick`) as a token store with ground truth. */
export async function openBenchCorpus(dir: string | undefined, quick: boolean): Promise<BenchCorpus> {
  const ds = loadBenchDataset(dir, { docs: quick ? 3000 : 10000, queries: quick ? 200 : 1000, seed: 42 });
  const tmp = makeTmpDir('lemur-bench-');
  const store = await openBenchStore(ds.corpus, tmp.dir);
  const gt = await groundTruthTop100(ds, store);
  return {
    ...ds,
    nDocs: ds.corpus.docCounts.length,
    nq: ds.corpus.queryCounts.length,
    store,
    gt,
    cleanup: () => {
      store.close();
      tmp.cleanup();
    },
  };
}
