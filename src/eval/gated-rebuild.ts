/**
 * One scheduled (or drift-triggered) rebuild, gated on quality: build a candidate version without
 * promoting it (retraining ψ from the schedule's sources, or on current's own shards for a drift
 * retrain), judge candidate and current on the same held-out queries (recall@10 against exact
 * MaxSim over each version's live documents), and promote the candidate only if it loses no more
 * than the tolerance. Either way a run record goes to the store; a rejected run fails its job
 * with both numbers and leaves current untouched.
 */
import { config } from '../config.js';
import { ConfigError, PipelineError, VersionConflictError } from '../errors.js';
import { ENCODING_DEFAULTS, FIT_DEFAULTS, LEGACY_ENCODING } from '../fit-defaults.js';
import { checkQueryDim, heldOutQueries, recallAtK, type QuerySet } from './query-set.js';
import { currentVersion } from '../versions/current.js';
import { readManifest } from '../versions/manifest.js';
import { promoteVersion } from '../versions/publish.js';
import { log } from '../log.js';
import { readShard } from '../parquet/read-shard.js';
import { openVersion } from '../query/open-version.js';
import type { QueryEngine } from '../query/query-engine.js';
import type { QueueTarget } from '../queue/build-flow.js';
import { submitBuild } from '../queue/build-flow.js';
import { waitForJob } from '../queue/queue-status.js';
import { QUEUES, jobIds, type ScheduledRunPayload } from '../queue/queues.js';
import { queueCompact } from '../queue/version-jobs.js';
import { listParquet } from '../store/files.js';
import { DEFAULT_SHARD_DOCS, planShards } from '../parquet/source-ref.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import type { LoadedShard } from '../store/loaded-shard.js';

export interface RunRecord {
  schedule: string;
  jobId: string;
  startedAt: string;
  finishedAt: string;
  candidate: string;
  current: string | undefined;
  /** rejected: lost recall; conflict: another writer moved current during the run; failed: the build or evaluation failed. */
  outcome: 'promoted' | 'rejected' | 'conflict' | 'failed';
  recall: { candidate: number | undefined; current: number | undefined };
  error?: string;
  tolerance: number;
  queries: number;
}

/** The fit settings a retrain carries over from the current model's config. */
const FIT_KEYS = Object.keys(FIT_DEFAULTS);

/** Settings of the gate's comparison (the query path users get by default). */
const GATE = { k: 10, kPrime: 100, queries: 200, seed: 20261122 };

async function recallOf(store: ObjectStore, version: string, queries: (engine: QueryEngine) => Promise<QuerySet>): Promise<{ recall: number; queries: QuerySet }> {
  const opened = await openVersion(store, version);
  try {
    const q = await queries(opened.engine);
    const found = await opened.engine.search(q.vectors, q.counts, { k: GATE.k, kPrime: GATE.kPrime });
    const truth = await opened.engine.exact(q.vectors, q.counts, { k: GATE.k });
    return { recall: recallAtK(found.ids, truth.ids, q.counts.length, GATE.k), queries: q };
  } finally {
    opened.close();
  }
}

async function putRecord(store: ObjectStore, r: RunRecord): Promise<void> {
  await store.put(keys.scheduleRun(r.schedule, r.startedAt.replace(/[:.]/g, '-')), Buffer.from(JSON.stringify(r, null, 2)));
}

export async function scheduledRun(store: ObjectStore, target: QueueTarget, run: ScheduledRunPayload, jobId: string, timeoutMs = 24 * 3600_000): Promise<RunRecord> {
  const startedAt = new Date().toISOString();
  const tolerance = run.tolerance ?? config().evalTolerance;
  let base = await currentVersion(store);
  const candidate = `${run.schedule}-${startedAt.replace(/[:.]/g, '-')}`;
  try {
    // a retrain on current's shards compacts them first, so deleted documents never reach training
    if (run.source === undefined && base && (await readManifest(store, base)).shards.some((s) => s.deleted > 0)) {
      await queueCompact(target, `${candidate}-compacted`, 0, timeoutMs);
      base = await currentVersion(store);
    }
    return await gatedRebuild(store, target, run, jobId, { startedAt, tolerance, base, candidate, timeoutMs });
  } catch (err) {
    // a run that ended before its verdict still leaves a record (the dashboard's "last run")
    if (!(err instanceof RunVerdictError)) {
      await putRecord(store, { schedule: run.schedule, jobId, startedAt, finishedAt: new Date().toISOString(), candidate, current: base, outcome: 'failed', recall: { candidate: undefined, current: undefined }, tolerance, queries: 0, error: (err as Error).message });
    }
    throw err instanceof RunVerdictError ? err.cause : err;
  }
}

