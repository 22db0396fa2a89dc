/**
 * Claim: the queue and object store add little to a build. Runs, in one process and the same
 * run: (a) the build stages called directly (load every shard, train, weights and index per
 * shard, publish) and (b) the same build submitted as BullMQ flows to workers on a private
 * Redis, both over a local-folder object store; overhead_ratio = (b) / (a).
 */
import { parseArgs } from 'node:util';

import { setLogLevel } from '../src/log.js';
import { writeCorpusParquet } from '../src/data/write-corpus-parquet.js';
import { loadShard } from '../src/pipeline/load-shard.js';
import { publishBuild } from '../src/pipeline/publish-stage.js';
import { indexStage, trainStage, weightsStage } from '../src/pipeline/stages.js';
import { keys } from '../src/store/keys.js';
import { submitBuild } from '../src/queue/build-flow.js';
import { startEmbeddedRedis } from '../src/queue/embedded-redis.js';
import { waitForJob } from '../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../src/queue/queues.js';
import { LocalStore } from '../src/store/local-store.js';
import { ROLES, startRoles, type Role } from '../workers/roles.js';
import { makeTmpDir } from '../test/helpers/tmp-dir.js';
import { loadBenchDataset } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({ options: { data: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false }, shards: { type: 'string' } }, strict: true });
setLogLevel('warn');
const quick = values.quick ?? false;
const ds = loadBenchDataset(values.data, { docs: quick ? 3000 : 10000, queries: 10, seed: 42 });
const nShards = Number(values.shards ?? 4);
const fit: Record<string, number> = quick ? { mPrime: 1024, nLearn: 20000, olsSamples: 2048, hidden: 512, epochs: 2, seed: 1 } : { seed: 1 };

async function direct(store: LocalStore, sources: string[]): Promise<Record<string, number>> {
  const s: Record<string, number> = {};
  let t = performance.now();
  const shards = [];
  for (const k of sources) shards.push(await loadShard(store, k));
  s['load'] = (performance.now() - t) / 1000;
  t = performance.now();
  await trainStage(store, 'direct', shards, fit);
  s['train'] = (performance.now() - t) / 1000;
  t = performance.now();
  const weighted = [];
  for (const sh of shards) weighted.push(await weightsStage(store, 'direct', keys.model('direct'), sh));
  s['weights'] = (performance.now() - t) / 1000;
  t = performance.now();
  const built = [];
  for (const w of weighted) built.push(await indexStage(store, 'direct', w));
  s['index'] = (performance.now() - t) / 1000;
  t = performance.now();
  await publishBuild(store, { version: 'direct', modelKey: keys.model('direct') }, built);
  s['publish'] = (performance.now() - t) / 1000;
  return s;
}

const tmpA = makeTmpDir('lemur-bench-direct-');
const tmpB = makeTmpDir('lemur-bench-queue-');
const storeA = new LocalStore(tmpA.dir);
const storeB = new LocalStore(tmpB.dir);
const sourcesA = await writeCorpusParquet(storeA, 'sources/', ds.corpus, nShards);
const sourcesB = await writeCorpusParquet(storeB, 'sources/', ds.corpus, nShards);

progress('direct build (stages called in this process)');
let t0 = performance.now();
const stages = await direct(storeA, sourcesA);
const directS = (performance.now() - t0) / 1000;

progress('queued build (BullMQ flows, workers in this process, private redis-server)');
const redisDir = makeTmpDir('lemur-bench-redis-');
const redis = await startEmbeddedRedis({ dir: redisDir.dir });
const workers = startRoles(Object.keys(ROLES) as Role[], storeB, { redisUrl: redis.url });
t0 = performance.now();
await submitBuild({ redisUrl: redis.url }, { version: 'queued', sources: sourcesB, fit });
await waitForJob({ redisUrl: redis.url }, QUEUES.publish, jobIds.publish('queued'), 24 * 3600 * 1000);
const queuedS = (performance.now() - t0) / 1000;
await Promise.all(workers.map((w) => w.close()));
await redis.stop();
redisDir.cleanup();
tmpA.cleanup();
tmpB.cleanup();

emit(
  {
    bench: 'pipeline',
    machine: machineInfo(),
    dataset: ds.summary,
    shards: nShards,
    fit,
    build_s: round(queuedS, 2),
    direct_s: round(directS, 2),
    stages_direct_s: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, round(v, 2)])),
    overhead_ratio: round(queuedS / directS, 3),
  },
  values.json ?? false,
);
