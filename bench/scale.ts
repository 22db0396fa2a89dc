/**
 * Claim: the pipeline builds and serves a corpus of N documents on one machine with memory that
 * does not grow with N. `npm run bench -- scale --docs 100000,300000[,1000000] [--json]`:
 * per size, generates N documents (dim 128, src/data/corpus-stream.ts) as Parquet shards of
 * --shard-docs, builds them through the queues (one worker process per role on a private Redis,
 * a folder store), then opens the published version in a fresh query process (bench/scale-query.ts)
 * that computes the exact MaxSim top-10 of the sample queries with our kernel over the stored
 * tokens and measures recall@10, batched QPS and single-query p50 at several k'/efSearch.
 * Reports per stage wall time and peak memory of its worker, published bytes per document, and
 * the growth of every cost from the first size to the others (ratios). Checks free disk first;
 * --keep keeps each size's folder. --prior FILE adds the sizes of an earlier run's JSON to the
 * growth table (the 1 M point is long: run it once, alone).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Queue } from 'bullmq';

import { CorpusStream } from '../src/data/corpus-stream.js';
import { ENCODING_DEFAULTS } from '../src/fit-defaults.js';
import { setLogLevel } from '../src/log.js';
import { submitBuild } from '../src/queue/build-flow.js';
import { redisConnection } from '../src/queue/connection.js';
import { startEmbeddedRedis } from '../src/queue/embedded-redis.js';
import { waitForJob } from '../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../src/queue/queues.js';
import { LocalStore } from '../src/store/local-store.js';
import { readManifest } from '../src/versions/manifest.js';
import { machineInfo } from './lib/machine.js';
import { GiB, MemorySampler } from '../test/helpers/proc-memory.js';
import { emit, progress } from './lib/report.js';
import { writeStreamSources, type SourceDType } from '../src/data/write-stream-parquet.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    'shard-docs': { type: 'string', default: '100000' },
    queries: { type: 'string', default: '200' },
    'source-dtype': { type: 'string', default: 'float16' },
    dir: { type: 'string', default: join(tmpdir(), 'lemur-scale') },
    keep: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    prior: { type: 'string', multiple: true, default: [] },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
setLogLevel('warn');
const sizes = values.docs!.split(',').map(Number);
const shardDocs = Number(values['shard-docs']);
const nQueries = Number(values.queries);
const sourceDType = values['source-dtype'] as SourceDType;
const quick = values.quick ?? false;
// the reference's fit (m' 8192, 100 000 learn vectors, h 2048, 10 epochs), or a small one to try the bench
const fit: Record<string, number> = quick ? { mPrime: 1024, nLearn: 20000, olsSamples: 2048, hidden: 512, epochs: 2, seed: 1 } : { seed: 1 };
const ROLE_NAMES = ['load', 'train', 'weights', 'index', 'publish'] as const;
const STAGE_QUEUES: Record<(typeof ROLE_NAMES)[number], string> = { load: QUEUES.load, train: QUEUES.train, weights: QUEUES.weights, index: QUEUES.index, publish: QUEUES.publish };
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const QUERY_SCRIPT = fileURLToPath(new URL('./scale-query.js', import.meta.url));
const MEAN_TOKENS = 70.2; // the stream's mean document length (log-normal median 62, σ 0.5, clipped to 30..180)

/** Bytes a build of `docs` needs on disk: sources, token stores (fp16), W (until published), indexes (fp16), 10 % slack. */
function diskNeeded(docs: number): number {
  const tokens = docs * MEAN_TOKENS * 128;
  const perDoc = tokens / docs * (sourceDType === 'float16' ? 2 : 4) + (tokens / docs) * 2 + 2048 * 4 + 2048 * 2 + 400;
  return docs * perDoc * 1.1 + 2 * GiB;
}

function seconds(t0: number): number {
  return round((performance.now() - t0) / 1000, 1);
}

