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
import { redisHealth } from './redis-health.js';

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
  const inFlight = new Map<string, InFlightJob>();
  const worker = new Worker<P, R>(
    queue,
    (job, token) =>
      // every line logged while this job runs, in any module, carries these fields
      withLogContext({ queue, jobId: job.id, job: job.name, attempt: job.attemptsMade + 1, ...jobFields(job.data) }, async () => {
        inFlight.set(job.id!, { job: job as Job, token });
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
  // a job is in flight until its outcome is recorded in Redis, not merely until the processor returns
  const settled = (job: Job | undefined): void => {
    if (job?.id) inFlight.delete(job.id);
  };
  worker.on('completed', settled);
  worker.on('failed', settled);
  IN_FLIGHT.set(worker as Worker, inFlight);
  redisHealth.watch(worker as Worker, queue);
  return worker;
}

interface InFlightJob {
  job: Job;
  token: string | undefined;
}

/** Each started worker's jobs whose outcome is not recorded yet, for closeWorkers. */
const IN_FLIGHT = new WeakMap<Worker, Map<string, InFlightJob>>();

/** How a shutdown ended. */
export interface ShutdownReport {
  /** Every worker closed: jobs in progress finished and were recorded, connections quit. */
  clean: boolean;
  /** Jobs moved back to waiting for another worker (their work so far is lost, the job is not). */
  handedBack: string[];
  /** Jobs that could not be handed back (Redis unreachable): another worker takes each over once its lock expires. */
  abandoned: string[];
}

/** The in-flight wait polls this often for "nothing left to wait for". */
const SHUTDOWN_POLL_MS = 100;
/** How long handing one job back may take (Redis may be unreachable: ioredis would queue the command forever). */
const HAND_BACK_MS = 2000;

/**
 * Stops `workers` taking jobs and waits up to `graceMs` for the jobs in progress to finish and be
 * recorded. Jobs still running then are handed back to the queue (moved to waiting, so another
 * worker starts them at once rather than after their lock expires), or abandoned when Redis cannot
 * be reached. Never waits longer than the grace period plus a bounded hand-back, whatever Redis
 * and the store do: BullMQ's own close() waits for Redis without end. With nothing in flight
 * and Redis unreachable there is nothing to wait for, and it returns at once.
 */
export async function closeWorkers(workers: Worker[], graceMs: number): Promise<ShutdownReport> {
  redisHealth.closing();
  const jobs = (): InFlightJob[] => workers.flatMap((w) => [...(IN_FLIGHT.get(w)?.values() ?? [])]);
  const closing = Promise.allSettled(workers.map((w) => w.close()));
  const clean = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => done(false), graceMs);
    const poll = setInterval(() => {
      if (jobs().length === 0 && !redisHealth.connected) done(false);
    }, SHUTDOWN_POLL_MS);
    function done(ok: boolean): void {
      clearTimeout(timer);
      clearInterval(poll);
      resolve(ok);
    }
    void closing.then(() => done(true));
  });
  const report: ShutdownReport = { clean, handedBack: [], abandoned: [] };
  if (clean) return report;
  await Promise.all(
    jobs().map(async ({ job, token }) => {
      const id = `${job.queueName}/${job.id}`;
      const moved = token
        ? await Promise.race([job.moveToWait(token).then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), HAND_BACK_MS).unref())])
        : false;
      (moved ? report.handedBack : report.abandoned).push(id);
    }),
  );
  return report;
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
