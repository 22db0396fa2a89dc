/**
 * One way to run a BullMQ worker: connection, logging context, and the error mapping that
 * makes bad input fail its job once (UnrecoverableError: no retries, the cause in failedReason)
 * while transient failures are retried with backoff. Native work inside processors runs off the
 * event loop, so lock renewal keeps working during long steps.
 */
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';

import { CorruptFileError, InputDataError, InvalidArgumentError, PipelineError } from '../errors.js';
import { log } from '../log.js';
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

/** Errors that will fail the same way on every attempt. */
function isPermanent(err: unknown): boolean {
  return err instanceof InputDataError || err instanceof CorruptFileError || err instanceof InvalidArgumentError;
}

export function startWorker<P, R>(queue: string, processor: Processor<P, R>, o: StartWorkerOptions): Worker<P, R> {
  const wlog = log.child({ role: 'worker', queue });
  const opts: WorkerOptions = {
    connection: redisConnection(o.redisUrl),
    prefix: o.prefix ?? 'bull',
    concurrency: o.concurrency ?? 1,
    ...(o.lockDuration !== undefined ? { lockDuration: o.lockDuration } : {}),
    ...(o.stalledInterval !== undefined ? { stalledInterval: o.stalledInterval } : {}),
  };
  const worker = new Worker<P, R>(
    queue,
    async (job) => {
      const jlog = wlog.child({ jobId: job.id, job: job.name, attempt: job.attemptsMade + 1 });
      const t0 = performance.now();
      jlog.info('job started');
      try {
        const r = await processor(job);
        jlog.info('job done', { seconds: (performance.now() - t0) / 1000 });
        return r;
      } catch (err) {
        jlog.error('job failed', { error: err as Error, permanent: isPermanent(err) });
        if (isPermanent(err)) throw new UnrecoverableError(`${(err as Error).name}: ${(err as Error).message}`);
        throw err;
      }
    },
    opts,
  );
  worker.on('error', (err) => wlog.error('worker error', { error: err }));
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
