/**
 * Every object-store key the pipeline uses, built in one place. Layout under the store root:
 *
 *   sources/…                         input Parquet shards (anywhere the user puts them)
 *   shards/<shardId>/<tag>/tokens.lts a loaded shard's token store (ids kept inside); <tag> is
 *                                     derived from the source's size and etag, so reloading a
 *                                     changed source never overwrites what a published version uses
 *   shards/<shardId>/source.json      the latest load: source key, size, etag, token store key
 *   versions/<version>/model.lemur    a published model version …
 *   versions/<version>/<shardId>/index.faiss
 *   versions/<version>/<shardId>/W.f32        W rows from the weights job until the version is
 *                                     published (then deleted: the index holds them; sq8 shards keep it)
 *   versions/<version>/<shardId>/deleted.u32  tombstoned positions of the shard (sorted uint32)
 *   versions/<version>/deleted-ids.json      ids deleted by users (re-applied when rebuilt)
 *   versions/<version>/manifest.json  (a version may reference artifacts of older versions:
 *                                     copy-on-write, since every artifact is immutable)
 *   requests/<version>/delete-ids.json   the ids a queued delete was asked to remove
 *   evals/<evalId>/plan.json          a queued evaluation's plan; queries.lts, truth/given.json,
 *                                     truth/batch-N.json, results/batch-N.parquet, report.{json,html}
 *   schedules/<name>/runs/<at>.json   one record per scheduled run (outcome, recalls)
 *   current                           the pointer to the published version
 */
import { createHash } from 'node:crypto';

import { InvalidArgumentError } from '../errors.js';
import { checkKey } from './object-store.js';

/** A stable, key-safe id for a source shard key (readable prefix + hash, so renames never collide). */
export function shardId(sourceKey: string): string {
  checkKey(sourceKey);
  const base = sourceKey.split('/').pop()!.replace(/\.parquet$/i, '').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 48);
  const hash = createHash('sha256').update(sourceKey).digest('hex').slice(0, 12);
  return `${base}-${hash}`;
}

export const keys = {
  shardTokens: (id: string, tag: string): string => checkKey(`shards/${id}/${tag}/tokens.lts`),
  shardSource: (id: string): string => checkKey(`shards/${id}/source.json`),
  model: (version: string): string => checkKey(`versions/${version}/model.lemur`),
  weights: (version: string, id: string): string => checkKey(`versions/${version}/${id}/W.f32`),
  index: (version: string, id: string): string => checkKey(`versions/${version}/${id}/index.faiss`),
  deleted: (version: string, id: string): string => checkKey(`versions/${version}/${id}/deleted.u32`),
  deletedIds: (version: string): string => checkKey(`versions/${version}/deleted-ids.json`),
  manifest: (version: string): string => checkKey(`versions/${version}/manifest.json`),
  /** The prefix every version's objects live under (list it to find manifests). */
  versionsPrefix: 'versions/',
  /** The version a listed key is the manifest of, or undefined for any other key. */
  versionOfManifest: (key: string): string | undefined => /^versions\/([^/]+)\/manifest\.json$/.exec(key)?.[1],
  deleteRequest: (version: string): string => checkKey(`requests/${version}/delete-ids.json`),
  evalPlan: (evalId: string): string => checkKey(`evals/${evalId}/plan.json`),
  evalQueries: (evalId: string): string => checkKey(`evals/${evalId}/queries.lts`),
  evalGivenTruth: (evalId: string): string => checkKey(`evals/${evalId}/truth/given.json`),
  evalResults: (evalId: string, batch: number): string => checkKey(`evals/${evalId}/results/batch-${String(batch).padStart(5, '0')}.parquet`),
  evalTruth: (evalId: string, batch: number): string => checkKey(`evals/${evalId}/truth/batch-${String(batch).padStart(5, '0')}.json`),
  evalReport: (evalId: string, ext: 'json' | 'html'): string => checkKey(`evals/${evalId}/report.${ext}`),
  /** The prefix of every evaluation's objects. */
  evalsPrefix: 'evals/',
  /** Whether a listed key is an evaluation's JSON report. */
  isEvalReport: (key: string): boolean => /^evals\/[^/]+\/report\.json$/.test(key),
  scheduleRun: (name: string, at: string): string => checkKey(`schedules/${name}/runs/${at}.json`),
  /** The prefix of one schedule's run records (list it). */
  scheduleRuns: (name: string): string => `schedules/${name}/runs/`,
  current: (): string => 'current',
};

/** The tag of a source object's content (size and etag), for content-addressed shard keys. */
export function sourceTag(size: number, etag: string): string {
  return createHash('sha256').update(`${size}:${etag}`).digest('hex').slice(0, 16);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * A name that becomes one key segment and part of job ids (a version, a schedule, an evaluation):
 * letters, digits, '.', '_', '-', starting with a letter or digit, at most 128 characters.
 * Checked where a name enters (CLI flags, submit functions), before any work is queued.
 */
export function checkName(what: string, name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidArgumentError(`Expected a ${what} name of letters, digits, '.', '_' and '-' (starting with a letter or digit, at most 128) but received '${String(name)}'`);
  }
  return name;
}

/** A store prefix to list under: '' (the whole store) or a relative key path, with or without a trailing '/'. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}
