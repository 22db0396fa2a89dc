/**
 * Claim (issue 16): `lemur serve` answers searches over HTTP nearly as fast as the same engine
 * called in-process, and swaps versions under load without failing a request.
 * `npm run bench -- serve [--data DIR] [--json] [--quick]`, in one run:
 *   1. a version of the corpus (--data, e.g. the shared `small`; else 10 000 generated documents)
 *      built once through the pipeline's stages into a store under --dir (kept between runs: the
 *      next run reuses it), in --shard-docs shards (2 for `small`), plus a second version of the
 *      same documents fitted with another seed, published as a candidate (not current);
 *   2. in-process baselines on that version's QueryEngine (openVersion, HNSW candidates, k 10,
 *      k' 100): batched QPS in batches of the server's max batch, and single-query p50/p99;
 *   3. `lemur serve` in a child process (its own event loop) under autocannon load from this
 *      process at several concurrencies (base64 float32 tensors, one query per request): QPS,
 *      p50/p99/p99.9, non-2xx, CPU of client and server; ratios to the baselines and the goals;
 *   4. a swap under load: at concurrency 16 the candidate is promoted, then `current` rolled back,
 *      announced over a private Redis (the server also polls every second); every response's
 *      version counted and its ids checked against that version's in-process results;
 *   5. the 2-group routed setup against one process holding every shard (when src/serve/router.ts exists);
 *   6. batch window × max batch at concurrency 32 (the server's defaults are not changed here).
 * With --json exactly one JSON object on stdout; it is also written to bench/results/serve-<date>.json.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { config } from '../src/config.js';
import { ENCODING_DEFAULTS } from '../src/fit-defaults.js';
import { setLogLevel } from '../src/log.js';
import { planShards } from '../src/parquet/source-ref.js';
import { loadShard } from '../src/pipeline/load-shard.js';
import { publishBuild } from '../src/pipeline/publish-stage.js';
import { indexStage, trainStage, weightsStage } from '../src/pipeline/stages.js';
import { writeCorpusParquet } from '../src/data/write-corpus-parquet.js';
import { openVersion } from '../src/query/open-version.js';
import { announceCurrent } from '../src/queue/current-channel.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../src/queue/embedded-redis.js';
import { LocalStore } from '../src/store/local-store.js';
import { currentVersion } from '../src/versions/current.js';
import { promoteVersion, rollback } from '../src/versions/publish.js';
import { loadBenchDataset } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { processCpuSeconds, runLoad, startServeChild, summarize, type LoadResult, type ServeChild } from './lib/serve-load.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    dir: { type: 'string', default: join(tmpdir(), 'lemur-bench-serve') },
    rebuild: { type: 'boolean', default: false },
    'shard-docs': { type: 'string' },
    concurrency: { type: 'string' },
    seconds: { type: 'string' },
    'window-ms': { type: 'string', default: '0' },
    'max-batch': { type: 'string', default: '32' },
    'batch-concurrency': { type: 'string', default: '1' },
    parts: { type: 'string', default: 'served,swap,routed,tune' },
    'no-tune': { type: 'boolean', default: false },
  },
  strict: true,
});
setLogLevel('warn');
const quick = values.quick ?? false;
const K = 10;
const K_PRIME = 100;
const windowMs = Number(values['window-ms']);
const maxBatch = Number(values['max-batch']);
const batchConcurrency = Number(values['batch-concurrency']);
const parts = new Set(values.parts.split(','));
const seconds = Number(values.seconds ?? (quick ? 3 : 10));
const levels = (values.concurrency ?? (quick ? '1,16,32' : '1,4,16,32,64')).split(',').map(Number);
const threads = config().threads;
const fit: Record<string, number> = quick ? { mPrime: 1024, nLearn: 20000, olsSamples: 2048, hidden: 512, epochs: 2 } : {};
const notes: string[] = [];

// ---------------------------------------------------------------------------------------------
// 1. the versions (built once per corpus and settings, kept under --dir)

const ds = loadBenchDataset(values.data, { docs: quick ? 2000 : 10000, queries: quick ? 200 : 1000, seed: 42 });
const { corpus } = ds;
const nDocs = corpus.docCounts.length;
const nq = corpus.queryCounts.length;
const shardDocs = Number(values['shard-docs'] ?? Math.ceil(nDocs / 2));
const V1 = 'serve-a';
const V2 = 'serve-b';
const root = join(values.dir!, `${values.data ? basename(values.data) : 'generated'}-${nDocs}-s${shardDocs}${quick ? '-quick' : ''}`);
const storeDir = join(root, 'store');
const builtPath = join(root, 'built.json');
const wanted = { docs: nDocs, shardDocs, fit, encoding: ENCODING_DEFAULTS, versions: [V1, V2] };

async function buildVersions(): Promise<number> {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(storeDir, { recursive: true });
  const free = Number(statfsSync(root).bavail) * Number(statfsSync(root).bsize);
  if (free < 4 * 2 ** 30) throw new Error(`${root}: ${(free / 2 ** 30).toFixed(1)} GiB free, the store needs ≈ 1 GiB plus headroom`);
  const t0 = performance.now();
  const store = new LocalStore(storeDir);
  const files = await writeCorpusParquet(store, 'sources/', corpus, 1);
  const sources = await planShards(store, files, shardDocs);
  progress(`building ${V1} and ${V2}: ${nDocs} docs in ${sources.length} shards, fit ${JSON.stringify(fit)}`);
  const shards = [];
  for (const s of sources) shards.push(await loadShard(store, s, { dtype: ENCODING_DEFAULTS.tokens }));
  for (const [version, seed, promote] of [[V1, 1, true], [V2, 2, false]] as const) {
    const { modelKey } = await trainStage(store, version, shards, { ...fit, seed });
    const built = [];
    for (const sh of shards) built.push(await indexStage(store, version, await weightsStage(store, version, modelKey, sh), { storage: ENCODING_DEFAULTS.index }));
    await publishBuild(store, { version, modelKey, promote, encoding: ENCODING_DEFAULTS }, built);
    progress(`${version} published (${round((performance.now() - t0) / 1000, 1)} s)`);
  }
  const buildS = (performance.now() - t0) / 1000;
  writeFileSync(builtPath, JSON.stringify({ ...wanted, build_s: round(buildS, 1) }));
  return buildS;
}

let built: { cached: boolean; build_s: number };
const prior = existsSync(builtPath) ? (JSON.parse(readFileSync(builtPath, 'utf8')) as typeof wanted & { build_s: number }) : undefined;
if (!values.rebuild && prior && JSON.stringify({ ...prior, build_s: undefined }) === JSON.stringify({ ...wanted, build_s: undefined })) {
  progress(`reusing the versions in ${storeDir}`);
  built = { cached: true, build_s: prior.build_s };
} else {
  built = { cached: false, build_s: round(await buildVersions(), 1) };
}
const store = new LocalStore(storeDir);
if ((await currentVersion(store)) !== V1) await promoteVersion(store, V1);

// one body per query: base64 little-endian float32 tokens (cheap for the server to decode)
const qOff = [0];
for (const c of corpus.queryCounts) qOff.push(qOff[qOff.length - 1]! + c);
const queryOf = (q: number): Float32Array => corpus.queryVectors.subarray(qOff[q]! * corpus.dim, qOff[q + 1]! * corpus.dim);
const bodies = Array.from({ length: nq }, (_, q) => {
  const v = queryOf(q);
  return JSON.stringify({ tensor: { dtype: 'float32', shape: [corpus.queryCounts[q], corpus.dim], data: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }, k: K, kPrime: K_PRIME });
});

// ---------------------------------------------------------------------------------------------
// 2. in-process baselines (and each version's expected ids, to check served answers)

const searchOpts = { k: K, kPrime: K_PRIME, candidates: 'hnsw' as const, threads };
const expected: Record<string, string[][]> = {};

async function inProcess(version: string, measure: boolean): Promise<Record<string, unknown> | undefined> {
  const opened = await openVersion(store, version);
  try {
    const { engine } = opened;
    const batches: [number, number][] = [];
    for (let q = 0; q < nq; q += maxBatch) batches.push([q, Math.min(nq, q + maxBatch)]);
    const runAll = async (): Promise<string[][]> => {
      const ids: string[][] = [];
      for (const [a, b] of batches) {
        const r = await engine.search(corpus.queryVectors.subarray(qOff[a]! * corpus.dim, qOff[b]! * corpus.dim), corpus.queryCounts.subarray(a, b), searchOpts);
        for (let i = 0; i < b - a; i++) ids.push(r.row(i).ids.filter((x) => x !== null).map(String));
      }
      return ids;
    };
    expected[version] = await runAll(); // also the warm-up
    if (!measure) return undefined;
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await runAll();
      runs.push((performance.now() - t) / 1000);
    }
    runs.sort((a, b) => a - b);
    const singles = Math.min(nq, quick ? 100 : 500);
    const lat: number[] = [];
    for (let q = 0; q < Math.min(20, singles); q++) await engine.search(queryOf(q), corpus.queryCounts.subarray(q, q + 1), searchOpts);
    for (let q = 0; q < singles; q++) {
      const t = performance.now();
      await engine.search(queryOf(q), corpus.queryCounts.subarray(q, q + 1), searchOpts);
      lat.push(performance.now() - t);
    }
    const s = summarize(lat);
    return {
      batch: maxBatch,
      batched_qps: round(nq / runs[1]!, 1),
      batched_qps_spread: [round(nq / runs[2]!, 1), round(nq / runs[0]!, 1)],
      single_samples: singles,
      single_p50_ms: s.p50_ms,
      single_p99_ms: s.p99_ms,
      single_qps: round(1000 / s.mean_ms, 1),
    };
  } finally {
    opened.close();
  }
}

progress(`in-process baselines on ${V1} (k ${K}, k' ${K_PRIME}, HNSW candidates, ${threads} threads)`);
const baseline = (await inProcess(V1, true))!;
await inProcess(V2, false);
progress(`in-process: ${JSON.stringify(baseline)}`);
let same = 0;
for (let q = 0; q < nq; q++) if (expected[V1]![q]!.join() === expected[V2]![q]!.join()) same++;
if (same === nq) throw new Error(`${V1} and ${V2} answer every query alike: the swap could not be observed`);

// ---------------------------------------------------------------------------------------------
// 3. served

const logDir = join(root, 'logs');
mkdirSync(logDir, { recursive: true });
const baseEnv: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: storeDir, LEMUR_LOG_FORMAT: 'json' };
delete baseEnv['REDIS_URL'];
delete baseEnv['NODE_TEST_CONTEXT'];
const children = new Set<ServeChild>();
let redis: EmbeddedRedis | undefined;

async function serve(args: string[], env: NodeJS.ProcessEnv = baseEnv, name = 'serve'): Promise<ServeChild> {
  const c = await startServeChild(['--window-ms', String(windowMs), '--max-batch', String(maxBatch), '--batch-concurrency', String(batchConcurrency), ...args], env, join(logDir, `${name}.log`));
  children.add(c);
  return c;
}

async function stopChild(c: ServeChild): Promise<void> {
  await c.stop();
  children.delete(c);
}

async function cleanup(): Promise<void> {
  for (const c of children) await c.stop();
  children.clear();
  await redis?.stop();
  redis = undefined;
}
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

const strip = ({ records: _r, ...rest }: LoadResult): Omit<LoadResult, 'records'> => rest;

async function servedLevels(): Promise<(Omit<LoadResult, 'records'> & { mean_batch_queries: number })[]> {
  const c = await serve([], baseEnv, 'serve-levels');
  try {
    progress(`lemur serve at ${c.url} (window ${windowMs} ms, max batch ${maxBatch}); warm-up`);
    await runLoad({ url: c.url, connections: 16, durationS: quick ? 1 : 3, bodies });
    const out = [];
    for (const n of levels) {
      // queries in the engine call that answered each request (timings.batchQueries, read without parsing the body)
      let batchSum = 0;
      let batchN = 0;
      const onBody = (status: number, body: string): void => {
        const m = status === 200 ? /"batchQueries":(\d+)/.exec(body) : null;
        if (m) (batchSum += Number(m[1])), batchN++;
      };
      const r = { ...strip(await runLoad({ url: c.url, connections: n, durationS: seconds, bodies, onBody }, c.pid)), mean_batch_queries: round(batchSum / Math.max(1, batchN), 1) };
      progress(`c=${n}: ${r.qps} QPS, p50 ${r.latency.p50_ms} ms, p99 ${r.latency.p99_ms} ms, non-2xx ${r.non2xx}, batch ${r.mean_batch_queries}, client ${r.client_cores} cores, server ${r.server_cores} cores`);
      out.push(r);
    }
    return out;
  } finally {
    await stopChild(c);
  }
}

// ---------------------------------------------------------------------------------------------
// 4. swap and rollback under load

async function swapUnderLoad(): Promise<Record<string, unknown>> {
  mkdirSync(join(root, 'redis'), { recursive: true });
  redis = await startEmbeddedRedis({ dir: join(root, 'redis') });
  const c = await serve(['--poll-seconds', '1'], { ...baseEnv, REDIS_URL: redis.url }, 'serve-swap');
  const durationS = quick ? 8 : 30;
  const perVersion: Record<string, number> = {};
  let mismatched = 0;
  let unparsed = 0;
  const answers: { at: number; version: string }[] = [];
  const events: Record<string, number> = {};
  let t0 = 0;
  const timers: NodeJS.Timeout[] = [];
  const move = async (what: string, fn: () => Promise<unknown>, version: string): Promise<void> => {
    events[`${what}_at_ms`] = round(performance.now() - t0, 1);
    await fn();
    await announceCurrent(redis!.url, store.url, version);
    events[`${what}_announced_at_ms`] = round(performance.now() - t0, 1);
  };
  const pending: Promise<void>[] = [];
  try {
    progress(`swap under load: ${durationS} s at c=16, promote ${V2} at 30 %, roll back to ${V1} at 60 %`);
    const r = await runLoad(
      {
        url: c.url,
        connections: 16,
        durationS,
        bodies,
        onStart: (t) => {
          t0 = t;
          timers.push(setTimeout(() => pending.push(move('promote', () => promoteVersion(store, V2), V2)), durationS * 300));
          timers.push(setTimeout(() => pending.push(move('rollback', () => rollback(store, V1), V1)), durationS * 600));
        },
        onBody: (status, body, i) => {
          if (status !== 200) return;
          try {
            const b = JSON.parse(body) as { version: string; results: { ids: string[] }[] };
            perVersion[b.version] = (perVersion[b.version] ?? 0) + 1;
            answers.push({ at: performance.now() - t0, version: b.version });
            if (b.results[0]!.ids.join() !== expected[b.version]?.[i]?.join()) mismatched++;
          } catch {
            unparsed++;
          }
        },
      },
      c.pid,
    );
    await Promise.all(pending);
    const promoteAt = events['promote_at_ms']!;
    const rollbackAt = events['rollback_at_ms']!;
    const firstV2 = answers.find((a) => a.version === V2)?.at;
    const lastV2 = [...answers].reverse().find((a) => a.version === V2)?.at;
    const firstV1After = answers.find((a) => a.version === V1 && a.at > rollbackAt)?.at;
    const ok = r.records.filter((x) => x.status === 200).map((x) => ({ at: x.at - t0, ms: x.ms }));
    const within = (a: number, b: number): number[] => ok.filter((x) => x.at >= a && x.at < b).map((x) => x.ms);
    const windowMs = 2000;
    const before = summarize(within(1000, promoteAt));
    const during = summarize([...within(promoteAt, promoteAt + windowMs), ...within(rollbackAt, rollbackAt + windowMs)]);
    // version changes seen in order (a response from the old version after the first of the new one is legal: it was leased before)
    return {
      connections: 16,
      duration_s: r.duration_s,
      requests: r.requests,
      qps: r.qps,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      resets: r.resets,
      status_codes: r.status_codes,
      answered_per_version: perVersion,
      ids_not_matching_answering_version: mismatched,
      unparsed_bodies: unparsed,
      ...events,
      first_answer_from_new_at_ms: firstV2 !== undefined ? round(firstV2, 1) : null,
      swap_seen_after_ms: firstV2 !== undefined ? round(firstV2 - promoteAt, 1) : null,
      last_answer_from_new_at_ms: lastV2 !== undefined ? round(lastV2, 1) : null,
      rollback_seen_after_ms: firstV1After !== undefined ? round(firstV1After - rollbackAt, 1) : null,
      latency_before_swap: before,
      latency_swap_windows: { window_ms: windowMs, ...during },
      p99_ratio_swap_vs_before: round(during.p99_ms / before.p99_ms, 2),
      latency_all: r.latency,
      client_cores: r.client_cores,
      server_cores: r.server_cores,
      zero_failed: r.non2xx === 0 && r.errors === 0 && r.timeouts === 0 && mismatched === 0 && unparsed === 0,
      both_versions_answered: (perVersion[V1] ?? 0) > 0 && (perVersion[V2] ?? 0) > 0,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    await stopChild(c);
    await redis.stop();
    redis = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// 5. routed: two shard groups behind the router vs one process holding every shard

async function routed(): Promise<Record<string, unknown>> {
  if (!existsSync(fileURLToPath(new URL('../src/serve/router.js', import.meta.url)))) return { skipped: 'router not built (src/serve/router.ts is not in this tree yet)' };
  const routedS = quick ? 3 : 10;
  const checkIds = (mismatch: { n: number }) => (status: number, body: string, i: number): void => {
    if (status !== 200) return;
    const b = JSON.parse(body) as { version: string; results: { ids: string[] }[] };
    if (b.results[0]!.ids.join() !== expected[b.version]?.[i]?.join()) mismatch.n++;
  };
  const measure = async (c: ServeChild, what: string, pids: number[]): Promise<Record<string, unknown>> => {
    await runLoad({ url: c.url, connections: 32, durationS: quick ? 1 : 3, bodies });
    const mismatch = { n: 0 };
    const cpu0 = pids.map(processCpuSeconds);
    const r = await runLoad({ url: c.url, connections: 32, durationS: routedS, bodies, onBody: checkIds(mismatch) });
    const cores = pids.map((p, i) => round((processCpuSeconds(p) - cpu0[i]!) / r.duration_s, 2));
    const row = { setup: what, qps: r.qps, p50_ms: r.latency.p50_ms, p99_ms: r.latency.p99_ms, p99_9_ms: r.latency.p99_9_ms, requests: r.requests, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, ids_not_matching_single_process: mismatch.n, process_cores: cores, client_cores: r.client_cores };
    progress(`routed ${JSON.stringify(row)}`);
    return row;
  };
  const single = await serve([], baseEnv, 'serve-single');
  let one: Record<string, unknown>;
  try {
    one = await measure(single, 'one process, every shard', [single.pid]);
  } finally {
    await stopChild(single);
  }
  const groups = [await serve(['--group', '0/2'], baseEnv, 'serve-group0'), await serve(['--group', '1/2'], baseEnv, 'serve-group1')];
  try {
    const router = await serve(['--route', '--groups', groups.map((g) => g.url).join(',')], baseEnv, 'serve-router');
    try {
      const two = await measure(router, '2 groups + router', [router.pid, ...groups.map((g) => g.pid)]);
      return {
        connections: 32,
        seconds: routedS,
        shards: Math.ceil(nDocs / shardDocs),
        single_process: one,
        routed: two,
        qps_ratio_routed_vs_single: round((two['qps'] as number) / (one['qps'] as number), 3),
        p99_ratio_routed_vs_single: round((two['p99_ms'] as number) / (one['p99_ms'] as number), 3),
        note: 'router, both groups and the load generator share the same 2 cores (each process runs LEMUR_THREADS native threads): this measures the routing overhead, not the capacity gained by spreading groups over machines',
      };
    } finally {
      await stopChild(router);
    }
  } finally {
    for (const g of groups) await stopChild(g);
  }
}

// ---------------------------------------------------------------------------------------------
// 6. batch window × max batch at c=32

async function tune(): Promise<Record<string, unknown>> {
  const rows = [];
  const tuneS = quick ? 2 : 8;
  // window 0: a request runs at once when the engine is idle; requests arriving while it runs form the next batch
  for (const w of [0, 1, 2]) {
    for (const b of [16, 32, 64]) {
      const c = await startServeChild(['--window-ms', String(w), '--max-batch', String(b)], baseEnv, join(logDir, 'serve-tune.log'));
      children.add(c);
      try {
        await runLoad({ url: c.url, connections: 32, durationS: 1, bodies });
        const r = await runLoad({ url: c.url, connections: 32, durationS: tuneS, bodies }, c.pid);
        const row: Record<string, number | null> = { window_ms: w, max_batch: b, qps: r.qps, p50_ms: r.latency.p50_ms, p99_ms: r.latency.p99_ms, non2xx: r.non2xx, server_cores: r.server_cores, client_cores: r.client_cores };
        if (b === maxBatch) {
          // the window is what a lone request waits: its cost shows at concurrency 1
          const one = await runLoad({ url: c.url, connections: 1, durationS: tuneS, bodies }, c.pid);
          Object.assign(row, { c1_qps: one.qps, c1_p50_ms: one.latency.p50_ms, c1_p99_ms: one.latency.p99_ms });
        }
        progress(`tune ${JSON.stringify(row)}`);
        rows.push(row);
      } finally {
        await stopChild(c);
      }
    }
  }
  const qps = (r: Record<string, number | null>): number => r['qps']!;
  const best = [...rows].sort((a, b) => qps(b) - qps(a))[0]!;
  // within 3 % of the best QPS, the lowest p99 wins (noise on a shared 2-core machine is about that)
  const near = rows.filter((r) => qps(r) >= 0.97 * qps(best)).sort((a, b) => a['p99_ms']! - b['p99_ms']!)[0]!;
  return {
    connections: 32,
    seconds: tuneS,
    rows,
    best_qps: { window_ms: best['window_ms'], max_batch: best['max_batch'] },
    recommended: { window_ms: near['window_ms'], max_batch: near['max_batch'], rule: 'lowest p99 at c=32 among settings within 3 % of the best QPS at c=32 (c=1 columns: the window\'s cost to a lone request)' },
  };
}

// ---------------------------------------------------------------------------------------------

let served: (Omit<LoadResult, 'records'> & { mean_batch_queries: number })[];
let swap: Record<string, unknown>;
let route: Record<string, unknown>;
let tuning: Record<string, unknown> | { skipped: string };
try {
  served = parts.has('served') ? await servedLevels() : [];
  swap = parts.has('swap') ? await swapUnderLoad() : { skipped: '--parts' };
  progress(`swap: ${JSON.stringify(swap)}`);
  route = parts.has('routed') ? await routed() : { skipped: '--parts' };
  tuning = values['no-tune'] || !parts.has('tune') ? { skipped: '--no-tune / --parts' } : await tune();
} finally {
  await cleanup();
}

const inBatched = baseline['batched_qps'] as number;
const inP99 = baseline['single_p99_ms'] as number;
const high = served.filter((r) => r.connections >= 32);
const c1 = served.find((r) => r.connections === 1);
const qpsRatios = Object.fromEntries(high.map((r) => [`c${r.connections}`, round(r.qps / inBatched, 3)]));
const p99Ratio = c1 ? round(c1.latency.p99_ms / inP99, 3) : null;
const cpuFlags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:\s*(.*)$/m)?.[1]?.split(' ') ?? [];
notes.push(
  `${machineInfo().logical_cores} logical cores shared by the server (LEMUR_THREADS ${threads} native threads + its event loop) and autocannon in this process: client_cores / server_cores per run say how much each took; the served QPS is a lower bound of what a server alone on the machine would do.`,
  'Latencies are autocannon per-response times at full resolution (its own histogram keeps whole ms); in-process single latency is one engine.search call, served latency includes HTTP, JSON and base64 on both sides.',
  `The swap publishes nothing new: ${V2} (same documents, model fitted with seed 2) is built beforehand as a candidate (publishBuild promote false) and promoted during the load, the last step of a publish; then rollback(${V1}); each move announced over a private Redis (the server also polls every 1 s).`,
);
const highMin = high.length ? Math.min(...high.map((r) => r.qps)) : NaN;
const result = {
  bench: 'serve',
  machine: { ...machineInfo(), avx512_flags: cpuFlags.filter((f) => f.startsWith('avx512')) },
  dataset: ds.summary,
  config: { docs: nDocs, queries: nq, shards: Math.ceil(nDocs / shardDocs), shard_docs: shardDocs, k: K, k_prime: K_PRIME, ef_search: 'default (2 × k\')', candidates: 'hnsw', threads, window_ms: windowMs, max_batch: maxBatch, batch_concurrency: batchConcurrency, seconds_per_level: seconds, body: 'one query per request, base64 float32 tensor', fit: { ...fit, seeds: { [V1]: 1, [V2]: 2 } }, encoding: ENCODING_DEFAULTS, versions: built, store: storeDir },
  in_process: baseline,
  served,
  ratios: { served_qps_vs_in_process_batched: qpsRatios, served_c1_p99_vs_in_process_single_p99: p99Ratio },
  goals: {
    qps_at_c_ge_32: { goal: '≥ 0.8 × in-process batched QPS', ratio_min: high.length ? round(highMin / inBatched, 3) : null, goalMet: high.length > 0 && highMin >= 0.8 * inBatched },
    p99_at_c1: { goal: '≤ 2 × in-process single-query p99', ratio: p99Ratio, goalMet: p99Ratio !== null && p99Ratio <= 2 },
    swap_zero_failed: { goal: '0 non-2xx, errors, timeouts; every answer from the version it names', goalMet: swap['zero_failed'] === true && swap['both_versions_answered'] === true },
  },
  swap_under_load: swap,
  routed: route,
  tuning,
  notes,
};
const resultsDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
const out = join(resultsDir, `serve-${new Date().toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
progress(`written to ${out}`);
if (values.json) {
  emit(result, true);
} else {
  const lines = [
    `serve bench: ${nDocs} docs, ${nq} queries, k ${K}, k' ${K_PRIME}, window ${windowMs} ms, max batch ${maxBatch}, ${threads} threads`,
    `in-process: batched ${inBatched} QPS, single p50 ${baseline['single_p50_ms']} ms, p99 ${inP99} ms`,
    ...served.map((r) => `served c=${String(r.connections).padEnd(2)}: ${String(r.qps).padStart(7)} QPS  p50 ${r.latency.p50_ms} ms  p99 ${r.latency.p99_ms} ms  p99.9 ${r.latency.p99_9_ms} ms  non-2xx ${r.non2xx}  batch ${r.mean_batch_queries}  client ${r.client_cores} / server ${r.server_cores} cores`),
    `goals: QPS c≥32 ratio ${result.goals.qps_at_c_ge_32.ratio_min} (≥ 0.8: ${result.goals.qps_at_c_ge_32.goalMet}); p99 c=1 ratio ${p99Ratio} (≤ 2: ${result.goals.p99_at_c1.goalMet})`,
    `swap under load: ${swap['requests']} requests, non-2xx ${swap['non2xx']}, errors ${swap['errors']}, timeouts ${swap['timeouts']}, per version ${JSON.stringify(swap['answered_per_version'])}, ids mismatched ${swap['ids_not_matching_answering_version']}`,
    `routed: ${JSON.stringify(route)}`,
    `tuning: ${JSON.stringify((tuning as { recommended?: unknown }).recommended ?? tuning)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
