/**
 * Claims: (1) ingesting new documents costs a fraction of rebuilding: no training, only the new
 * documents' W rows and index; (2) the queue adds little to ingestion; (3) a queued evaluation
 * serves queries about as fast as the same searches run in one process. One run, one process,
 * a private Redis, a local-folder store:
 *   build v1 from 80 % of the corpus; ingest the other 20 % (queued) → ingest_s; the same
 *   stages called directly (load, weights, index, publish) → ingest_direct_s; a full queued rebuild of 100 % → rebuild_s;
 *   queued eval of the queries (2 settings, exact truth for a sample) against the same
 *   searches in this process.
 * ingest_vs_rebuild = ingest_s / rebuild_s; ingest_overhead = ingest_s / ingest_direct_s;
 * eval_qps_ratio = queued worker QPS / in-process QPS (per setting).
 */
import { parseArgs } from 'node:util';

import { writeCorpusParquet } from '../src/data/write-corpus-parquet.js';
import type { EvalReport } from '../src/eval/report.js';
import { evalJobIds, submitEval } from '../src/eval/submit-eval.js';
import { readManifest } from '../src/versions/manifest.js';
import { setLogLevel } from '../src/log.js';
import { loadShard } from '../src/pipeline/load-shard.js';
import { publishIngest } from '../src/pipeline/publish-stage.js';
import { indexStage, weightsStage } from '../src/pipeline/stages.js';
import { openVersion } from '../src/query/open-version.js';
import { submitBuild, submitIngest } from '../src/queue/build-flow.js';
import { startEmbeddedRedis } from '../src/queue/embedded-redis.js';
import { waitForJob } from '../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../src/queue/queues.js';
import { keys } from '../src/store/keys.js';
import { LocalStore } from '../src/store/local-store.js';
import { ROLES, startRoles, type Role } from '../workers/roles.js';
import { makeTmpDir } from '../test/helpers/tmp-dir.js';
import { loadBenchDataset } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({ options: { data: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } }, strict: true });
setLogLevel('warn');
const quick = values.quick ?? false;
const ds = loadBenchDataset(values.data, { docs: quick ? 3000 : 10000, queries: 1000, seed: 42 });
const fit: Record<string, number> = quick ? { mPrime: 1024, nLearn: 20000, olsSamples: 2048, hidden: 512, epochs: 2, seed: 1 } : { seed: 1 };
const n = ds.corpus.docCounts.length;
const cut = Math.floor(n * 0.8);

const tmp = makeTmpDir('lemur-bench-incremental-');
const store = new LocalStore(tmp.dir);
const base = await writeCorpusParquet(store, 'base/', ds.corpus, 4, { to: cut });
const added = await writeCorpusParquet(store, 'new/', ds.corpus, 1, { from: cut, stem: 'new' });
const redisDir = makeTmpDir('lemur-bench-redis-');
const redis = await startEmbeddedRedis({ dir: redisDir.dir });
const t = { redisUrl: redis.url };
const workers = startRoles(Object.keys(ROLES) as Role[], store, t);
const wall = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

try {
  progress(`build v1 from ${cut} documents`);
  const buildS = await wall(async () => {
    await submitBuild(t, { version: 'v1', sources: base, fit });
    await waitForJob(t, QUEUES.publish, jobIds.publish('v1'), 24 * 3600_000);
  });
  const m1 = await readManifest(store, 'v1');
  progress(`ingest ${n - cut} documents (queued)`);
  const ingestS = await wall(async () => {
    await submitIngest(t, { version: 'v2', base: 'v1', modelKey: m1.modelKey, sources: added, driftFraction: 1 });
    await waitForJob(t, QUEUES.publish, jobIds.publish('v2'), 24 * 3600_000);
  });
  progress('the same ingest, stages called directly');
  const directS = await wall(async () => {
    const shard = await loadShard(store, added[0]!);
    const built = await indexStage(store, 'direct', await weightsStage(store, 'direct', m1.modelKey, shard));
    await publishIngest(store, { version: 'direct', base: 'v2', modelKey: m1.modelKey }, [built]);
  });
  progress(`full rebuild of ${n} documents (queued)`);
  const rebuildS = await wall(async () => {
    await submitBuild(t, { version: 'v3', sources: [...base, ...added], fit });
    await waitForJob(t, QUEUES.publish, jobIds.publish('v3'), 24 * 3600_000);
  });

  const settings = [
    { kPrime: 100, efSearch: 200, candidates: 'hnsw' as const },
    { kPrime: 100, efSearch: 100, candidates: 'bruteforce' as const },
  ];
  const queries = { dim: ds.corpus.dim, vectors: ds.corpus.queryVectors, counts: ds.corpus.queryCounts, ids: Array.from(ds.corpus.queryCounts, (_, i) => `q${i}`) };
  progress(`queued evaluation of ${queries.counts.length} queries`);
  const evalS = await wall(async () => {
    await submitEval(t, store, { evalId: 'bench', versions: ['v2'], settings, k: 10, queries, batchSize: 250, truth: { exactSample: 200 } });
    await waitForJob(t, QUEUES.eval, evalJobIds.report('bench'), 24 * 3600_000);
  });
  const report = JSON.parse((await store.get(keys.evalReport('bench', 'json'))).toString()) as EvalReport;
  progress('the same searches in this process');
  const opened = await openVersion(store, 'v2');
  const direct: Record<string, number> = {};
  try {
    for (const s of settings) {
      const secs = await wall(() => opened.engine.search(queries.vectors, queries.counts, { k: 10, ...s }));
      direct[s.candidates] = queries.counts.length / secs;
    }
  } finally {
    opened.close();
  }
  emit(
    {
      bench: 'incremental',
      machine: machineInfo(),
      dataset: ds.summary,
      fit,
      docs_base: cut,
      docs_added: n - cut,
      build_s: round(buildS, 2),
      ingest_s: round(ingestS, 2),
      ingest_docs_per_s: round((n - cut) / ingestS, 1),
      ingest_direct_s: round(directS, 2),
      rebuild_s: round(rebuildS, 2),
      ingest_vs_rebuild: round(ingestS / rebuildS, 3),
      ingest_overhead: round(ingestS / directS, 3),
      eval_wall_s: round(evalS, 2),
      eval: report.settings.map((s) => ({
        setting: s.setting,
        recall: s.recall,
        queued_qps: s.qps,
        direct_qps: round(direct[s.candidates]!, 1),
        eval_qps_ratio: round(s.qps / direct[s.candidates]!, 3),
        p50_ms: s.latencyMs.p50,
        p99_ms: s.latencyMs.p99,
      })),
    },
    values.json ?? false,
  );
} finally {
  await Promise.all(workers.map((w) => w.close()));
  await redis.stop();
  redisDir.cleanup();
  tmp.cleanup();
}
