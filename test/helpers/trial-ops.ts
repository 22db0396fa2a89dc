/**
 * The operations fault trials run, each on a copy of one template store (v1 built from shards a
 * and b, v2 = v1 with two documents deleted, shard c waiting to be ingested): how to submit it,
 * which job ends it, which worker roles take part (the roles a trial may kill), and what it
 * produced, as key → size:sha256, for the comparison with a clean run's output.
 */
import { createHash } from 'node:crypto';

import type { Job, Queue } from 'bullmq';

import type { Corpus } from '../../src/data/synthetic-corpus.js';
import { evalJobIds, submitEval } from '../../src/eval/submit-eval.js';
import { submitBuild, submitIngest, type QueueTarget } from '../../src/queue/build-flow.js';
import { withQueue } from '../../src/queue/connection.js';
import { JOB_RETRY, JOBS, QUEUES, jobIds } from '../../src/queue/queues.js';
import { keys } from '../../src/store/keys.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { findManifest, readManifest } from '../../src/versions/manifest.js';

export type Operation = 'build' | 'ingest' | 'delete' | 'compact' | 'eval';
export const OPERATIONS: readonly Operation[] = ['build', 'ingest', 'delete', 'compact', 'eval'];

/** Worker roles by the queue they take jobs from. */
export const ROLE_QUEUES = { load: QUEUES.load, train: QUEUES.train, weights: QUEUES.weights, index: QUEUES.index, publish: QUEUES.publish, eval: QUEUES.eval } as const;
export type KillableRole = keyof typeof ROLE_QUEUES;

export const DIM = 32;
/** A tiny fit: a clean build takes seconds. */
export const FIT = { mPrime: 128, nLearn: 4000, olsSamples: 256, hidden: 64, epochs: 2, seed: 1 };
const LOAD = { dim: DIM };
/** The version every publishing operation writes (the template holds v1 and v2). */
export const NEW_VERSION = 'v3';
export const EVAL_ID = 'e1';

/** A job's end as Redis records it. */
export interface Final {
  state: 'completed' | 'failed';
  reason?: string;
  /** What the job returned (what the user is told), when completed. */
  result?: unknown;
}

export interface OperationSpec {
  roles: KillableRole[];
  submit: (t: QueueTarget, store: ObjectStore, corpus: Corpus) => Promise<void>;
  /** The flow's end, once it has one (queues by name). */
  final: (queues: Record<string, Queue>) => Promise<Final | undefined>;
  /** Whether the operation's result is there (a manifest, an evaluation report). */
  published: (store: ObjectStore) => Promise<boolean>;
  /** What the operation produced, key → bytes:sha256 (compared with a clean run's). */
  output: (store: ObjectStore) => Promise<Record<string, string>>;
  /** The root job's return value is deterministic (an evaluation's holds timings). */
  sameResult: boolean;
}

async function finalOf(q: Queue | undefined, id: string): Promise<Final | undefined> {
  const job: Job | undefined = await q?.getJob(id);
  if (!job) return undefined;
  const state = await job.getState();
  if (state === 'completed') return { state, result: job.returnvalue as unknown };
  if (state === 'failed') return { state, reason: job.failedReason || '(no failedReason)' };
  return undefined;
}

async function manifestOutput(store: ObjectStore): Promise<Record<string, string>> {
  const m = await readManifest(store, NEW_VERSION);
  return Object.fromEntries([...m.artifacts.map((a) => [a.key, `${a.bytes}:${a.sha256}`]), ['docs', String(m.docs)]]);
}

const versionPublished = async (store: ObjectStore): Promise<boolean> => (await findManifest(store, NEW_VERSION)) !== undefined;

async function onPublishQueue(t: QueueTarget, name: string, data: object, jobId: string): Promise<void> {
  await withQueue(t, QUEUES.publish, (q) => q.add(name, data, { ...JOB_RETRY, jobId }));
}

