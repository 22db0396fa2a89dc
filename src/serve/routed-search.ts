/**
 * One batch searched across shard groups, the engine's steps (src/query/query-engine.ts search)
 * split between processes:
 *   features  here, once per batch (the router holds the version's model, no shards);
 *   candidates every group's top k' by inner product (POST /v1/group/candidates);
 *   top k'    here, per query, over all groups' candidates (topCandidates: the total order by
 *             score, shard ordinal, position makes it the same set one engine keeps);
 *   rerank    each group exactly scores the picks in its shards (POST /v1/group/rerank);
 *   merge     here (mergeHits), ids as the groups named them.
 * Every step runs the same code on the same float32 values as one engine holding every shard
 * (scores cross the wire as JSON numbers, which carry a float32 exactly), so results are the
 * same, bit for bit. Both calls pin the batch's version, so no answer mixes versions.
 */
import type { LemurModel } from '../model/lemur-model.js';
import { mergeHits, topCandidates, type Hit } from '../query/query-engine.js';
import { metrics } from '../metrics.js';
import type { CandidatesBody, RerankBody } from './group-routes.js';
import { unflattenHits } from './group-routes.js';
import type { GroupDirectory } from './group-directory.js';
import { groupOfShard } from './shard-group.js';
import { concatQueries, splitRows, type JobAnswer, type SearchJob } from './search-route.js';
import { GroupUnavailableError, GroupVersionMissingError } from './serve-errors.js';

/** What a router holds per version: the model (features), not a single shard. */
export interface RoutedVersion {
  version: string;
  model: LemurModel;
  close: () => void;
}

export interface RoutedSearchOptions {
  directory: GroupDirectory;
  /** Answer from the groups that did answer (and say which did not) instead of failing. */
  partial: boolean;
  threads: number;
}

const base64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/**
 * Calls every listed group; the answers by group, and the groups that failed.
 * @throws the failure, unless partial answers are allowed
 */
async function everyGroup<R>(groups: number[], partial: boolean, call: (g: number) => Promise<R>): Promise<{ answers: Map<number, R>; failed: number[] }> {
  const settled = await Promise.allSettled(groups.map(call));
  const answers = new Map<number, R>();
  const failed: number[] = [];
  const errors: unknown[] = [];
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') answers.set(groups[i]!, s.value);
    else {
      failed.push(groups[i]!);
      errors.push(s.reason);
      metrics.serveGroupFailures.inc({ group: String(groups[i]!) });
    }
  });
  const foreign = errors.find((e) => !(e instanceof GroupUnavailableError));
  if (foreign) throw foreign; // a bug here, not a group's failure
  if (failed.length > 0 && !partial) {
    const es = errors as GroupUnavailableError[];
    // all mid-swap: the one kind the caller retries
    if (es.every((e) => e instanceof GroupVersionMissingError)) throw new GroupVersionMissingError(es[0]!.version, failed, es.map((e) => e.message).join('; '));
    throw new GroupUnavailableError(es.length === 1 ? es[0]!.message : `shard groups ${failed.join(', ')} did not answer: ${es.map((e) => e.message).join('; ')}`, failed);
  }
  if (answers.size === 0 && groups.length > 0) throw new GroupUnavailableError(`no shard group answered: ${errors.map((e) => (e as Error).message).join('; ')}`, failed);
  return { answers, failed };
}

export async function routeBatch(jobs: SearchJob<RoutedVersion>[], o: RoutedSearchOptions): Promise<JobAnswer[]> {
  const first = jobs[0]!;
  const version = first.lease.version;
  const { kPrime, efSearch } = first.req;
  const { vectors, counts, k } = concatQueries(jobs);
  const nq = counts.length;
  const n = o.directory.count;
  if (n === undefined) throw new GroupUnavailableError('no shard group has answered yet', []);
  const groups = Array.from({ length: n }, (_, i) => i);
  const t0 = performance.now();

  const model = first.lease.opened.model;
  const F = await model.features(vectors, counts, { threads: o.threads });
  const cBody: CandidatesBody = { version, features: base64(F), nq, k, kPrime, ...(efSearch ? { efSearch } : {}) };
  const c = await everyGroup(groups, o.partial, (g) => o.directory.call<{ hits: number[][] }>(g, version, '/v1/group/candidates', cBody));
  const cands: Hit[][] = Array.from({ length: nq }, () => []);
  for (const { hits } of c.answers.values()) unflattenHits(hits).forEach((h, q) => cands[q]!.push(...h));
  const picked = topCandidates(cands, kPrime);

  const picksOf = (g: number): number[][] => picked.map((h) => h.filter((x) => groupOfShard(x.shard, n) === g).flatMap((x) => [x.shard, x.pos]));
  const withPicks = groups.filter((g) => c.answers.has(g) && picked.some((h) => h.some((x) => groupOfShard(x.shard, n) === g)));
  const tensor = { dtype: 'float32' as const, shape: [vectors.length / model.dim, model.dim], data: base64(vectors), counts: Array.from(counts) };
  const r = await everyGroup(withPicks, o.partial, (g) => o.directory.call<{ hits: number[][]; ids: string[][] }>(g, version, '/v1/group/rerank', { version, tensor, picks: picksOf(g), k } satisfies RerankBody));
  const hits: Hit[][] = Array.from({ length: nq }, () => []);
  const ids = new Map<string, string>();
  for (const a of r.answers.values()) {
    unflattenHits(a.hits).forEach((h, q) => {
      h.forEach((x, i) => ids.set(`${x.shard}:${x.pos}`, a.ids[q]![i]!));
      hits[q]!.push(...h);
    });
  }
  const result = mergeHits(hits, k, (h) => ids.get(`${h.shard}:${h.pos}`)!);
  const searchMs = performance.now() - t0;
  metrics.serveBatchQueries.observe(nq);
  const missingGroups = [...new Set([...c.failed, ...r.failed])].sort((a, b) => a - b);
  return splitRows(jobs, result).map((results) => ({ results, searchMs, ...(missingGroups.length ? { missingGroups } : {}) }));
}
