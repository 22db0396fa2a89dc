/**
 * The schedule role: runs `scheduled-run` jobs (cron ticks from BullMQ job schedulers, manual
 * runs, drift retrains): a gated rebuild (src/eval/gated-rebuild.ts). Any number of these
 * workers may run; each tick is one job, taken by one of them.
 */
import type { Job } from 'bullmq';

import { scheduledRun } from '../src/eval/gated-rebuild.js';
import { QUEUES, type ScheduledRunPayload } from '../src/queue/queues.js';
import { startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startScheduleWorker(store: ObjectStore, o: StartWorkerOptions) {
  const target = { redisUrl: o.redisUrl, ...(o.prefix ? { prefix: o.prefix } : {}) };
  return startWorker(QUEUES.schedule, (job: Job<ScheduledRunPayload>) => scheduledRun(store, target, job.data, job.id!), o);
}
