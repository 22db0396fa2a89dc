/**
 * One way to run a BullMQ worker: connection, logging context, and the error mapping that
 * makes bad input fail its job once (UnrecoverableError: no retries, the cause in failedReason)
 * while transient failures are retried with backoff. Native work inside processors runs off the
 * event loop, so lock renewal keeps working during long steps. Each job runs inside a log
 * context (job id, queue, version, shard) and is counted and timed in the process's metrics.
 */
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';

import { CorruptFileError, InputDataError, InvalidArgumentError, ObjectNotFoundError, PipelineError, ShardFailuresError, StoreAccessDeniedError } from '../errors.js';
import { log, withLogContext } from '../log.js';
import { metrics, setKernel } from '../metrics.js';
import { kernelInfo } from '../native/cpu.js';
import { shardId } from '../store/keys.js';
import { redisConnection } from './connection.js';

export type Processor<P, R> = (job: Job<P, R>) => Promise<R>;

export interface StartWorkerOptions {
  redisUrl: string;
  /** BullMQ key prefix (tests use a unique one). @defaultValue 'bull' */
  prefix?: string;
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
}

/**
 * Errors that will fail the same way on every attempt. A missing or forbidden object is one (a
 * source key that is not there, credentials without access): the store client already retried
 * everything transient, so a job retry would only repeat the answer.
 */
function isPermanent(err: unknown): boolean {
  return (
    err instanceof InputDataError ||
    err instanceof CorruptFileError ||
    err instanceof InvalidArgumentError ||
    err instanceof ShardFailuresError ||
    err instanceof ObjectNotFoundError ||
    err instanceof StoreAccessDeniedError
  );
}

/** Version, shard, evaluation or schedule a job works on, for its log lines. */
function jobFields(data: unknown): Record<string, unknown> {
  const d = (data ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (typeof d['version'] === 'string') out['version'] = d['version'];
  const shard = d['shard'] as { shardId?: string } | undefined;
  if (shard?.shardId) out['shard'] = shard.shardId;
  else if (typeof d['shardId'] === 'string') out['shard'] = d['shardId'];
  else if (typeof d['sourceKey'] === 'string') out['shard'] = shardId(d['sourceKey']);
  if (typeof d['evalId'] === 'string') out['eval'] = d['evalId'];
  if (typeof d['schedule'] === 'string') out['schedule'] = d['schedule'];
  return out;
}

let kernelRecorded = false;

export function startWorker<P, R>(queue: string, processor: Processor<P, R>, o: StartWorkerOptions): Worker<P, R> {
  const wlog = log.child({ role: 'worker' });
  if (!kernelRecorded) {
    setKernel(kernelInfo().kernel);
    kernelRecorded = true;
  }
  const opts: WorkerOptions = {
    connection: redisConnection(o.redisUrl),
    prefix: o.prefix ?? 'bull',
    concurrency: o.concurrency ?? 1,
    ...(o.lockDuration !== undefined ? { lockDuration: o.lockDuration } : {}),
    ...(o.stalledInterval !== undefined ? { stalledInterval: o.stalledInterval } : {}),
  };
  const worker = new Worker<P, R>(
    queue,
    (job) =>
      // every line logged while this job runs, in any module, carries these fields
      withLogContext({ queue, jobId: job.id, job: job.name, attempt: job.attemptsMade + 1, ...jobFields(job.data) }, async () => {
        const t0 = performance.now();
        wlog.info('job started');
        const observe = (outcome: 'completed' | 'failed'): void => {
          metrics.jobs.inc({ queue, job: job.name, outcome });
          metrics.jobSeconds.observe({ queue, job: job.name }, (performance.now() - t0) / 1000);
        };
        try {
          const r = await processor(job);
          wlog.info('job done', { seconds: (performance.now() - t0) / 1000 });
          observe('completed');
          return r;
        } catch (err) {
          wlog.error('job failed', { error: err as Error, permanent: isPermanent(err) });
          observe('failed');
          if (isPermanent(err)) throw new UnrecoverableError(`${(err as Error).name}: ${(err as Error).message}`);
          throw err;
        }
      }),
    opts,
  );
  worker.on('error', (err) => wlog.error('worker error', { queue, error: err }));
  return worker;
}

/** The one value a job's single child returned (a stage's input when it is not in the payload). */
export async function childValue<T>(job: Job): Promise<T> {
  const values = Object.values(await job.getChildrenValues<T>());
  if (values.length !== 1) throw new PipelineError(`job ${job.id}: expected one child result but found ${values.length}`);
  return values[0]!;
}

/** Every value a job's children returned. */
export async function childValues<T>(job: Job): Promise<T[]> {
  return Object.values(await job.getChildrenValues<T>());
}
