/**
 * A worker's memory does not grow with the corpus: a build of 16 shards through one `lemur worker`
 * process (every role) on a real Redis and a folder store, its RSS polled from /proc. The bound
 * is loose on purpose: the decoded corpus (every shard's fp32 token vectors together). A stage
 * that held all shards at once (a load that kept its results, a trainer that copied every store,
 * an index job that read every W) would pass it; one that works shard by shard stays far below
 * (measured: ~0.35 of it). Not a timing: the numbers only say what was resident.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';

import { CorpusStream } from '../../src/data/corpus-stream.js';
import { setLogLevel } from '../../src/log.js';
import { submitBuild } from '../../src/queue/build-flow.js';
import { waitForJob } from '../../src/queue/queue-status.js';
import { QUEUES, jobIds } from '../../src/queue/queues.js';
import { LocalStore } from '../../src/store/local-store.js';
import { readManifest } from '../../src/versions/manifest.js';
import { writeStreamSources } from '../../src/data/write-stream-parquet.js';
import { CLI } from '../helpers/cli.js';
import { MemorySampler } from '../helpers/proc-memory.js';
import { startTestRedis } from '../helpers/redis.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
after(() => tmp.cleanup());

describe('memory of a multi-shard build', () => {
  it('stays below the decoded corpus in one worker process running every role', async (t) => {
    const shards = 16;
    const stream = new CorpusStream({ docs: shards * 2048, dim: 128, seed: 3, blockDocs: 1024 });
    const src = writeStreamSources(stream, tmp.dir, 'sources/', 2048, 'float32');
    const corpusBytes = src.tokens * 128 * 4;
    const redis = await startTestRedis();

    const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: tmp.dir, REDIS_URL: redis.url, LEMUR_LOG_FORMAT: 'json', LEMUR_THREADS: '2' };
    delete env['NODE_TEST_CONTEXT'];
    const worker = spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    worker.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const sampler = new MemorySampler(50);
    sampler.watch('worker', worker.pid!);
    try {
      await submitBuild({ redisUrl: redis.url }, { version: 'm1', sources: src.keys, fit: { mPrime: 256, nLearn: 4000, olsSamples: 512, hidden: 128, epochs: 1, seed: 1 }, encoding: { tokens: 'float16', index: 'fp16' } });
      await waitForJob({ redisUrl: redis.url }, QUEUES.publish, jobIds.publish('m1'), 240_000);
      const peak = sampler.peaks()['worker']!;
      const manifest = await readManifest(new LocalStore(tmp.dir), 'm1');
      assert.equal(manifest.shards.length, shards);
      assert.equal(manifest.docs, shards * 2048);
      assert.ok(peak.vmHwm > 0, 'the worker was sampled');
      t.diagnostic(`worker peak RSS ${(peak.vmHwm / 2 ** 20).toFixed(0)} MiB, RssAnon ${(peak.rssAnon / 2 ** 20).toFixed(0)} MiB; decoded corpus ${(corpusBytes / 2 ** 20).toFixed(0)} MiB`);
      assert.ok(
        peak.vmHwm < corpusBytes,
        `worker peak RSS ${(peak.vmHwm / 2 ** 20).toFixed(0)} MiB should stay below the decoded corpus ${(corpusBytes / 2 ** 20).toFixed(0)} MiB (${shards} shards)\n${stderr.slice(-2000)}`,
      );
    } finally {
      sampler.stop();
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGTERM');
        await once(worker, 'exit');
      }
      await redis.stop();
    }
  });
});
