/**
 * `lemur demo`: the main job end to end on embedded defaults. Generates a ColBERT-like corpus,
 * writes 80 % of it as four Parquet shards into the local store (./.lemur), builds and publishes
 * a version through the real pipeline (a private redis-server and every worker role in this
 * process when REDIS_URL is unset), ingests the other 20 % without retraining, opens the
 * resulting version, runs every query through the query engine and measures recall against exact
 * MaxSim over the whole corpus; then a queued evaluation writes the HTML report. Prints one JSON
 * line {"docs", "version", "recall_at_10", "qps", "build_s", "ingest_s", "report", …}.
 */
import { join } from 'node:path';

import { generateCorpus } from '../../data/synthetic-corpus.js';
import { writeCorpusParquet } from '../../data/write-corpus-parquet.js';
import { ConfigError } from '../../errors.js';
import { log } from '../../log.js';
import { kernelInfo } from '../../native/cpu.js';
import { maxsimExactTopK } from '../../native/maxsim.js';
import { TokenStore } from '../../native/token-store.js';
import { makeScratchDir } from '../../store/scratch.js';
import { openVersion } from '../../query/open-version.js';
import { openStore } from '../../store/open-store.js';
import { S3Store } from '../../store/s3-store.js';
import { evalJobIds, submitEval } from '../../eval/submit-eval.js';
import { waitForJob } from '../../queue/queue-status.js';
import { QUEUES } from '../../queue/queues.js';
import { keys } from '../../store/keys.js';
import type { LocalStore } from '../../store/local-store.js';
import { newVersion, parse, positiveInt, printLine, type Command } from '../command.js';
import { runBuild } from './build.js';
import { expandSettings } from './eval.js';
import { runIngest } from './ingest.js';
import { withQueues } from './with-queues.js';

/** Candidates reranked per query (across all shards), HNSW beam 2k'. */
const DEMO_K_PRIME = 200;

export interface DemoOptions {
  docs: number;
  queries: number;
  seed: number;
}

export async function runDemo(o: DemoOptions): Promise<Record<string, unknown>> {
  const store = openStore();
  if (store instanceof S3Store) throw new ConfigError('the demo writes to a local folder; unset LEMUR_STORE or point it at a folder');
  log.info('generating corpus', { docs: o.docs, queries: o.queries, seed: o.seed });
  const c = generateCorpus({ docs: o.docs, queries: o.queries, seed: o.seed });
  const prefix = 'demo/sources/';
  const incoming = 'demo/incoming/';
  for (const old of [...(await store.list(prefix)), ...(await store.list(incoming))]) await store.delete(old.key);
  const cut = Math.ceil(o.docs * 0.8);
  await writeCorpusParquet(store, prefix, c, 4, { to: cut });
  await writeCorpusParquet(store, incoming, c, 1, { from: cut, stem: 'new' });
  const stamp = newVersion();
  const built = await runBuild({
    prefix,
    version: `demo-${stamp}`,
    wait: true,
    fit: { mPrime: Math.min(2048, cut), nLearn: Math.min(30000, 10 * cut), olsSamples: 4096, hidden: 1024, epochs: 3, seed: o.seed },
    timeoutS: 3600,
  });
  // the rest of the corpus arrives later: weighted with the same model, no retraining
  const version = `demo-${stamp}-ingest`;
  const ingested = await runIngest({ source: incoming, version, wait: true, driftFraction: 1, timeoutS: 3600 });
  const k = 10;
  // exact MaxSim top-10 over the whole corpus, for recall
  const scratch = makeScratchDir();
  const exactIds: string[][] = [];
  try {
    const path = join(scratch.dir, 'all.lts');
    await TokenStore.write(path, { vectors: c.docVectors, counts: c.docCounts, dim: c.dim, ids: Array.from({ length: o.docs }, (_, i) => `doc-${i}`) });
    const all = await TokenStore.open(path);
    try {
      const exact = await maxsimExactTopK(c.queryVectors, c.queryCounts, all, k);
      for (let q = 0; q < o.queries; q++) exactIds.push(Array.from(exact.row(q).labels, (p) => `doc-${p}`));
    } finally {
      all.close();
    }
  } finally {
    scratch.cleanup();
  }
  const opened = await openVersion(store, version);
  let result: Record<string, unknown>;
  try {
    const t = performance.now();
    const r = await opened.engine.search(c.queryVectors, c.queryCounts, { k, kPrime: DEMO_K_PRIME, candidates: 'hnsw', efSearch: 2 * DEMO_K_PRIME });
    const searchS = (performance.now() - t) / 1000;
    let hit = 0;
    for (let q = 0; q < o.queries; q++) {
      const want = new Set(exactIds[q]);
      for (const id of r.row(q).ids) if (id !== null && want.has(String(id))) hit++;
    }
    result = {
      docs: o.docs,
      version,
      recall_at_10: hit / (o.queries * k),
      k_prime: DEMO_K_PRIME,
      qps: Math.round(o.queries / searchS),
      build_s: built['build_s'],
      ingest_s: ingested['ingest_s'],
      ingested: ingested['added'],
      queries: o.queries,
      shards: opened.manifest.shards.length,
      kernel: kernelInfo().kernel,
      store: store.url,
    };
  } finally {
    opened.close();
  }
  // the same queries as a queued evaluation: per-setting recall, QPS and latency, HTML report
  const queries = { dim: c.dim, vectors: c.queryVectors, counts: c.queryCounts, ids: Array.from({ length: o.queries }, (_, i) => `q${i}`) };
  const evalId = `eval-${stamp}`;
  await withQueues(store, async (target) => {
    await submitEval(target, store, { evalId, versions: [version], settings: expandSettings([50, 100, 200], undefined, ['hnsw']), k, queries, truth: { exactSample: Math.min(100, o.queries) } });
    await waitForJob(target, QUEUES.eval, evalJobIds.report(evalId), 3600_000);
  });
  result['report'] = join((store as LocalStore).root, keys.evalReport(evalId, 'html'));
  return result;
}

export const demoCommand: Command = {
  name: 'demo',
  usage: `  demo [--docs N] [--queries N] [--seed N]   generate a corpus, fit LEMUR, build the index, run the
                                              queries; prints one JSON line with recall against exact MaxSim`,
  async run(args) {
    const { values } = parse(args, { docs: { type: 'string' }, queries: { type: 'string' }, seed: { type: 'string' } });
    printLine(await runDemo({ docs: positiveInt('docs', values.docs, 4000), queries: positiveInt('queries', values.queries, 200), seed: positiveInt('seed', values.seed, 7) }));
    return 0;
  },
};
