/**
 * The eval role: a queued evaluation's batches (search under every version × setting), its
 * exact ground truth, and its report. Each worker keeps the versions it opened warm, so a
 * version is loaded once per worker, not once per batch.
 */
import type { Job } from 'bullmq';

import { QueryCache, readPlan, runEvalBatch, runExactBatch } from '../src/eval/eval-stages.js';
import type { EvalBatchPayload, EvalBatchResult, EvalReportPayload, ExactBatchPayload, TruthRows } from '../src/eval/plan.js';
import { buildReport, renderHtml } from '../src/eval/report.js';
import { VersionCache } from '../src/eval/version-cache.js';
import { JOBS, QUEUES } from '../src/queue/queues.js';
import { childValues, startWorker, type StartWorkerOptions } from '../src/queue/start-worker.js';
import { keys } from '../src/store/keys.js';
import type { ObjectStore } from '../src/store/object-store.js';

type EvalJob = Job<EvalBatchPayload | ExactBatchPayload | EvalReportPayload>;

async function report(store: ObjectStore, job: EvalJob): Promise<Record<string, unknown>> {
  const { evalId } = job.data;
  const plan = await readPlan(store, evalId);
  const values = await childValues<EvalBatchResult | { batch: number; truthKey: string }>(job);
  const batches = values.filter((v): v is EvalBatchResult => 'resultsKey' in v);
  const truth: TruthRows = {};
  if (plan.truth === 'given') Object.assign(truth, JSON.parse((await store.get(keys.evalGivenTruth(evalId))).toString('utf8')) as TruthRows);
  for (const v of values) {
    if (!('truthKey' in v)) continue;
    const part = JSON.parse((await store.get(v.truthKey)).toString('utf8')) as TruthRows;
    for (const [version, rows] of Object.entries(part)) Object.assign((truth[version] ??= {}), rows);
  }
  const r = await buildReport(store, plan, batches, truth);
  await store.put(keys.evalReport(evalId, 'json'), Buffer.from(JSON.stringify(r, null, 2)));
  await store.put(keys.evalReport(evalId, 'html'), Buffer.from(renderHtml(r)));
  return { evalId, report: keys.evalReport(evalId, 'json'), html: keys.evalReport(evalId, 'html'), queries: r.queries, k: r.k, settings: r.settings };
}

export function startEvalWorker(store: ObjectStore, o: StartWorkerOptions) {
  const versions = new VersionCache(store);
  const queries = new QueryCache(store);
  const worker = startWorker(QUEUES.eval, async (job: EvalJob): Promise<unknown> => {
    switch (job.name) {
      case JOBS.evalBatch:
        return runEvalBatch(store, versions, queries, job.data as EvalBatchPayload);
      case JOBS.exactBatch:
        return runExactBatch(store, versions, queries, job.data as ExactBatchPayload);
      case JOBS.evalReport:
        return report(store, job);
      default:
        throw new Error(`eval worker: unknown job name '${job.name}'`);
    }
  }, o);
  worker.on('closed', () => {
    void versions.close();
    queries.close();
  });
  return worker;
}
