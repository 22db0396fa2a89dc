/**
 * The work of a queued evaluation, as plain functions over the store (the eval worker calls
 * them): a batch of queries searched under every version × setting (batched for throughput,
 * then a few one at a time for latency), and exact MaxSim ground truth for sampled queries.
 */
import { join } from 'node:path';

import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';

import { ObjectNotFoundError } from '../errors.js';
import { TokenStore } from '../native/token-store.js';
import { localCopy, type LocalCopy } from '../store/local-copy.js';
import { makeScratchDir } from '../store/scratch.js';
import { objectBuffer } from '../store/files.js';
import { keys } from '../store/keys.js';
import type { ObjectStore } from '../store/object-store.js';
import type { EvalBatchResult, EvalPlan, ExactBatchPayload, TruthRows, EvalBatchPayload, BatchTiming } from './plan.js';
import { settingLabel } from './plan.js';
import { sliceQueries, type QuerySet } from './query-set.js';
import type { VersionCache } from './version-cache.js';

export async function readPlan(store: ObjectStore, evalId: string): Promise<EvalPlan> {
  return JSON.parse((await store.get(keys.evalPlan(evalId))).toString('utf8')) as EvalPlan;
}

/** Writes an evaluation's queries to the store as a token store (ids = query ids). */
export async function putQueries(store: ObjectStore, evalId: string, q: QuerySet): Promise<void> {
  const scratch = makeScratchDir();
  try {
    const local = join(scratch.dir, 'queries.lts');
    await TokenStore.write(local, { vectors: q.vectors, counts: q.counts, dim: q.dim, ids: q.ids });
    await store.putFile(keys.evalQueries(evalId), local, { move: true });
  } finally {
    scratch.cleanup();
  }
}

/** The queries of evaluations this worker has seen (one kept: batches of one eval arrive together). */
export class QueryCache {
  #held: { evalId: string; set: QuerySet; copy: LocalCopy } | undefined;
  constructor(readonly store: ObjectStore) {}

  async get(evalId: string): Promise<QuerySet> {
    if (this.#held?.evalId === evalId) return this.#held.set;
    this.close();
    const copy = await localCopy(this.store, keys.evalQueries(evalId));
    const ts = await TokenStore.open(copy.path);
    try {
      const ids = Array.from(await ts.ids(), String);
      const parts: Float32Array[] = [];
      const counts = new Int32Array(ts.nDocs);
      for (let i = 0; i < ts.nDocs; i++) {
        const v = ts.docTokens(i);
        parts.push(v);
        counts[i] = v.length / ts.dim;
      }
      const vectors = new Float32Array(ts.nTokens * ts.dim);
      let o = 0;
      for (const p of parts) {
        vectors.set(p, o);
        o += p.length;
      }
      this.#held = { evalId, set: { dim: ts.dim, vectors, counts, ids }, copy };
      return this.#held.set;
    } finally {
      ts.close();
    }
  }

  close(): void {
    this.#held?.copy.release();
    this.#held = undefined;
  }
}

export interface ResultRow {
  query: number;
  version: string;
  setting: string;
  rank: number;
  id: string;
  score: number;
}

export async function runEvalBatch(store: ObjectStore, versions: VersionCache, queries: QueryCache, p: EvalBatchPayload): Promise<EvalBatchResult> {
  const plan = await readPlan(store, p.evalId);
  const q = sliceQueries(await queries.get(p.evalId), p.from, p.to);
  const nq = p.to - p.from;
  const rows: ResultRow[] = [];
  const timings: BatchTiming[] = [];
  for (const version of plan.versions) {
    const { engine } = await versions.get(version);
    for (const s of plan.settings) {
      const opts = { k: plan.k, kPrime: s.kPrime, efSearch: s.efSearch, candidates: s.candidates };
      const t0 = performance.now();
      const r = await engine.search(q.vectors, q.counts, opts);
      const seconds = (performance.now() - t0) / 1000;
      const setting = settingLabel(s);
      for (let i = 0; i < nq; i++) {
        const row = r.row(i);
        row.ids.forEach((id, rank) => {
          if (id !== null) rows.push({ query: p.from + i, version, setting, rank, id: String(id), score: row.scores[rank]! });
        });
      }
      const latenciesMs: number[] = [];
      for (let i = 0; i < Math.min(plan.latencySample, nq); i++) {
        const one = sliceQueries(q, i, i + 1);
        const t1 = performance.now();
        await engine.search(one.vectors, one.counts, opts);
        latenciesMs.push(performance.now() - t1);
      }
      timings.push({ version, setting, nq, seconds, latenciesMs });
    }
  }
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'query', data: rows.map((r) => r.query), type: 'INT32' },
      { name: 'query_id', data: rows.map((r) => q.ids[r.query - p.from]!), type: 'STRING' },
      { name: 'version', data: rows.map((r) => r.version), type: 'STRING' },
      { name: 'setting', data: rows.map((r) => r.setting), type: 'STRING' },
      { name: 'rank', data: rows.map((r) => r.rank), type: 'INT32' },
      { name: 'id', data: rows.map((r) => r.id), type: 'STRING' },
      { name: 'score', data: Float32Array.from(rows, (r) => r.score), type: 'FLOAT' },
    ],
  });
  const resultsKey = keys.evalResults(p.evalId, p.batch);
  await store.put(resultsKey, new Uint8Array(buf));
  return { batch: p.batch, resultsKey, timings };
}

/** Reads one batch's result rows back (the Parquet footer, then its column chunks, by ranged reads). */
export async function readResults(store: ObjectStore, key: string): Promise<ResultRow[]> {
  const info = await store.head(key);
  if (!info) throw new ObjectNotFoundError(store.url, key);
  const file = objectBuffer(store, key, info.size);
  const objs = (await parquetReadObjects({ file, columns: ['query', 'version', 'setting', 'rank', 'id', 'score'] })) as unknown as ResultRow[];
  return objs.map((o) => ({ query: Number(o.query), version: o.version, setting: o.setting, rank: Number(o.rank), id: o.id, score: Number(o.score) }));
}

/** Exact top-k (MaxSim over every live document) of sampled queries, per version. */
export async function runExactBatch(store: ObjectStore, versions: VersionCache, queries: QueryCache, p: ExactBatchPayload): Promise<{ batch: number; truthKey: string }> {
  const plan = await readPlan(store, p.evalId);
  const all = await queries.get(p.evalId);
  const truth: TruthRows = {};
  for (const version of plan.versions) {
    const { engine } = await versions.get(version);
    const rows: Record<string, string[]> = {};
    const parts = p.queries.map((i) => sliceQueries(all, i, i + 1));
    const vectors = new Float32Array(parts.reduce((a, x) => a + x.vectors.length, 0));
    let o = 0;
    for (const x of parts) {
      vectors.set(x.vectors, o);
      o += x.vectors.length;
    }
    const counts = Int32Array.from(parts, (x) => x.counts[0]!);
    const r = await engine.exact(vectors, counts, { k: plan.k });
    p.queries.forEach((qi, j) => {
      rows[String(qi)] = r.row(j).ids.filter((x) => x !== null).map(String);
    });
    truth[version] = rows;
  }
  const truthKey = keys.evalTruth(p.evalId, p.batch);
  await store.put(truthKey, Buffer.from(JSON.stringify(truth)));
  return { batch: p.batch, truthKey };
}
