/**
 * The dashboard and the metrics during a real build, driven in headless Chromium: the overview
 * shows the build in flight per shard, then the published version; Bull Board lists every
 * queue; a failed shard's reason is visible in both; screenshots are saved. /metrics parses as
 * Prometheus text and its counters move during the build. Basic auth rejects a wrong password,
 * and the dashboard refuses a non-loopback address without one.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import type { Worker } from 'bullmq';
import type { Browser } from 'playwright-core';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { ConfigError } from '../../src/errors.js';
import { setLogLevel } from '../../src/log.js';
import { serveMetrics } from '../../src/metrics.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../../src/queue/queues.js';
import { LocalStore } from '../../src/store/local-store.js';
import { evalJobIds, submitEval } from '../../src/eval/submit-eval.js';
import { setSchedule } from '../../src/queue/schedules.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { artifactPath, launchBrowser, watchedPage } from '../helpers/browser.js';
import { docTokens, putCorpusShard } from '../helpers/corpus-shards.js';
import { startTestRedis } from '../helpers/redis.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
const store = new LocalStore(tmp.dir);
let redis: Awaited<ReturnType<typeof startTestRedis>>;
let workers: Worker[] = [];
let metricsServer: Server;
let dash: Dashboard;
let browser: Browser;
const target = () => ({ redisUrl: redis.url, prefix: redis.prefix });
const corpus = generateCorpus({ docs: 1500, queries: 1, dim: 32, seed: 8, minTokens: 8, maxTokens: 40 });

/** Prometheus text format → samples; throws on a line that is neither a comment nor a sample. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function scrape(): Promise<Map<string, number>> {
  const r = await fetch(`http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
  return parseMetrics(await r.text());
}

before(async () => {
  redis = await startTestRedis();
  await putCorpusShard(store, 'sources/a.parquet', corpus, 0, 500);
  await putCorpusShard(store, 'sources/b.parquet', corpus, 500, 1000);
  await putCorpusShard(store, 'sources/c.parquet', corpus, 1000, 1500);
  // a shard with a document that has no tokens: its load fails, naming the row
  await putCorpusShard(store, 'broken/bad.parquet', corpus, 0, 3, new Map([[2, new Float32Array(0)]]));
  workers = startRoles(Object.keys(ROLES) as Role[], store, target());
  metricsServer = await serveMetrics(0);
  dash = await startDashboard({ store, target: target(), port: 0, refreshSeconds: 0 });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await dash?.close();
  metricsServer?.close();
  await Promise.all(workers.map((w) => w.close()));
  await redis?.stop();
  tmp.cleanup();
});

describe('dashboard and metrics', () => {
  it('shows a build in flight per shard, the published version, and Bull Board; metrics move', async () => {
    const before = await scrape();
    assert.equal(before.get('lemur_native_kernel{kernel="avx512"}') ?? before.get('lemur_native_kernel{kernel="avx2"}') ?? before.get('lemur_native_kernel{kernel="scalar"}'), 1);
    assert.ok((before.get('process_resident_memory_bytes') ?? 0) > 0);
    const errors: string[] = [];
    const page = await watchedPage(browser, errors);
    // long enough a fit (a few seconds) to catch the build while it trains
    await submitBuild(target(), { version: 'v1', sources: ['sources/a.parquet', 'sources/b.parquet', 'sources/c.parquet'], fit: { mPrime: 512, nLearn: 30000, olsSamples: 1024, hidden: 512, epochs: 6, seed: 1 } });
    let sawBuild = false;
    for (let i = 0; i < 100 && !sawBuild; i++) {
      await page.goto(dash.url);
      sawBuild = (await page.locator('table.build tbody tr').count()) === 3;
      if (!sawBuild) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(sawBuild, 'the overview showed the build in flight with its three shards');
    assert.match(await page.locator('h3').first().innerText(), /build v1: train (active|waiting|waiting-children)/);
    await page.screenshot({ path: artifactPath('dashboard-build-in-flight.png'), fullPage: true });
    await waitForJob(target(), QUEUES.publish, jobIds.publish('v1'), 180_000);
    // an evaluation and a schedule, so the overview has them to show
    const parts = Array.from({ length: 40 }, (_, i) => docTokens(corpus, i * 30));
    const vectors = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    parts.reduce((o, p) => (vectors.set(p, o), o + p.length), 0);
    const queries = { dim: 32, vectors, counts: Int32Array.from(parts, (p) => p.length / 32), ids: parts.map((_, i) => `q${i}`) };
    await submitEval(target(), store, { evalId: 'eval-dash', versions: ['v1'], settings: [{ kPrime: 50, efSearch: 100, candidates: 'hnsw' }], k: 10, queries, truth: { exactSample: 40 } });
    await waitForJob(target(), QUEUES.eval, evalJobIds.report('eval-dash'), 120_000);
    await setSchedule(target(), { name: 'nightly', cron: '0 3 * * *', tz: 'Europe/Paris', run: { source: 'sources/' } });
    await page.goto(dash.url);
    const row = page.locator('#versions tbody tr').first();
    assert.match(await row.innerText(), /v1\s+current\s+build\s+.*\s1500\s+3\s.*\s0\.\d+ \(hnsw k'=50 ef=100, eval-dash\)/s);
    assert.match(await page.locator('#schedules').innerText(), /nightly\s+0 3 \* \* \*\s+Europe\/Paris\s+sources\/\s+20\d\d-\d\d-\d\d \d\d:\d\d:\d\d/);
    await page.screenshot({ path: artifactPath('dashboard-overview.png'), fullPage: true });
    // Bull Board: every queue listed, the load queue's completed jobs shown
    await page.goto(`${dash.url}queues`);
    for (const q of Object.values(QUEUES)) await page.getByText(q, { exact: true }).first().waitFor({ timeout: 15_000 });
    await page.goto(`${dash.url}queues/queue/${QUEUES.load}?status=completed`);
    await page.getByText('v1.load.sources_a.parquet').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: artifactPath('dashboard-queues.png') });
    assert.deepEqual(errors, []);
    const after = await scrape();
    const moved = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(moved('lemur_jobs_total{queue="lemur-load",job="load-shard",outcome="completed"}'), 3);
    assert.equal(moved('lemur_jobs_total{queue="lemur-publish",job="publish-version",outcome="completed"}'), 1);
    assert.equal(moved('lemur_docs_indexed_total'), 1500);
    assert.equal(moved('lemur_job_duration_seconds_count{queue="lemur-train",job="train-psi"}'), 1);
    assert.ok(moved('lemur_job_duration_seconds_sum{queue="lemur-train",job="train-psi"}') > 0);
    // the evaluation's searches ran in this process's eval worker: queries served, with latency
    assert.ok(moved('lemur_queries_total') >= 40, `${moved('lemur_queries_total')}`);
    assert.ok(moved('lemur_search_duration_seconds_count{batch="single"}') >= 8);
    assert.ok(moved('lemur_jobs_total{queue="lemur-eval",job="eval-report",outcome="completed"}') === 1);
  });

  it("shows a failed shard's reason on the overview and in Bull Board", async () => {
    await submitBuild(target(), { version: 'v2', sources: ['broken/bad.parquet'] });
    await assert.rejects(waitForJob(target(), QUEUES.train, jobIds.train('v2'), 60_000));
    const errors: string[] = [];
    const page = await watchedPage(browser, errors);
    await page.goto(dash.url);
    const failures = await page.locator('#failures').innerText();
    assert.match(failures, /lemur-load\s+v2\.load\.broken_bad\.parquet\s+InputDataError: .*bad\.parquet: row 2, field `n_tokens`: 0 is not a positive token count/);
    await page.screenshot({ path: artifactPath('dashboard-failure.png'), fullPage: true });
    await page.goto(`${dash.url}queues/queue/${QUEUES.load}?status=failed`);
    await page.getByText(/row 2, field `n_tokens`/).first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: artifactPath('dashboard-failed-job.png') });
    const m = await scrape();
    assert.equal(m.get('lemur_jobs_total{queue="lemur-load",job="load-shard",outcome="failed"}'), 1);
    assert.deepEqual(errors, []);
  });

  it('rejects a wrong password, and never listens beyond loopback without one', async () => {
    const guarded = await startDashboard({ store, target: target(), port: 0, auth: { user: 'ops', password: 's3cret-pw' } });
    try {
      const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
      assert.equal((await fetch(guarded.url)).status, 401);
      assert.equal((await fetch(guarded.url, { headers: basic('ops', 'wrong') })).status, 401);
      assert.equal((await fetch(`${guarded.url}queues/api/queues`, { headers: basic('ops', 'wrong') })).status, 401);
      assert.equal((await fetch(`${guarded.url}metrics`)).status, 401);
      const ok = await fetch(guarded.url, { headers: basic('ops', 's3cret-pw') });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /<h2>Versions<\/h2>/);
    } finally {
      await guarded.close();
    }
    await assert.rejects(startDashboard({ store, target: target(), port: 0, host: '0.0.0.0' }), (e: Error) => e instanceof ConfigError && /without a password/.test(e.message));
  });
});
