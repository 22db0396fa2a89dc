/**
 * Queued bulk evaluation on a real Redis with two eval workers: 10 000 queries split into
 * batches, none lost, every result equal to the same search run in this process; exact ground
 * truth for a sample; the report's recall equals recall computed here; the HTML report loads
 * in headless Chromium with no console errors and shows the plot (screenshot saved).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

import type { Worker } from 'bullmq';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { readResults } from '../../src/eval/eval-stages.js';
import { settingLabel, type EvalSetting } from '../../src/eval/plan.js';
import { recallAtK } from '../../src/eval/query-set.js';
import type { EvalReport } from '../../src/eval/report.js';
import { evalJobIds, submitEval } from '../../src/eval/submit-eval.js';
import { setLogLevel } from '../../src/log.js';
import { openVersion } from '../../src/query/open-version.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../../src/queue/queues.js';
import { keys } from '../../src/store/keys.js';
import { LocalStore } from '../../src/store/local-store.js';
import { startEvalWorker } from '../../workers/eval-worker.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { artifactPath, launchBrowser, watchedPage } from '../helpers/browser.js';
import { putCorpusShard } from '../helpers/corpus-shards.js';
import { startTestRedis } from '../helpers/redis.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
const store = new LocalStore(tmp.dir);
let redis: Awaited<ReturnType<typeof startTestRedis>>;
let workers: Worker[] = [];
const DIM = 16;
const NQ = 10_000;
const corpus = generateCorpus({ docs: 600, queries: NQ, dim: DIM, seed: 9, minTokens: 6, maxTokens: 24, queryTokens: 4 });
const settings: EvalSetting[] = [
  { kPrime: 10, efSearch: 20, candidates: 'hnsw' },
  { kPrime: 40, efSearch: 80, candidates: 'hnsw' },
  { kPrime: 40, efSearch: 40, candidates: 'bruteforce' },
];
const target = () => ({ redisUrl: redis.url, prefix: redis.prefix });

before(async () => {
  redis = await startTestRedis();
  await putCorpusShard(store, 'sources/a.parquet', corpus, 0, 300);
  await putCorpusShard(store, 'sources/b.parquet', corpus, 300, 600);
  const roles = (Object.keys(ROLES) as Role[]).filter((r) => r !== 'eval');
  workers = [...startRoles(roles, store, target()), startEvalWorker(store, target()), startEvalWorker(store, target())];
  await submitBuild(target(), { version: 'v1', sources: ['sources/a.parquet', 'sources/b.parquet'], input: { dim: DIM }, fit: { mPrime: 128, nLearn: 4000, olsSamples: 256, hidden: 64, epochs: 2, seed: 1 } });
  await waitForJob(target(), QUEUES.publish, jobIds.publish('v1'), 120_000);
});
after(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await redis?.stop();
  tmp.cleanup();
});

describe('queued bulk evaluation', () => {
  let report: EvalReport;

  it('loses no query and returns what an in-process search returns', async () => {
    const queries = { dim: DIM, vectors: corpus.queryVectors, counts: corpus.queryCounts, ids: Array.from({ length: NQ }, (_, i) => `q${i}`) };
    const plan = await submitEval(target(), store, { evalId: 'e1', versions: ['v1'], settings, k: 10, queries, batchSize: 500, truth: { exactSample: 300, seed: 3 } });
    assert.equal(plan.exactSample!.length, 300);
    await waitForJob(target(), QUEUES.eval, evalJobIds.report('e1'), 300_000);
    report = JSON.parse((await store.get(keys.evalReport('e1', 'json'))).toString()) as EvalReport;
    assert.equal(report.results.length, NQ / 500);
    // every query, every setting, k results, nothing twice
    const rows = (await Promise.all(report.results.map((k) => readResults(store, k)))).flat();
    assert.equal(rows.length, NQ * settings.length * 10);
    const got = new Map<string, string[]>();
    for (const r of rows) {
      const key = `${r.setting}|${r.query}`;
      const row = got.get(key) ?? [];
      assert.equal(row[r.rank], undefined, `duplicate rank for ${key}`);
      row[r.rank] = r.id;
      got.set(key, row);
    }
    assert.equal(got.size, NQ * settings.length);
    const opened = await openVersion(store, 'v1');
    try {
      const truth = await opened.engine.exact(corpus.queryVectors, corpus.queryCounts, { k: 10 });
      for (const s of settings) {
        const r = await opened.engine.search(corpus.queryVectors, corpus.queryCounts, { k: 10, kPrime: s.kPrime, efSearch: s.efSearch, candidates: s.candidates });
        let differ = 0;
        for (let q = 0; q < NQ; q++) if (r.row(q).ids.map(String).join() !== got.get(`${settingLabel(s)}|${q}`)!.join()) differ++;
        assert.equal(differ, 0, `${settingLabel(s)}: ${differ} queries differ from the in-process search`);
        // the report's recall is recall over its sampled queries, as computed here
        const sample = plan.exactSample!;
        const found = sample.flatMap((q) => r.row(q).ids);
        const want = sample.flatMap((q) => truth.row(q).ids);
        const summary = report.settings.find((x) => x.setting === settingLabel(s))!;
        assert.equal(summary.queries, NQ);
        assert.equal(summary.truthQueries, 300);
        assert.ok(Math.abs(summary.recall! - recallAtK(found, want, sample.length, 10)) < 1e-4, `${summary.recall}`);
        assert.ok(summary.qps > 0 && summary.latencyMs.samples === (NQ / 500) * 8);
      }
    } finally {
      opened.close();
    }
    const hn = report.settings.map((s) => s.recall!);
    assert.ok(hn[1]! >= hn[0]!, 'a wider k′ does not lose recall');
  });

  it('fails the evaluation, not hangs, when a batch fails', async () => {
    const queries = { dim: DIM, vectors: corpus.queryVectors.slice(0, 40 * DIM), counts: Int32Array.from({ length: 10 }, () => 4), ids: Array.from({ length: 10 }, (_, i) => `q${i}`) };
    await submitEval(target(), store, { evalId: 'e-bad', versions: ['no-such-version'], settings: [settings[0]!], k: 10, queries, batchSize: 5, truth: undefined });
    await assert.rejects(waitForJob(target(), QUEUES.eval, evalJobIds.report('e-bad'), 60_000), /e-bad\.batch\.\d failed|no-such-version/);
  });

  it('writes an HTML report that loads in headless Chromium without errors and shows the plot', async () => {
    const browser = await launchBrowser();
    const errors: string[] = [];
    try {
      const page = await watchedPage(browser, errors);
      await page.goto(pathToFileURL(join(tmp.dir, keys.evalReport('e1', 'html'))).href);
      assert.equal(await page.locator('#recall-qps circle.point').count(), settings.length);
      assert.equal(await page.locator('tbody tr').count(), settings.length);
      const box = await page.locator('#recall-qps').boundingBox();
      assert.ok(box && box.width > 600 && box.height > 300);
      const png = await page.screenshot({ path: artifactPath('eval-report.png'), fullPage: true });
      assert.ok(png.length > 10_000);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