/** Per stage: wall time from its first job's start to its last job's end, and the sum of job times. */
async function stageTimes(redisUrl: string): Promise<Record<string, { wall_s: number; busy_s: number; jobs: number }>> {
  const out: Record<string, { wall_s: number; busy_s: number; jobs: number }> = {};
  for (const role of ROLE_NAMES) {
    const q = new Queue(STAGE_QUEUES[role], { connection: redisConnection(redisUrl) });
    try {
      const jobs = (await q.getJobs(['completed'], 0, -1)).filter((j) => j.processedOn && j.finishedOn);
      if (jobs.length === 0) continue;
      const start = Math.min(...jobs.map((j) => j.processedOn!));
      const end = Math.max(...jobs.map((j) => j.finishedOn!));
      out[role] = { wall_s: round((end - start) / 1000, 1), busy_s: round(jobs.reduce((a, j) => a + (j.finishedOn! - j.processedOn!), 0) / 1000, 1), jobs: jobs.length };
    } finally {
      await q.close();
    }
  }
  return out;
}

function startRole(role: string, env: NodeJS.ProcessEnv, logPath: string): ChildProcess {
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(process.execPath, [CLI, 'worker', role], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

async function stopRole(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await done;
  clearTimeout(t);
}

function runQueryProcess(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [QUERY_SCRIPT, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`scale-query exited with ${code}`))));
  });
}

async function runSize(docs: number): Promise<Record<string, unknown>> {
  const root = join(values.dir!, `n${docs}`);
  mkdirSync(values.dir!, { recursive: true });
  const fs = statfsSync(values.dir!);
  const free = Number(fs.bavail) * Number(fs.bsize);
  const need = diskNeeded(docs);
  if (need > free) throw new Error(`${docs} documents need ≈ ${(need / GiB).toFixed(1)} GiB on disk at ${values.dir}, ${(free / GiB).toFixed(1)} GiB are free`);
  progress(`${docs} docs: needs ≈ ${(need / GiB).toFixed(1)} GiB, ${(free / GiB).toFixed(1)} GiB free at ${values.dir}`);
  rmSync(root, { recursive: true, force: true });
  const storeDir = join(root, 'store');
  mkdirSync(storeDir, { recursive: true });
  const result: Record<string, unknown> = { docs };
  try {
    // 1. sources
    let t0 = performance.now();
    // blocks (row groups) of ≤ 4096 documents that divide a shard exactly
    const blockDocs = Math.ceil(shardDocs / Math.ceil(shardDocs / 4096));
    const stream = new CorpusStream({ docs, queries: nQueries, seed: 7, blockDocs });
    const src = writeStreamSources(stream, storeDir, 'sources/', shardDocs, sourceDType, (d, n) => progress(`sources: ${d}/${n} shards (${seconds(t0)} s)`));
    const q = stream.queries;
    writeFileSync(join(root, 'queries.f32'), q.vectors);
    writeFileSync(join(root, 'query_counts.i32'), q.counts);
    result['tokens'] = src.tokens;
    result['shards'] = src.keys.length;
    result['generate_s'] = seconds(t0);

    // 2. build through the queues, one worker process per role
    const redis = await startEmbeddedRedis({ dir: root });
    const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: storeDir, REDIS_URL: redis.url, LEMUR_LOG_FORMAT: 'json', LEMUR_CACHE_DIR: join(root, 'cache') };
    delete env['NODE_TEST_CONTEXT'];
    const sampler = new MemorySampler(250);
    const workers = ROLE_NAMES.map((r) => {
      const c = startRole(r, env, join(root, `worker-${r}.log`));
      sampler.watch(r, c.pid!);
      return c;
    });
    try {
      t0 = performance.now();
      progress(`build: ${src.keys.length} shards, fit ${JSON.stringify(fit)}`);
      await submitBuild({ redisUrl: redis.url }, { version: 'scale', sources: src.keys, fit, encoding: ENCODING_DEFAULTS });
      await waitForJob({ redisUrl: redis.url }, QUEUES.publish, jobIds.publish('scale'), 24 * 3600 * 1000);
      result['build_s'] = seconds(t0);
      const times = await stageTimes(redis.url);
      const peaks = sampler.peaks();
      result['stages'] = Object.fromEntries(ROLE_NAMES.map((r) => [r, { ...times[r], peak_rss_gib: round(peaks[r]!.vmHwm / GiB, 2), peak_rss_anon_gib: round(peaks[r]!.rssAnon / GiB, 2) }]));
      result['worker_peak_rss_gib'] = round(Math.max(...ROLE_NAMES.map((r) => peaks[r]!.vmHwm)) / GiB, 2);
    } finally {
      sampler.stop();
      await Promise.all(workers.map(stopRole));
      await redis.stop();
    }

    // 3. what was published
    const store = new LocalStore(storeDir);
    const manifest = await readManifest(store, 'scale');
    const bytesOf = (re: RegExp): number => manifest.artifacts.filter((a) => re.test(a.key)).reduce((s, a) => s + a.bytes, 0);
    const published = bytesOf(/^(?!.*model\.lemur$)/);
    result['published'] = {
      bytes_per_doc: round(published / docs, 0),
      tokens_per_doc: round(bytesOf(/tokens/) / docs, 0),
      index_per_doc: round(bytesOf(/index\.faiss$/) / docs, 0),
      weights_per_doc: round(bytesOf(/W\.f32$/) / docs, 0),
      model_bytes: bytesOf(/model\.lemur$/),
      total_gib: round((published + bytesOf(/model\.lemur$/)) / GiB, 2),
    };

    // 4. serve it from a fresh process
    progress('query process: open, exact ground truth, searches');
    result['query'] = await runQueryProcess(['--store', storeDir, '--version', 'scale', '--queries', join(root, 'queries.f32'), '--counts', join(root, 'query_counts.i32')], env);
    return result;
  } finally {
    if (!values.keep) rmSync(root, { recursive: true, force: true });
  }
}

