/**
 * `lemur ingest | delete | compact`: the commands that derive a new version from current.
 * ingest runs on the queues (load, weights and index work spread over workers; publish adds the
 * shards to current); delete and compact are single steps over the store, run in this process.
 */
import { readFileSync } from 'node:fs';

import { ConfigError, PipelineError } from '../../errors.js';
import { currentVersion, readManifest } from '../../index/publish.js';
import { log } from '../../log.js';
import { compact } from '../../pipeline/compact.js';
import { deleteDocs } from '../../pipeline/delete-docs.js';
import { submitIngest } from '../../queue/build-flow.js';
import { waitForJob } from '../../queue/queue-status.js';
import { QUEUES, jobIds } from '../../queue/queues.js';
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
  const sources = (await store.list(o.source)).map((x) => x.key).filter((k) => k.toLowerCase().endsWith('.parquet'));
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

export async function runDelete(ids: string[], version?: string): Promise<Record<string, unknown>> {
  const r = await deleteDocs(openStore(), ids, version ?? newVersion());
  return { ...r, notFound: r.notFound.length > 20 ? [...r.notFound.slice(0, 20), `… ${r.notFound.length - 20} more`] : r.notFound };
}

export async function runCompact(version?: string, mergeBelow?: number): Promise<Record<string, unknown>> {
  return { ...(await compact(openStore(), version ?? newVersion(), mergeBelow !== undefined ? { mergeBelow } : {})) };
}
