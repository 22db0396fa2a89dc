/**
 * Deletes and compactions as jobs on the publish queue, where every version write runs one at a
 * time across all workers (global concurrency 1): two writers can then never derive from the
 * same `current` and race to move it.
 */
import { checkName, keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { withQueue, type QueueTarget } from './connection.js';
import { waitForJob } from './queue-status.js';
import { JOB_RETRY, JOBS, QUEUES, type CompactPayload, type DeletePayload } from './queues.js';

async function runOnPublishQueue(t: QueueTarget, name: string, data: object, jobId: string, timeoutMs: number): Promise<unknown> {
  await withQueue(t, QUEUES.publish, (q) => q.add(name, data, { ...JOB_RETRY, jobId }));
  return waitForJob(t, QUEUES.publish, jobId, timeoutMs);
}

export async function queueDelete(t: QueueTarget, store: ObjectStore, version: string, ids: string[], timeoutMs: number): Promise<unknown> {
  checkName('version', version);
  const idsKey = keys.deleteRequest(version);
  await store.put(idsKey, Buffer.from(JSON.stringify(ids)));
  return runOnPublishQueue(t, JOBS.deleteDocs, { version, idsKey } satisfies DeletePayload, `${version}.delete`, timeoutMs);
}

export async function queueCompact(t: QueueTarget, version: string, mergeBelow: number | undefined, timeoutMs: number): Promise<unknown> {
  checkName('version', version);
  return runOnPublishQueue(t, JOBS.compact, { version, ...(mergeBelow !== undefined ? { mergeBelow } : {}) } satisfies CompactPayload, `${version}.compact`, timeoutMs);
}