/** Carries a rejection or conflict whose record is already written. */
class RunVerdictError extends Error {}

async function gatedRebuild(
  store: ObjectStore,
  target: QueueTarget,
  run: ScheduledRunPayload,
  jobId: string,
  { startedAt, tolerance, base, candidate, timeoutMs }: { startedAt: string; tolerance: number; base: string | undefined; candidate: string; timeoutMs: number },
): Promise<RunRecord> {
  // unless the schedule says otherwise, retrain with the current model's settings
  const baseConfig = base ? (await readManifest(store, base)).config : {};
  const fit: Record<string, number> = {};
  for (const k of FIT_KEYS) if (typeof baseConfig[k] === 'number') fit[k] = baseConfig[k] as number;
  Object.assign(fit, run.fit ?? {});
  // a rebuild stores its artifacts the way current does (a first build: the defaults)
  const encoding = (base ? (await readManifest(store, base)).encoding : undefined) ?? (base ? LEGACY_ENCODING : ENCODING_DEFAULTS);
  if (run.source !== undefined) {
    const files = await listParquet(store, run.source);
    if (files.length === 0) throw new ConfigError(`schedule ${run.schedule}: no .parquet objects under '${run.source}' in ${store.url}`);
    // split as `lemur build` does by default, so a rebuild's shards are the ones a build would make
    const sources = await planShards(store, files, DEFAULT_SHARD_DOCS);
    await submitBuild(target, { version: candidate, sources, fit, promote: false, encoding, ...(run.input ? { input: run.input } : {}) });
  } else {
    if (!base) throw new ConfigError(`schedule ${run.schedule}: no source prefix and no current version to retrain on`);
    const m = await readManifest(store, base);
    const dim = Number(m.config['dim']);
    const shards: LoadedShard[] = m.shards.map((s) => ({ shardId: s.shardId, sourceKey: s.sourceKey, tokensKey: s.tokensKey, docs: s.docs, tokens: s.tokens, dim, loaded: false }));
    await submitBuild(target, { version: candidate, shards, fit, promote: false, encoding, ...(m.input ? { input: m.input } : {}) });
  }
  log.info('scheduled rebuild: candidate submitted', { schedule: run.schedule, candidate, current: base });
  await waitForJob(target, QUEUES.train, jobIds.train(candidate), timeoutMs);
  await waitForJob(target, QUEUES.publish, jobIds.publish(candidate), timeoutMs);

  // the same queries for both: from the query file, or sampled (seeded) from the candidate's corpus
  let sample: QuerySet | undefined;
  const pick = async (engine: QueryEngine): Promise<QuerySet> => {
    if (sample) return sample;
    if (run.queries) {
      const d = await readShard(store, run.queries, run.input ?? {});
      sample = { dim: d.dim, vectors: d.vectors, counts: d.counts, ids: Array.from(d.ids as ArrayLike<bigint | string>, String) };
      checkQueryDim(sample, d.source, candidate, Number((await readManifest(store, candidate)).config['dim']));
    } else {
      sample = heldOutQueries(engine, GATE.queries, GATE.seed);
    }
    return sample;
  };
  const cand = await recallOf(store, candidate, pick);
  const cur = base ? await recallOf(store, base, pick) : undefined;
  const passed = cur === undefined || cand.recall >= cur.recall - tolerance;
  const record: RunRecord = {
    schedule: run.schedule,
    jobId,
    startedAt,
    finishedAt: new Date().toISOString(),
    candidate,
    current: base,
    outcome: passed ? 'promoted' : 'rejected',
    recall: { candidate: cand.recall, current: cur?.recall },
    tolerance,
    queries: cand.queries.counts.length,
  };
  let conflict: unknown;
  if (passed) {
    try {
      await promoteVersion(store, candidate, base ?? null);
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      record.outcome = 'conflict';
      conflict = err;
    }
  }
  await putRecord(store, record);
  if (conflict) throw new RunVerdictError('conflict', { cause: conflict });
  log.info(`scheduled rebuild ${record.outcome}`, { ...record });
  if (!passed) {
    const why = `schedule ${run.schedule}: candidate ${candidate} not published: recall@10 ${cand.recall.toFixed(4)} vs current ${base} ${cur!.recall.toFixed(4)} (tolerance ${tolerance}); current kept`;
    throw new RunVerdictError('rejected', { cause: new PipelineError(why) });
  }
  return record;
}
