/**
 * Queues an evaluation: the queries go to the store, then one flow: an eval-report job whose
 * children are the eval-batch jobs (query batches) and the exact-batch jobs (ground truth for a
 * sample), all on the eval queue, so any number of eval workers share the work.
 */
import type { FlowJob } from 'bullmq';

import { Random } from '../data/random.js';
import { InvalidArgumentError } from '../errors.js';
import type { QueueTarget } from '../queue/build-flow.js';
import { withFlow } from '../queue/connection.js';
import { JOB_RETRY, JOBS, QUEUES } from '../queue/queues.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import { putQueries } from './eval-stages.js';
import type { EvalBatchPayload, EvalPlan, EvalReportPayload, EvalSetting, ExactBatchPayload } from './plan.js';
import type { QuerySet } from './query-set.js';

export interface SubmitEvalInput {
  evalId: string;
  versions: string[];
  settings: EvalSetting[];
  k: number;
  queries: QuerySet;
  /** @defaultValue 256 */
  batchSize?: number;
  /** @defaultValue 8 */
  latencySample?: number;
  /** Ground truth: rows by query index (given), a sample size for exact MaxSim, or none. */
  truth: { given: Record<string, string[]> } | { exactSample: number; seed?: number } | undefined;
}

const EXACT_BATCH = 64;

export const evalJobIds = {
  batch: (evalId: string, b: number): string => `${evalId}.batch.${b}`,
  exact: (evalId: string, b: number): string => `${evalId}.exact.${b}`,
  report: (evalId: string): string => `${evalId}.report`,
};

export async function submitEval(t: QueueTarget, store: ObjectStore, input: SubmitEvalInput): Promise<EvalPlan> {
  const nq = input.queries.counts.length;
  if (nq === 0) throw new InvalidArgumentError('Expected at least one query');
  if (input.versions.length === 0 || input.settings.length === 0) throw new InvalidArgumentError('Expected at least one version and one setting');
  const batchSize = input.batchSize ?? 256;
  let exactSample: number[] | undefined;
  if (input.truth && 'exactSample' in input.truth) {
    const n = Math.min(nq, input.truth.exactSample);
    exactSample = Array.from(new Random(input.truth.seed ?? 1).sample(nq, n)).sort((a, b) => a - b);
  }
  const plan: EvalPlan = {
    evalId: input.evalId,
    versions: input.versions,
    settings: input.settings,
    k: input.k,
    nQueries: nq,
    batchSize,
    latencySample: input.latencySample ?? 8,
    truth: !input.truth ? 'none' : 'given' in input.truth ? 'given' : 'exact',
    ...(exactSample ? { exactSample } : {}),
    createdAt: new Date().toISOString(),
  };
  await putQueries(store, input.evalId, input.queries);
  if (input.truth && 'given' in input.truth) await store.put(keys.evalGivenTruth(input.evalId), Buffer.from(JSON.stringify({ '*': input.truth.given })));
  await store.put(keys.evalPlan(input.evalId), Buffer.from(JSON.stringify(plan)));

  const children: FlowJob[] = [];
  for (let b = 0, from = 0; from < nq; b++, from += batchSize) {
    const data: EvalBatchPayload = { evalId: input.evalId, batch: b, from, to: Math.min(nq, from + batchSize) };
    children.push({ name: JOBS.evalBatch, queueName: QUEUES.eval, data, opts: { ...JOB_RETRY, jobId: evalJobIds.batch(input.evalId, b), failParentOnFailure: true } });
  }
  for (let b = 0, i = 0; exactSample && i < exactSample.length; b++, i += EXACT_BATCH) {
    const data: ExactBatchPayload = { evalId: input.evalId, batch: b, queries: exactSample.slice(i, i + EXACT_BATCH) };
    children.push({ name: JOBS.exactBatch, queueName: QUEUES.eval, data, opts: { ...JOB_RETRY, jobId: evalJobIds.exact(input.evalId, b), failParentOnFailure: true } });
  }
  await withFlow(t, (flow) =>
    flow.add({
      name: JOBS.evalReport,
      queueName: QUEUES.eval,
      data: { evalId: input.evalId } satisfies EvalReportPayload,
      opts: { ...JOB_RETRY, jobId: evalJobIds.report(input.evalId) },
      children,
    }),
  );
  return plan;
}
