/**
 * `lemur ingest <prefix>`: adds Parquet shards to the current version without retraining, as a
 * flow on the queues (load, weights and index spread over workers; publish adds the shards to
 * current). Without REDIS_URL: a private Redis and in-process workers.
 */
import { parseFraction } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { log } from '../../log.js';
import { submitIngest } from '../../queue/build-flow.js';
import { waitForJob } from '../../queue/queue-status.js';
import { QUEUES, jobIds } from '../../queue/queues.js';
import type { ReadShardOptions } from '../../parquet/read-shard.js';
import { DEFAULT_SHARD_DOCS, planShards } from '../../parquet/source-ref.js';
import { listParquet } from '../../store/files.js';
import { checkName, checkPrefix } from '../../store/keys.js';
import { openStore } from '../../store/open-store.js';
import { currentVersion } from '../../versions/current.js';
import { readManifest } from '../../versions/manifest.js';
import { COLUMN_FLAGS, COLUMN_USAGE, SHARD_FLAGS, SHARD_USAGE, columnMapping, newVersion, parse, positiveInt, printLine, shardDocsOf, type Command } from '../command.js';
import { followBuild } from '../follow-build.js';
import { withQueues } from './with-queues.js';

export interface IngestOptions {
  /** A store prefix (every .parquet under it) or one Parquet key. */
  source: string;
  version?: string;
  wait: boolean;
  driftFraction?: number;
  timeoutS: number;
  /** Column names and dim of the sources (default: the mapping current was built with). */
  mapping?: ReadShardOptions;
  verbose?: boolean;
  /** Documents per shard at most (a larger file is split into row ranges; 0: one shard per file). @defaultValue DEFAULT_SHARD_DOCS */
  shardDocs?: number;
}

export async function runIngest(o: IngestOptions): Promise<Record<string, unknown>> {
  const version = checkName('version', o.version ?? newVersion());
  checkPrefix(o.source);
  const store = openStore();
  const files = await listParquet(store, o.source);
  if (files.length === 0) throw new ConfigError(`no .parquet objects under '${o.source}' in ${store.url}`);
  const sources = await planShards(store, files, o.shardDocs ?? DEFAULT_SHARD_DOCS);
  const base = await currentVersion(store);
  if (!base) throw new ConfigError(`nothing to ingest into: no published version in ${store.url} (run lemur build first)`);
  const m = await readManifest(store, base);
  // the build's column names and dim unless the command line says otherwise (flag by flag)
  const mapping: ReadShardOptions = { ...m.input, ...o.mapping, columns: { ...m.input?.columns, ...o.mapping?.columns } };
  if (Object.keys(mapping.columns!).length === 0) delete mapping.columns;
  const t0 = performance.now();
  return withQueues(store, async (target, embedded) => {
    const submit = async (): Promise<void> => {
      await submitIngest(target, { version, base, modelKey: m.modelKey, sources, input: mapping, ...(m.encoding ? { encoding: m.encoding } : {}), ...(o.driftFraction !== undefined ? { driftFraction: o.driftFraction } : {}) });
      log.info('ingest submitted', { version, base, shards: sources.length, embedded });
    };
    if (!embedded && !o.wait) {
      await submit();
      return { version, base, shards: sources.length, submitted: true };
    }
    const r = await followBuild(target, version, { what: 'ingest', verbose: o.verbose ?? false }, async () => {
      await submit();
      return (await waitForJob(target, QUEUES.publish, jobIds.publish(version), o.timeoutS * 1000)) as { docs: number; added: number; upserted: number; retrain?: string };
    });
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

export const ingestCommand: Command = {
  name: 'ingest',
  usage: `  ingest <prefix> [--version V] [--wait] [--verbose] [--drift F] ${COLUMN_USAGE} ${SHARD_USAGE}
                                              add the Parquet shards under <prefix> to the current version without
                                              retraining (an existing id is replaced); queues a retrain past drift F;
                                              columns and dim default to those current was built with`,
  async run(args) {
    const { values, positionals } = parse(args, { version: { type: 'string' }, wait: { type: 'boolean', default: false }, drift: { type: 'string' }, timeout: { type: 'string' }, verbose: { type: 'boolean', default: false }, ...COLUMN_FLAGS, ...SHARD_FLAGS }, true);
    if (positionals.length !== 1) throw new ConfigError('lemur ingest takes one store prefix or Parquet key, e.g. `lemur ingest incoming/2026-11-22/`');
    const r = await runIngest({
      source: positionals[0]!,
      ...(values.version ? { version: values.version } : {}),
      wait: values.wait ?? false,
      ...(values.drift !== undefined ? { driftFraction: parseFraction('--drift', values.drift, 0.2) } : {}),
      timeoutS: positiveInt('timeout', values.timeout, 24 * 3600),
      mapping: columnMapping(values),
      verbose: values.verbose ?? false,
      shardDocs: shardDocsOf(values),
    });
    printLine(r);
    return 0;
  },
};
