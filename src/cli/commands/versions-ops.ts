/**
 * `lemur ingest | delete | compact`: the commands that derive a new version from current.
 * All run on the queues (without REDIS_URL: a private Redis and in-process workers): ingest as a
 * flow (load, weights and index spread over workers; publish adds the shards to current), delete
 * and compact as single jobs on the publish queue, which writes one version at a time.
 */
import { readFileSync } from 'node:fs';

import { ConfigError, PipelineError } from '../../errors.js';
import { currentVersion } from '../../versions/current.js';
import { readManifest } from '../../versions/manifest.js';
import { log } from '../../log.js';
import type { DeleteOutcome } from '../../pipeline/delete-docs.js';
import { submitIngest, type QueueTarget } from '../../queue/build-flow.js';
import { waitForJob } from '../../queue/queue-status.js';
import { QUEUES, jobIds } from '../../queue/queues.js';
import { queueCompact, queueDelete } from '../../queue/version-jobs.js';
import type { ObjectStore } from '../../store/object-store.js';
import { listParquet } from '../../store/files.js';
import { openStore } from '../../store/open-store.js';
import { newVersion } from './build.js';
import { withQueues } from './with-queues.js';

export interface IngestOptions {
  /** A store prefix (every .parquet under it) or one Parquet key. */
  source: string;
  version?: string;
  wait: boolean;
  driftFraction?: number;
  timeoutS: number;
}

export async function runIngest(o: IngestOptions): Promise<Record<string, unknown>> {
  const store = openStore();
  const sources = await listParquet(store, o.source);
  if (sources.length === 0) throw new ConfigError(`no .parquet objects under '${o.source}' in ${store.url}`);
  const base = await currentVersion(store);
  if (!base) throw new ConfigError(`nothing to ingest into: no published version in ${store.url} (run lemur build first)`);
  const m = await readManifest(store, base);
  const version = o.version ?? newVersion();
  const t0 = performance.now();
  return withQueues(store, async (target, embedded) => {
    await submitIngest(target, { version, base, modelKey: m.modelKey, sources, ...(o.driftFraction !== undefined ? { driftFraction: o.driftFraction } : {}) });
    log.info('ingest submitted', { version, base, shards: sources.length, embedded });
    if (!embedded && !o.wait) return { version, base, shards: sources.length, submitted: true };
    let r: { docs: number; added: number; upserted: number; retrain?: string };
    try {
      r = (await waitForJob(target, QUEUES.publish, jobIds.publish(version), o.timeoutS * 1000)) as typeof r;
    } catch (err) {
      throw new PipelineError(`ingest ${version} failed: ${(err as Error).message}`, { cause: err });
    }
    const out: Record<string, unknown> = { version, base, shards: sources.length, docs: r.docs, added: r.added, upserted: r.upserted, ingest_s: Math.round((performance.now() - t0) / 100) / 10 };
    if (r.retrain) {
      out['retrain'] = r.retrain;
      // the private Redis ends with this command: run the queued retrain before it does
      if (embedded) {
        log.info('drift past threshold: retraining before exit (a private Redis would lose the job)', { job: r.retrain });
        try {
          out['retrained'] = await waitForJob(target, QUEUES.schedule, r.retrain, o.timeoutS * 1000);
        } catch (err) {
          out['retrained'] = { failed: (err as Error).message };
        }
      }
    }
    return out;
  });
}

/** Ids from the command line, or one per line from a file ('-' = stdin). */
export function readIds(positionals: string[], file: string | undefined): string[] {
  const ids = [...positionals];
  if (file !== undefined) {
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    for (const line of text.split(/\r?\n/)) if (line.trim()) ids.push(line.trim());
  }
  if (ids.length === 0) throw new ConfigError('lemur delete needs ids: `lemur delete ID…` or `lemur delete --file ids.txt`');
  return ids;
}

/** Runs a version-writing job on the publish queue and waits for it; its failure becomes a PipelineError. */
async function versionJob<T>(what: string, fn: (target: QueueTarget, store: ObjectStore) => Promise<unknown>): Promise<T> {
  const store = openStore();
  return withQueues(store, async (target) => {
    try {
      return (await fn(target, store)) as T;
    } catch (err) {
      throw new PipelineError(`${what} failed: ${(err as Error).message}`, { cause: err });
    }
  });
}

export async function runDelete(ids: string[], version: string = newVersion(), timeoutS = 3600): Promise<Record<string, unknown>> {
  const r = await versionJob<DeleteOutcome>(`delete ${version}`, (t, store) => queueDelete(t, store, version, ids, timeoutS * 1000));
  return { ...r, notFound: r.notFound.length > 20 ? [...r.notFound.slice(0, 20), `… ${r.notFound.length - 20} more`] : r.notFound };
}

export async function runCompact(version: string = newVersion(), mergeBelow?: number, timeoutS = 24 * 3600): Promise<Record<string, unknown>> {
  return versionJob(`compact ${version}`, (t) => queueCompact(t, version, mergeBelow, timeoutS * 1000));
}
