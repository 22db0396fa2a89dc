/**
 * Why a job failed, in words a person can act on. BullMQ records a parent failed by its child
 * as "child bull:lemur-weights:<id> failed"; these helpers follow such chains down to the job
 * that failed first and return its own reason (file, row, field), and collect the failures of
 * children that a parent ignored (ignoreDependencyOnFailure) so it can report all of them at once.
 */
import { Job } from 'bullmq';

import { withQueue, type QueueTarget } from './connection.js';

const CHILD_FAILED = /^child (.+):(lemur-[a-z]+):(.+) failed$/;

/** A failure traced to the job that caused it. */
export interface FailureCause {
  /** The failed job's queue and id, where it could be traced. */
  queue?: string;
  jobId?: string;
  /** The payload of that job (its source key, shard, version). */
  data?: Record<string, unknown>;
  reason: string;
}

/** Strips the error class BullMQ's reason starts with for permanent errors ("InputDataError: …"). */
export function plainReason(reason: string): string {
  return reason.replace(/^[A-Z][A-Za-z]*Error: /, '');
}

/** Follows "child <key> failed" links (at most a few levels: load ← weights ← index ← publish). */
export async function failureCause(t: QueueTarget, reason: string): Promise<FailureCause> {
  let cause: FailureCause = { reason };
  for (let depth = 0; depth < 8; depth++) {
    const m = CHILD_FAILED.exec(cause.reason);
    if (!m) break;
    const [, , queue, jobId] = m as unknown as [string, string, string, string];
    const job = await withQueue(t, queue, (q) => Job.fromId(q, jobId));
    if (!job) return { ...cause, queue, jobId, reason: `${cause.reason} (job no longer in the queue)` };
    cause = { queue, jobId, data: (job.data ?? {}) as Record<string, unknown>, reason: job.failedReason || cause.reason };
  }
  return { ...cause, reason: plainReason(cause.reason) };
}

/** The source a traced failure belongs to: a load's source key, a shard's source or id. */
export function causeSource(c: FailureCause): string | undefined {
  const d = c.data ?? {};
  const shard = d['shard'] as { sourceKey?: string } | undefined;
  const v = d['sourceKey'] ?? shard?.sourceKey ?? d['shardId'];
  return typeof v === 'string' ? v : undefined;
}

/** Every child failure a parent job ignored, traced to its cause, ordered by source. */
export async function ignoredChildFailures(t: QueueTarget, job: Job): Promise<FailureCause[]> {
  const failed = await job.getIgnoredChildrenFailures();
  const out: FailureCause[] = [];
  for (const [key, reason] of Object.entries(failed)) {
    // the key is <prefix>:<queue>:<id>: trace from the child itself, so its own payload is known
    const traced = await failureCause(t, `child ${key} failed`);
    out.push(traced.reason.endsWith('(job no longer in the queue)') ? { reason: plainReason(reason) } : traced);
  }
  return out.sort((a, b) => ((causeSource(a) ?? '') < (causeSource(b) ?? '') ? -1 : 1));
}
