/**
 * The train role: check that every load of the build succeeded and that the shards agree on a
 * dim (else fail with every bad shard at once), fit the version's model on the loaded shards,
 * then queue weights/index/publish.
 */
import type { Job } from 'bullmq';

import { ShardFailuresError } from '../src/errors.js';
import { dimDisagreements } from '../src/pipeline/check-dims.js';
import type { LoadedShard } from '../src/store/loaded-shard.js';
import { trainStage } from '../src/pipeline/stages.js';
import { queueShardStages, type QueueTarget } from '../src/queue/build-flow.js';
import { causeSource, ignoredChildFailures } from '../src/queue/failure-cause.js';
import { jobProgress, type JobProgress, type JobProgressReport } from '../src/queue/job-progress.js';
import type { FitProgress } from '../src/model/fit-lemur.js';
import { QUEUES, type TrainPayload } from '../src/queue/queues.js';
import { childValues, startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

/** The fit's progress as the job's report: the current phase, and the last numbers of every phase so far. */
function fitReporter(progress: JobProgress): (p: FitProgress) => void {
  const phases: NonNullable<JobProgressReport['phases']> = {};
  let epoch: Pick<JobProgressReport, 'epoch' | 'epochs' | 'loss'> = {};
  return (p) => {
    let now: { done: number; total: number; unit: string };
    if (p.phase === 'train') {
      now = { done: (p.epoch - 1) * p.batches + p.batch, total: p.epochs * p.batches, unit: 'batches' };
      epoch = { epoch: p.epoch, epochs: p.epochs, loss: p.loss };
    } else {
      now = { done: p.done, total: p.total, unit: p.phase === 'targets' ? 'max-sims' : 'steps' };
    }
    phases[p.phase] = now;
    progress.report({ phase: p.phase, ...now, ...epoch, phases: { ...phases } });
  };
}

export function startTrainWorker(store: ObjectStore, o: StartWorkerOptions) {
  const target: QueueTarget = { redisUrl: o.redisUrl, ...(o.prefix ? { prefix: o.prefix } : {}) };
  return startWorker(QUEUES.train, async (job: Job<TrainPayload>) => {
    // a retrain names its shards; a build gets them from its load children
    const shards = (job.data.shards ?? (await childValues<LoadedShard>(job))).sort((a, b) => (a.sourceKey < b.sourceKey ? -1 : 1));
    if (!job.data.shards) {
      const failed = (await ignoredChildFailures(target, job)).map((f) => ({ source: causeSource(f) ?? '(unknown source)', reason: f.reason }));
      const problems = [...failed, ...dimDisagreements(shards)].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
      if (problems.length > 0) throw new ShardFailuresError(`build ${job.data.version}`, problems, job.data.sources.length);
    }
    const progress = jobProgress(job);
    const r = await trainStage(store, job.data.version, shards, { ...job.data.fit, onProgress: fitReporter(progress) });
    await progress.flush();
    await queueShardStages(target, job.data.version, shards, { ...(job.data.promote === false ? { promote: false } : {}), ...(job.data.input ? { input: job.data.input } : {}), ...(job.data.encoding ? { encoding: job.data.encoding } : {}) });
    return r;
  }, o);
}
