#!/usr/bin/env node
/** The `lemur` command line: parses flags, runs one command, maps errors to exit codes. */
import { parseArgs } from 'node:util';

import { config } from '../config.js';
import { ConfigError, LemurError } from '../errors.js';
import { listVersions, rollback } from '../index/publish.js';
import { log } from '../log.js';
import { buildProgress } from '../queue/build-progress.js';
import { queueStatus } from '../queue/queue-status.js';
import { openStore } from '../store/open-store.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { runBuild } from './commands/build.js';
import { runDemo } from './commands/demo.js';
import { runQuery } from './commands/query.js';

const USAGE = `usage: lemur <command> [options]

commands:
  demo [--docs N] [--queries N] [--seed N]   generate a corpus, fit LEMUR, build the index, run the
                                              queries; prints one JSON line with recall against exact MaxSim
  build <prefix> [--version V] [--wait] [--epochs N] [--m-prime N] [--n-learn N] [--hidden N]
                                              build and publish a version from every .parquet under <prefix>
                                              of the store (no REDIS_URL: a private Redis and in-process workers)
  worker [roles...] [--lock-duration MS]      run worker roles (${Object.keys(ROLES).join(', ')}; default all); needs REDIS_URL
  query <source> [--k N] [--k-prime N] [--ef-search N] [--version V] [--json]
                                              top-k ids and exact MaxSim scores from the published version;
                                              <source>: a ../shared/data folder or a Parquet file of queries
  status [--build V] [--json]                 job counts per queue, or one build's state per stage and shard;
                                              needs REDIS_URL
  versions [--json]                           published versions, oldest first
  rollback [version]                          move 'current' to a version (default: the one before)

environment: see ../shared/conventions.md (REDIS_URL, LEMUR_STORE, LEMUR_THREADS, LEMUR_KERNEL, ...)`;

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`Expected --${name} to be a positive integer but received '${v}'`);
  return n;
}

function needRedis(command: string): string {
  const url = config().redisUrl;
  if (!url) throw new ConfigError(`lemur ${command} talks to shared queues: set REDIS_URL`);
  return url;
}

function print(value: unknown, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${JSON.stringify(value, null, 2)}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { docs: { type: 'string' }, queries: { type: 'string' }, seed: { type: 'string' } }, strict: true });
      const result = await runDemo({
        docs: positiveInt('docs', values.docs, 4000),
        queries: positiveInt('queries', values.queries, 200),
        seed: positiveInt('seed', values.seed, 7),
      });
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    case 'build': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          version: { type: 'string' },
          wait: { type: 'boolean', default: false },
          epochs: { type: 'string' },
          'm-prime': { type: 'string' },
          'n-learn': { type: 'string' },
          hidden: { type: 'string' },
          timeout: { type: 'string' },
        },
        strict: true,
      });
      if (positionals.length !== 1) throw new ConfigError('lemur build takes one store prefix, e.g. `lemur build sources/`');
      const fit: Record<string, number> = {};
      if (values.epochs !== undefined) fit['epochs'] = Number(values.epochs);
      if (values['m-prime'] !== undefined) fit['mPrime'] = positiveInt('m-prime', values['m-prime'], 8192);
      if (values['n-learn'] !== undefined) fit['nLearn'] = positiveInt('n-learn', values['n-learn'], 100_000);
      if (values.hidden !== undefined) fit['hidden'] = positiveInt('hidden', values.hidden, 2048);
      const r = await runBuild({ prefix: positionals[0]!, ...(values.version ? { version: values.version } : {}), wait: values.wait ?? false, fit, timeoutS: positiveInt('timeout', values.timeout, 24 * 3600) });
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    case 'worker': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { 'lock-duration': { type: 'string' } }, strict: true });
      const roles = (positionals.length ? positionals : Object.keys(ROLES)) as Role[];
      for (const r of roles) if (!(r in ROLES)) throw new ConfigError(`unknown role '${r}' (roles: ${Object.keys(ROLES).join(', ')})`);
      // a shorter lock lets another worker take over a killed worker's job sooner (BullMQ default 30 s)
      const lock = values['lock-duration'] !== undefined ? positiveInt('lock-duration', values['lock-duration'], 30_000) : undefined;
      const workers = startRoles(roles, openStore(), { redisUrl: needRedis('worker'), ...(lock ? { lockDuration: lock, stalledInterval: lock } : {}) });
      log.info('workers running', { roles });
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      log.info('closing workers (jobs in progress finish first)');
      await Promise.all(workers.map((w) => w.close()));
      return 0;
    }
    case 'query': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { k: { type: 'string' }, 'k-prime': { type: 'string' }, 'ef-search': { type: 'string' }, version: { type: 'string' }, json: { type: 'boolean', default: false } },
        strict: true,
      });
      if (positionals.length !== 1) throw new ConfigError('lemur query takes one source: a ../shared/data folder or a Parquet file of queries');
      const r = await runQuery({
        source: positionals[0]!,
        k: positiveInt('k', values.k, 10),
        kPrime: positiveInt('k-prime', values['k-prime'], 100),
        ...(values['ef-search'] ? { efSearch: positiveInt('ef-search', values['ef-search'], 200) } : {}),
        ...(values.version ? { version: values.version } : {}),
      });
      print(r, values.json ?? false);
      return 0;
    }
    case 'status': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false }, build: { type: 'string' } }, strict: true });
      const target = { redisUrl: needRedis('status') };
      if (values.build) {
        const p = await buildProgress(target, values.build);
        if (!p) throw new ConfigError(`no build ${values.build} in the queues`);
        print(p, values.json ?? false);
      } else {
        print(await queueStatus(target), values.json ?? false);
      }
      return 0;
    }
    case 'versions': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } }, strict: true });
      print(await listVersions(openStore()), values.json ?? false);
      return 0;
    }
    case 'rollback': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {}, strict: true });
      process.stdout.write(`${JSON.stringify({ current: await rollback(openStore(), positionals[0]) })}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`lemur: unknown command '${command}'\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof LemurError) {
      log.error(err.message, { code: err.code, name: err.name });
    } else if (err instanceof TypeError && /parseArgs|Unknown option|argument/i.test(String(err.message))) {
      process.stderr.write(`lemur: ${err.message}\n${USAGE}\n`);
      process.exit(2);
    } else {
      log.error('unexpected failure', { error: err instanceof Error ? err.stack : String(err) });
    }
    process.exit(1);
  },
);