export const OPERATION_SPECS: Record<Operation, OperationSpec> = {
  build: {
    roles: ['load', 'train', 'weights', 'index', 'publish'],
    submit: async (t) => {
      await submitBuild(t, { version: NEW_VERSION, sources: ['sources/a.parquet', 'sources/b.parquet'], input: LOAD, fit: FIT });
    },
    // the train job is the root until it queues flow 2 (publish ← index ← weights)
    final: async (qs) => {
      const train = await finalOf(qs[QUEUES.train], jobIds.train(NEW_VERSION));
      if (train?.state === 'failed') return train;
      return finalOf(qs[QUEUES.publish], jobIds.publish(NEW_VERSION));
    },
    published: versionPublished,
    output: manifestOutput,
    sameResult: true,
  },
  ingest: {
    roles: ['load', 'weights', 'index', 'publish'],
    submit: async (t, store) => {
      const base = await readManifest(store, 'v2');
      // drift fraction 1: no retrain is queued (400 added to 598 trained)
      await submitIngest(t, { version: NEW_VERSION, base: 'v2', modelKey: base.modelKey, sources: ['incoming/c.parquet'], input: LOAD, driftFraction: 1 });
    },
    final: (qs) => finalOf(qs[QUEUES.publish], jobIds.publish(NEW_VERSION)),
    published: versionPublished,
    output: manifestOutput,
    sameResult: true,
  },
  delete: {
    roles: ['publish'],
    submit: async (t, store) => {
      const idsKey = keys.deleteRequest(NEW_VERSION);
      await store.put(idsKey, Buffer.from(JSON.stringify(['doc-10', 'doc-450', 'doc-3', 'missing'])));
      await onPublishQueue(t, JOBS.deleteDocs, { version: NEW_VERSION, idsKey }, `${NEW_VERSION}.delete`);
    },
    final: (qs) => finalOf(qs[QUEUES.publish], `${NEW_VERSION}.delete`),
    published: versionPublished,
    output: manifestOutput,
    sameResult: true,
  },
  compact: {
    roles: ['publish'],
    submit: (t) => onPublishQueue(t, JOBS.compact, { version: NEW_VERSION }, `${NEW_VERSION}.compact`),
    final: (qs) => finalOf(qs[QUEUES.publish], `${NEW_VERSION}.compact`),
    published: versionPublished,
    output: manifestOutput,
    sameResult: true,
  },
  eval: {
    roles: ['eval'],
    submit: async (t, store, corpus) => {
      const nq = 160;
      let tokens = 0;
      for (let i = 0; i < nq; i++) tokens += corpus.queryCounts[i]!;
      const queries = { dim: DIM, vectors: corpus.queryVectors.slice(0, tokens * DIM), counts: corpus.queryCounts.slice(0, nq), ids: Array.from({ length: nq }, (_, i) => `q${i}`) };
      await submitEval(t, store, {
        evalId: EVAL_ID,
        versions: ['v2'],
        settings: [
          { kPrime: 20, efSearch: 40, candidates: 'hnsw' },
          { kPrime: 40, efSearch: 40, candidates: 'bruteforce' },
        ],
        k: 10,
        queries,
        batchSize: 40,
        truth: { exactSample: 64, seed: 2 },
      });
    },
    final: (qs) => finalOf(qs[QUEUES.eval], evalJobIds.report(EVAL_ID)),
    published: async (store) => (await store.head(keys.evalReport(EVAL_ID, 'json'))) !== undefined,
    // result rows and exact ground truth are deterministic; the report holds timings, so it is not compared
    output: async (store) => {
      const out: Record<string, string> = {};
      for (const o of await store.list(`evals/${EVAL_ID}/`)) {
        if (!/\/(results|truth)\/batch-\d+\.(parquet|json)$/.test(o.key)) continue;
        const body = await store.get(o.key);
        out[o.key] = `${body.length}:${createHash('sha256').update(body).digest('hex')}`;
      }
      return out;
    },
    sameResult: false,
  },
};
