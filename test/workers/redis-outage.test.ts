/**
 * Workers when Redis or the store goes away. A `lemur worker` child whose redis-server is
 * SIGKILLed logs one "redis unreachable" line (not one per failed reconnect), reports itself
 * unready in /metrics, reconnects when Redis restarts on the same port from its AOF, completes
 * work, and on SIGTERM while Redis is down again exits within its grace period. A worker whose job
 * hangs on a stalled S3 store hands the job back on SIGTERM once the grace period is over (exit
 * code 1), or abandons it when Redis is down too, instead of waiting. In-process: closeWorkers
 * finishes a job that ends within the grace period. The CPU the disconnected worker used is
 * printed, not asserted.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Queue, type Job } from 'bullmq';

import { setLogLevel } from '../../src/log.js';
import { redisConnection } from '../../src/queue/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/queue/embedded-redis.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES } from '../../src/queue/queues.js';
import { closeWorkers, startWorker } from '../../src/queue/start-worker.js';
import { S3Store } from '../../src/store/s3-store.js';
import { CLI } from '../helpers/cli.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { startTestRedis } from '../helpers/redis.js';
import { S3FaultProxy } from '../helpers/s3-fault-proxy.js';
import { freePort, startS3, type S3Server } from '../helpers/s3.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { collectLogLines } from '../helpers/worker-procs.js';

setLogLevel('error');
const tmp = makeTmpDir();
const children: ChildProcess[] = [];
const servers: EmbeddedRedis[] = [];

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of servers) await r.stop();
  tmp.cleanup();
});

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function killRedis(r: EmbeddedRedis): void {
  process.kill(r.pid, 'SIGKILL');
}

describe('lemur worker through a Redis outage', () => {
  let dir: string;
  before(() => {
    dir = join(tmp.dir, 'redis-data');
    mkdirSync(dir);
  });

  it('logs the outage once, reconnects, completes work, and exits on SIGTERM while Redis is down', async (t) => {
    const store = join(tmp.dir, 'store');
    mkdirSync(join(store, 'sources'), { recursive: true });
    await writeFixture(join(store, 'sources/a.parquet'), { rows: 200, dim: 16, layout: 'nested', codec: 'zstd', rowGroupSize: 64 });
    let redis = await startEmbeddedRedis({ dir, persist: true });
    servers.push(redis);
    const target = { redisUrl: redis.url };
    const metricsPort = await freePort();
    const { child: worker, count } = lemurWorker({ REDIS_URL: redis.url, LEMUR_STORE: store }, ['load', '--grace', '5', '--metrics-port', String(metricsPort)]);
    const metric = async (name: string): Promise<number | undefined> => {
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text(), () => '');
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : undefined;
    };

    await until('the worker to be ready', async () => (await metric('lemur_worker_ready')) === 1, 30_000);
    await withLoadQueue(redis.url, (q) => q.add('load-shard', { sourceKey: 'sources/a.parquet' }, { jobId: 'before' }));
    await waitForJob(target, QUEUES.load, 'before', 60_000);

    killRedis(redis);
    await until('the outage to be logged', () => count('redis unreachable, retrying') === 1, 30_000);
    const cpu0 = cpuSeconds(worker.pid!);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const cpu = (cpuSeconds(worker.pid!) - cpu0) / ((performance.now() - t0) / 1000);
    t.diagnostic(`disconnected worker: ${(cpu * 100).toFixed(2)} % of a core over 10 s`);
    assert.equal(count('redis unreachable, retrying'), 1, 'one line for the outage');
    assert.equal(count('worker error'), 0, 'no line per failed reconnect');
    assert.equal(await metric('lemur_redis_connected'), 0);
    assert.equal(await metric('lemur_worker_ready'), 0);

    // the same port and data folder: the AOF brings back the queue, as after a crash
    redis = await startEmbeddedRedis({ dir, persist: true, port: redis.port });
    servers.push(redis);
    await until('the reconnection to be logged', () => count('redis reconnected') === 1, 30_000);
    assert.equal(await metric('lemur_worker_ready'), 1);
    const q = new Queue(QUEUES.load, { connection: redisConnection(redis.url) });
    try {
      assert.equal(await (await q.getJob('before'))?.getState(), 'completed', 'the job done before the outage survived it (AOF)');
      await q.add('load-shard', { sourceKey: 'sources/a.parquet' }, { jobId: 'after' });
    } finally {
      await q.close();
    }
    await waitForJob(target, QUEUES.load, 'after', 60_000);

    killRedis(redis);
    await until('the second outage to be logged', () => count('redis unreachable, retrying') === 2, 30_000);
    assert.equal(await terminate(worker), 0, 'exited, and cleanly: no job was in progress');
    assert.equal(count('workers closed'), 1);
  });
});

/** `lemur worker …` in a child process with JSON logs, and a count of its log lines by message. */
function lemurWorker(vars: NodeJS.ProcessEnv, args: string[]): { child: ChildProcess; count: (msg: string) => number; lines: Record<string, unknown>[] } {
  const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_LOG_FORMAT: 'json', ...vars };
  delete env['NODE_TEST_CONTEXT'];
  const child = spawn(process.execPath, [CLI, 'worker', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const lines = collectLogLines(child.stderr!);
  return { child, lines, count: (msg) => lines.filter((l) => l['msg'] === msg).length };
}

/** SIGTERM, then the exit code (null if it did not exit within 30 s: the grace periods here are a few seconds). */
function terminate(child: ChildProcess): Promise<number | null> {
  child.kill('SIGTERM');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 30_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
}

async function jobState(url: string, id: string): Promise<string | undefined> {
  return withLoadQueue(url, async (q) => (await q.getJob(id))?.getState());
}

describe('lemur worker whose job hangs on a stalled store', () => {
  let s3: S3Server;
  let proxy: S3FaultProxy;
  let redis: Awaited<ReturnType<typeof startTestRedis>>;
  let vars: NodeJS.ProcessEnv;
  before(async () => {
    s3 = await startS3();
    const path = join(tmp.dir, 'stuck.parquet');
    await writeFixture(path, { rows: 50, dim: 8, layout: 'nested', codec: 'zstd', rowGroupSize: 64 });
    const direct = new S3Store({ bucket: s3.bucket, prefix: 'p', endpoint: s3.endpoint, forcePathStyle: true });
    await direct.putFile('sources/stuck.parquet', path);
    direct.destroy();
    // every request through the proxy waits ten minutes: the store is unreachable, but not refusing
    proxy = await S3FaultProxy.start({ target: s3.endpoint, rate: 1, faults: ['stall'], stallMs: 600_000 });
    redis = await startTestRedis();
    servers.push(redis);
    vars = { REDIS_URL: redis.url, LEMUR_STORE: `s3://${s3.bucket}/p`, LEMUR_S3_ENDPOINT: proxy.url, LEMUR_S3_FORCE_PATH_STYLE: 'true' };
    await withLoadQueue(redis.url, (q) => q.add('load-shard', { sourceKey: 'sources/stuck.parquet' }, { jobId: 'stuck' }));
  });
  after(async () => {
    await proxy?.close();
    await s3?.stop();
  });

  it('hands the job back after the grace period and exits 1', async () => {
    const { child, lines } = lemurWorker(vars, ['load', '--grace', '1']);
    await until('the job to be in flight', async () => (await jobState(redis.url, 'stuck')) === 'active' && proxy.counts.stall > 0, 30_000);
    assert.equal(await terminate(child), 1);
    assert.equal(await jobState(redis.url, 'stuck'), 'waiting', 'back in the queue for another worker');
    const closed = lines.find((l) => l['msg'] === 'workers closed');
    assert.deepEqual(closed?.['handedBack'], ['lemur-load/stuck']);
  });

  it('abandons the job when Redis is down too, and still exits within the grace period', async () => {
    const { child, lines, count } = lemurWorker(vars, ['load', '--grace', '1']);
    await until('the job to be in flight again', async () => (await jobState(redis.url, 'stuck')) === 'active', 30_000);
    killRedis(redis);
    await until('the outage to be logged', () => count('redis unreachable, retrying') === 1, 30_000);
    assert.equal(await terminate(child), 1);
    const closed = lines.find((l) => l['msg'] === 'workers closed');
    assert.deepEqual(closed?.['abandoned'], ['lemur-load/stuck']);
  });
});

async function withLoadQueue<T>(url: string, fn: (q: Queue) => Promise<T>): Promise<T> {
  const q = new Queue(QUEUES.load, { connection: redisConnection(url) });
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

describe('closeWorkers', () => {
  /** A worker whose one job runs until released; resolves once the job is running. */
  async function holdingWorker(redis: { url: string; prefix: string }, queue: string) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const worker = startWorker(queue, async (_job: Job) => {
      started();
      await gate;
      return 'done';
    }, { redisUrl: redis.url, prefix: redis.prefix });
    const q = new Queue(queue, { connection: redisConnection(redis.url), prefix: redis.prefix });
    await q.add('hold', {}, { jobId: 'held' });
    await running;
    return { worker, q, release };
  }

  it('hands a job still running at the end of the grace period back to the queue', async () => {
    const redis = await startTestRedis();
    const { worker, q, release } = await holdingWorker(redis, 'lemur-hold');
    try {
      const report = await closeWorkers([worker], 300);
      assert.deepEqual(report, { clean: false, handedBack: ['lemur-hold/held'], abandoned: [] });
      assert.equal(await (await q.getJob('held'))?.getState(), 'waiting', 'another worker can start it at once');
    } finally {
      release();
      await q.close();
      await redis.stop();
    }
  });

  it('finishes a job that ends within the grace period, and closes cleanly', async () => {
    const redis = await startTestRedis();
    const { worker, q, release } = await holdingWorker(redis, 'lemur-finish');
    try {
      setTimeout(release, 200);
      const report = await closeWorkers([worker], 30_000);
      assert.deepEqual(report, { clean: true, handedBack: [], abandoned: [] });
      assert.equal(await (await q.getJob('held'))?.getState(), 'completed');
    } finally {
      await q.close();
      await redis.stop();
    }
  });
});
