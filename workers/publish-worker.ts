/**
 * The publish role: the version's manifest, then the `current` pointer. Every job on this queue
 * writes a version, so the queue runs one at a time across all workers (BullMQ global
 * concurrency): builds, ingests, deletes and compactions. The manifests' expected-current check
 * still guards writers outside the queue (a second Redis, a script). After an ingest it queues a
 * retrain once drift passes its threshold.
 */
import type { Job } from 'bullmq';

import { config } from '../src/config.js';
import { ShardFailuresError } from '../src/errors.js';
import { log } from '../src/log.js';
import { compact } from '../src/pipeline/compact.js';
import { deleteDocs } from '../src/pipeline/delete-docs.js';
import { needsRetrain, publishBuild, publishIngest } from '../src/pipeline/publish-stage.js';
import type { IndexedShard } from '../src/pipeline/stages.js';
import { withQueue } from '../src/queue/connection.js';
import { causeSource, ignoredChildFailures } from '../src/queue/failure-cause.js';
import { JOBS, QUEUES, type CompactPayload, type DeletePayload, type PublishPayload } from '../src/queue/queues.js';
import { queueRun } from '../src/queue/schedules.js';
import { childValues, startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';

export function startPublishWorker(store: ObjectStore, o: StartWorkerOptions) {
  const target = { redisUrl: o.redisUrl, ...(o.prefix ? { prefix: o.prefix } : {}) };
  withQueue(target, QUEUES.publish, (q) => q.setGlobalConcurrency(1)).catch((err: unknown) => log.warn('could not set the publish queue to one job at a time', { error: err as Error }));
  return startWorker(QUEUES.publish, async (job: Job<PublishPayload | DeletePayload | CompactPayload>) => {
    if (job.name === JOBS.deleteDocs) {
      const d = job.data as DeletePayload;
      return deleteDocs(store, JSON.parse((await store.get(d.idsKey)).toString('utf8')) as string[], d.version);
    }
    if (job.name === JOBS.compact) {
      const c = job.data as CompactPayload;
      return compact(store, c.version, c.mergeBelow !== undefined ? { mergeBelow: c.mergeBelow } : {});
    }
    const p = job.data as PublishPayload;
    // every shard that failed, at once; nothing is published from an incomplete set
    const built = await childValues<IndexedShard>(job); // publishBuild / publishIngest order them
    const failed = await ignoredChildFailures(target, job);
    if (failed.length > 0) {
      throw new ShardFailuresError(`${p.operation} ${p.version}`, failed.map((f) => ({ source: causeSource(f) ?? '(unknown source)', reason: f.reason })), built.length + failed.length);
    }
    if (p.operation === 'build') {
      const m = await publishBuild(store, { version: p.version, modelKey: p.modelKey, promote: p.promote ?? true, ...(p.input ? { input: p.input } : {}), ...(p.encoding ? { encoding: p.encoding } : {}) }, built);
      return { version: m.version, docs: m.docs, promoted: p.promote ?? true };
    }
    const r = await publishIngest(store, { version: p.version, base: p.base!, modelKey: p.modelKey, ...(p.input ? { input: p.input } : {}), ...(p.encoding ? { encoding: p.encoding } : {}) }, built);
    const fraction = p.driftFraction ?? config().driftFraction;
    let retrain: string | undefined;
    if (needsRetrain(r.manifest, fraction)) {
      // one retrain per trained model, however many ingests pass the threshold after it
      retrain = await queueRun(target, { schedule: 'drift' }, `drift.${r.manifest.lineage.trainedIn}`);
      log.info('drift past threshold: retrain queued', { version: p.version, added: r.manifest.lineage.addedSinceTraining, trainedDocs: r.manifest.lineage.trainedDocs, fraction, job: retrain });
    }
    return { version: r.manifest.version, docs: r.manifest.docs, added: r.added, upserted: r.upserted, ...(retrain ? { retrain } : {}) };
  }, o);
}
