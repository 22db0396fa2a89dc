/** Job counts of every pipeline queue (for `lemur status`). */
import { QueueEvents } from 'bullmq';

import { openQueue, redisConnection, withQueue, type QueueTarget } from './connection.js';
import { QUEUES } from './queues.js';

export type QueueCounts = Record<string, Record<string, number>>;

export async function queueStatus(t: QueueTarget): Promise<QueueCounts> {
  const out: QueueCounts = {};
  for (const name of Object.values(QUEUES)) {
    out[name] = await withQueue(t, name, (q) => q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'waiting-children'));
  }
  return out;
}

/** Waits for a job that may not exist yet; resolves with its return value, rejects with its failure. */
export async function waitForJob(t: QueueTarget, queueName: string, id: string, timeoutMs: number): Promise<unknown> {
  const q = openQueue(t, queueName);
  const ev = new QueueEvents(queueName, { connection: redisConnection(t.redisUrl), prefix: t.prefix ?? 'bull' });
  try {
    await ev.waitUntilReady();
    const until = Date.now() + timeoutMs;
    for (;;) {
      const job = await q.getJob(id);
      if (job) return await job.waitUntilFinished(ev, Math.max(1, until - Date.now()));
      if (Date.now() > until) throw new Error(`job ${id} did not appear in ${queueName} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await ev.close();
    await q.close();
  }
}
