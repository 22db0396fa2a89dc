/**
 * Scheduled re-indexing on BullMQ job schedulers, with real Redis and real processes: two
 * scheduler worker processes share one schedule and every tick runs exactly once; a scheduled
 * rebuild that loses recall is not published (current kept, both numbers in the failure), one
 * that does not is promoted.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';

import { Queue, type Worker } from 'bullmq';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { currentVersion } from '../../src/versions/current.js';
import { readManifest } from '../../src/versions/manifest.js';
import { deleteDocs } from '../../src/pipeline/delete-docs.js';
import { setLogLevel } from '../../src/log.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { redisConnection } from '../../src/queue/connection.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { JOBS, QUEUES, jobIds } from '../../src/queue/queues.js';
import { listSchedules, queueRun, removeSchedule, setSchedule } from '../../src/queue/schedules.js';
import { LocalStore } from '../../src/store/local-store.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { putCorpusShard } from '../helpers/corpus-shards.js';
import { startTestRedis } from '../helpers/redis.js';
import { CLI } from '../helpers/cli.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
const store = new LocalStore(tmp.dir);
let redis: Awaited<ReturnType<typeof startTestRedis>>;

before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  await redis?.stop();
  tmp.cleanup();
});

describe('schedules', () => {
  it('fires once per tick across two scheduler processes', async () => {
    // the CLI's workers use the default prefix; this Redis is private to the test file
    const target = { redisUrl: redis.url };
    const procs: { p: ChildProcess; log: string }[] = [];
    const env = { ...process.env, REDIS_URL: redis.url, LEMUR_STORE: tmp.dir };
    for (let i = 0; i < 2; i++) {
      const p = spawn(process.execPath, [CLI, 'worker', 'schedule'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      const entry = { p, log: '' };
      p.stderr!.on('data', (d: Buffer) => (entry.log += d.toString()));
      procs.push(entry);
    }
    try {
      // every replica may (re)declare the schedule at start: still one schedule, one job per tick
      await setSchedule(target, { name: 'tick', cron: '* * * * * *', run: { source: 'nothing-here/' } });
      await setSchedule(target, { name: 'tick', cron: '* * * * * *', run: { source: 'nothing-here/' } });
      const listed = await listSchedules(target);
      assert.equal(listed.length, 1);
      assert.equal(listed[0]!.run?.source, 'nothing-here/');
      assert.ok(listed[0]!.next);
      await new Promise((r) => setTimeout(r, 6000));
      assert.equal(await removeSchedule(target, 'tick'), true);
      await new Promise((r) => setTimeout(r, 1500)); // let the last tick's job finish
    } finally {
      for (const { p } of procs) p.kill('SIGTERM');
      await Promise.all(procs.map(({ p }) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
    }
    const q = new Queue(QUEUES.schedule, { connection: redisConnection(redis.url) });
    try {
      const jobs = (await q.getJobs(['completed', 'failed', 'active', 'wait', 'delayed'])).filter((j) => j.name === JOBS.scheduledRun);
      const ran = jobs.filter((j) => j.finishedOn);
      assert.ok(ran.length >= 4, `expected a run per second over 6 s, saw ${ran.length}`);
      // each tick its own job, a second apart …
      const ticks = ran.map((j) => j.timestamp).sort((a, b) => a - b);
      assert.equal(new Set(ticks).size, ticks.length);
      // … and each taken by exactly one of the two processes, once
      const started = procs.flatMap(({ log }) => log.split('\n').filter((l) => l.includes('"job started"')).map((l) => (JSON.parse(l) as { jobId: string }).jobId));
      for (const j of ran) assert.equal(started.filter((id) => id === j.id).length, 1, `job ${j.id} started ${started.filter((id) => id === j.id).length} times`);
      for (const j of ran) assert.match(j.failedReason ?? '', /no \.parquet objects under 'nothing-here\/'/);
      // each run left one record, saying why it failed
      const records = await store.list('schedules/tick/runs/');
      assert.equal(records.length, ran.length);
      for (const r of records) {
        const rec = JSON.parse((await store.get(r.key)).toString()) as { outcome: string; error: string };
        assert.equal(rec.outcome, 'failed');
        assert.match(rec.error, /no \.parquet objects/);
      }
    } finally {
      await q.close();
    }
  });

  it('publishes a scheduled rebuild only if it keeps recall', async () => {
    const target = { redisUrl: redis.url, prefix: redis.prefix };
    const corpus = generateCorpus({ docs: 1000, queries: 1, dim: 32, seed: 5, minTokens: 8, maxTokens: 40 });
    await putCorpusShard(store, 'sources/a.parquet', corpus, 0, 500);
    await putCorpusShard(store, 'sources/b.parquet', corpus, 500, 1000);
    const workers: Worker[] = startRoles(Object.keys(ROLES) as Role[], store, target);
    try {
      const load = { dim: 32 };
      await submitBuild(target, { version: 'good', sources: ['sources/a.parquet', 'sources/b.parquet'], input: load, fit: { mPrime: 256, nLearn: 6000, olsSamples: 512, hidden: 128, epochs: 3, seed: 1 } });
      await waitForJob(target, QUEUES.publish, jobIds.publish('good'), 120_000);
      // a much weaker model: 4 hidden units, no training of ψ
      const weak = { mPrime: 16, nLearn: 500, olsSamples: 16, hidden: 4, epochs: 0, seed: 1 };
      await queueRun(target, { schedule: 'weak', source: 'sources/', fit: weak, tolerance: 0.02 }, 'weak.1');
      await assert.rejects(waitForJob(target, QUEUES.schedule, 'weak.1', 120_000), (err: Error) => {
        assert.match(err.message, /not published: recall@10 0\.\d{4} vs current good 0\.\d{4} \(tolerance 0\.02\); current kept/);
        return true;
      });
      assert.equal(await currentVersion(store), 'good');
      const records = await store.list('schedules/weak/runs/');
      assert.equal(records.length, 1);
      const rec = JSON.parse((await store.get(records[0]!.key)).toString()) as { outcome: string; recall: { candidate: number; current: number }; candidate: string };
      assert.equal(rec.outcome, 'rejected');
      assert.ok(rec.recall.candidate < rec.recall.current - 0.02, JSON.stringify(rec.recall));
      assert.equal((await readManifest(store, rec.candidate)).operation, 'build', 'the candidate stays published, not current');
      // the same settings as the current model (taken from it when the schedule names none): promoted
      await queueRun(target, { schedule: 'same', source: 'sources/', tolerance: 0.05 }, 'same.1');
      const ok = (await waitForJob(target, QUEUES.schedule, 'same.1', 120_000)) as { outcome: string; candidate: string; recall: { candidate: number; current: number } };
      assert.equal(ok.outcome, 'promoted');
      assert.equal(await currentVersion(store), ok.candidate);
      assert.equal((await readManifest(store, ok.candidate)).config['hidden'], 128);
      // a retrain on current's shards (drift) compacts away deleted documents before training
      await deleteDocs(store, ['doc-3'], 'del1');
      await queueRun(target, { schedule: 'drift', tolerance: 0.05 }, 'drift.1');
      const drift = (await waitForJob(target, QUEUES.schedule, 'drift.1', 120_000)) as { outcome: string; candidate: string; current: string };
      assert.equal(drift.outcome, 'promoted');
      const compacted = await readManifest(store, drift.current);
      assert.deepEqual([compacted.operation, compacted.base, compacted.docs], ['compact', 'del1', 999]);
      const m = await readManifest(store, drift.candidate);
      assert.deepEqual([m.docs, m.shards.every((s) => s.deleted === 0), m.base], [999, true, drift.current]);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  });
});
