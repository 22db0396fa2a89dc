/**
 * `lemur build <prefix>`: queues a build of every Parquet object under a store prefix. With
 * REDIS_URL it submits to the shared queues (and waits with --wait); without, it is a
 * one-machine build: a private redis-server, every worker role in this process, and it returns
 * when the version is published.
 */
import { ConfigError, PipelineError } from '../../errors.js';
import { log } from '../../log.js';
import { submitBuild } from '../../queue/build-flow.js';
import { buildProgress, progressLine } from '../../queue/build-progress.js';
import { waitForJob } from '../../queue/queue-status.js';
import { QUEUES, jobIds } from '../../queue/queues.js';
import { listParquet } from '../../store/files.js';
import { openStore } from '../../store/open-store.js';
import { FIT_FLAGS, fitOptions, newVersion, parse, positiveInt, printLine, type Command } from '../command.js';
import { withQueues } from './with-queues.js';

export interface BuildOptions {
  prefix: string;
  version?: string;
  wait: boolean;
  fit: Record<string, number>;
  timeoutS: number;
}

export async function runBuild(o: BuildOptions): Promise<Record<string, unknown>> {
  const store = openStore();
  const sources = await listParquet(store, o.prefix);
  if (sources.length === 0) throw new ConfigError(`no .parquet objects under '${o.prefix}' in ${store.url}`);
  const version = o.version ?? newVersion();
  const t0 = performance.now();
  return withQueues(store, async (target, embedded) => {
    log.info('build submitted', { version, shards: sources.length, store: store.url, embedded });
    await submitBuild(target, { version, sources, fit: o.fit });
    if (!embedded && !o.wait) return { version, shards: sources.length, submitted: true };
    // progress: one refreshed line on a terminal, a log line every 10 s otherwise
    const tty = process.stderr.isTTY;
    let last = '';
    let lastLog = 0;
    const timer = setInterval(() => {
      void buildProgress(target, version).then((p) => {
        if (!p) return;
        const line = progressLine(p);
        if (tty) process.stderr.write(`\r${line.padEnd(last.length)}`);
        else if (Date.now() - lastLog > 10_000 && line !== last) {
          log.info(line);
          lastLog = Date.now();
        }
        last = line;
      }, () => undefined);
    }, 1000);
    try {
      await waitForJob(target, QUEUES.train, jobIds.train(version), o.timeoutS * 1000);
      const r = (await waitForJob(target, QUEUES.publish, jobIds.publish(version), o.timeoutS * 1000)) as { docs: number };
      return { version, shards: sources.length, docs: r.docs, build_s: Math.round((performance.now() - t0) / 100) / 10 };
    } catch (err) {
      throw new PipelineError(`build ${version} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearInterval(timer);
      if (tty && last) process.stderr.write('\n');
    }
  });
}

export const buildCommand: Command = {
  name: 'build',
  usage: `  build <prefix> [--version V] [--wait] [--epochs N] [--m-prime N] [--n-learn N] [--hidden N]
                                              build and publish a version from every .parquet under <prefix>
                                              of the store (no REDIS_URL: a private Redis and in-process workers)`,
  async run(args) {
    const { values, positionals } = parse(args, { version: { type: 'string' }, wait: { type: 'boolean', default: false }, ...FIT_FLAGS, timeout: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new ConfigError('lemur build takes one store prefix, e.g. `lemur build sources/`');
    const fit = fitOptions(values);
    printLine(await runBuild({ prefix: positionals[0]!, ...(values.version ? { version: values.version } : {}), wait: values.wait ?? false, fit, timeoutS: positiveInt('timeout', values.timeout, 24 * 3600) }));
    return 0;
  },
};
