/**
 * `lemur build <prefix>`: queues a build of every Parquet object under a store prefix. With
 * REDIS_URL it submits to the shared queues (and waits with --wait); without, it is a
 * one-machine build: a private redis-server, every worker role in this process, and it returns
 * when the version is published.
 */
import { ConfigError } from '../../errors.js';
import { ENCODING_DEFAULTS, type ArtifactEncoding } from '../../fit-defaults.js';
import { log } from '../../log.js';
import type { ReadShardOptions } from '../../parquet/read-shard.js';
import { DEFAULT_SHARD_DOCS, planShards } from '../../parquet/source-ref.js';
import { submitBuild } from '../../queue/build-flow.js';
import { waitForJob } from '../../queue/queue-status.js';
import { QUEUES, jobIds } from '../../queue/queues.js';
import { listParquet } from '../../store/files.js';
import { checkName, checkPrefix } from '../../store/keys.js';
import { openStore } from '../../store/open-store.js';
import { COLUMN_FLAGS, COLUMN_USAGE, ENCODING_FLAGS, FIT_FLAGS, SHARD_FLAGS, SHARD_USAGE, columnMapping, encodingOf, fitOptions, newVersion, parse, positiveInt, printLine, shardDocsOf, type Command } from '../command.js';
import { followBuild } from '../follow-build.js';
import { withQueues } from './with-queues.js';

export interface BuildOptions {
  prefix: string;
  version?: string;
  wait: boolean;
  fit: Record<string, number>;
  timeoutS: number;
  /** Column names and dim of the sources. */
  mapping?: ReadShardOptions;
  /** Worker logs on stderr instead of bars and a log file. */
  verbose?: boolean;
  /** How tokens and index rows are stored. @defaultValue ENCODING_DEFAULTS */
  encoding?: ArtifactEncoding;
  /** Documents per shard at most (a larger file is split into row ranges; 0: one shard per file). @defaultValue DEFAULT_SHARD_DOCS */
  shardDocs?: number;
}

export async function runBuild(o: BuildOptions): Promise<Record<string, unknown>> {
  // names first: nothing is listed, queued or trained under a name the store would refuse
  const version = checkName('version', o.version ?? newVersion());
  checkPrefix(o.prefix);
  const store = openStore();
  const files = await listParquet(store, o.prefix);
  if (files.length === 0) throw new ConfigError(`no .parquet objects under '${o.prefix}' in ${store.url}`);
  const sources = await planShards(store, files, o.shardDocs ?? DEFAULT_SHARD_DOCS);
  const t0 = performance.now();
  return withQueues(store, async (target, embedded) => {
    const submit = async (): Promise<void> => {
      await submitBuild(target, { version, sources, fit: o.fit, encoding: o.encoding ?? ENCODING_DEFAULTS, ...(o.mapping ? { input: o.mapping } : {}) });
      log.info('build submitted', { version, shards: sources.length, store: store.url, embedded });
    };
    if (!embedded && !o.wait) {
      await submit();
      return { version, shards: sources.length, submitted: true };
    }
    return followBuild(target, version, { what: 'build', verbose: o.verbose ?? false }, async () => {
      await submit();
      await waitForJob(target, QUEUES.train, jobIds.train(version), o.timeoutS * 1000);
      const r = (await waitForJob(target, QUEUES.publish, jobIds.publish(version), o.timeoutS * 1000)) as { docs: number };
      return { version, shards: sources.length, docs: r.docs, build_s: Math.round((performance.now() - t0) / 100) / 10 };
    });
  });
}

export const buildCommand: Command = {
  name: 'build',
  usage: `  build <prefix> [--version V] [--wait] [--verbose] [--epochs N] [--m-prime N] [--n-learn N] [--hidden N]
       ${COLUMN_USAGE} [--token-dtype float16|float32] [--index-storage fp16|sq8|fp32] ${SHARD_USAGE}
                                              build and publish a version from every .parquet under <prefix>
                                              of the store (no REDIS_URL: a private Redis and in-process workers);
                                              on a terminal: progress bars, worker logs to a file (--verbose: here)`,
  async run(args) {
    const { values, positionals } = parse(args, { version: { type: 'string' }, wait: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false }, ...FIT_FLAGS, ...COLUMN_FLAGS, ...ENCODING_FLAGS, ...SHARD_FLAGS, timeout: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new ConfigError('lemur build takes one store prefix, e.g. `lemur build sources/`');
    const fit = fitOptions(values);
    printLine(
      await runBuild({
        prefix: positionals[0]!,
        ...(values.version ? { version: values.version } : {}),
        wait: values.wait ?? false,
        fit,
        timeoutS: positiveInt('timeout', values.timeout, 24 * 3600),
        mapping: columnMapping(values),
        verbose: values.verbose ?? false,
        encoding: encodingOf(values),
        shardDocs: shardDocsOf(values),
      }),
    );
    return 0;
  },
};