const points: Record<string, unknown>[] = [];
for (const f of values.prior ?? []) points.push(...((JSON.parse(readFileSync(f, 'utf8')) as { points: Record<string, unknown>[] }).points));
for (const docs of sizes) {
  progress(`=== ${docs} documents ===`);
  points.push(await runSize(docs));
}
points.sort((a, b) => (a['docs'] as number) - (b['docs'] as number));

/** Each size's costs over the smallest size's: time and memory growth beside the growth in documents. */
function growth(): Record<string, unknown>[] {
  const base = points[0]!;
  const get = (p: Record<string, unknown>, path: string): number | undefined => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], p) as number | undefined;
  const ratio = (p: Record<string, unknown>, path: string): number | null => {
    const a = get(p, path);
    const b = get(base, path);
    return a !== undefined && b ? round(a / b, 2) : null;
  };
  return points.slice(1).map((p) => ({
    docs: p['docs'],
    docs_ratio: round((p['docs'] as number) / (base['docs'] as number), 2),
    build_s: ratio(p, 'build_s'),
    ...Object.fromEntries(ROLE_NAMES.map((r) => [`${r}_s`, ratio(p, `stages.${r}.wall_s`)])),
    ...Object.fromEntries(ROLE_NAMES.map((r) => [`${r}_peak_rss`, ratio(p, `stages.${r}.peak_rss_gib`)])),
    query_rss_anon: ratio(p, 'query.rss_anon_gib'),
  }));
}

emit(
  {
    bench: 'scale',
    machine: machineInfo(),
    generator: { kind: 'src/data/corpus-stream.ts', dim: 128, mean_tokens: MEAN_TOKENS, seed: 7, source_dtype: sourceDType },
    shard_docs: shardDocs,
    queries: nQueries,
    fit,
    encoding: ENCODING_DEFAULTS,
    goals_at_1m: { build_s: 5400, worker_peak_rss_gib: 6, published_bytes_per_doc: 24000, query_rss_anon_gib: 8, recall_at_10: 0.9 },
    points,
    growth: growth(),
  },
  values.json ?? false,
);
