#!/usr/bin/env node
/** The `lemur` command line: parses flags, runs one command, maps errors to exit codes. */
import { parseArgs } from 'node:util';

import { config, parseFraction } from '../config.js';
import { ConfigError, LemurError } from '../errors.js';
import { listVersions } from '../versions/manifest.js';
import { rollback } from '../versions/publish.js';
import { log } from '../log.js';
import { buildProgress } from '../queue/build-progress.js';
import { queueStatus } from '../queue/queue-status.js';
import { openStore } from '../store/open-store.js';
import { ROLES, startRoles, type Role } from '../../workers/roles.js';
import { runBuild } from './commands/build.js';
import { runDemo } from './commands/demo.js';
import { runQuery } from './commands/query.js';
import { runEval } from './commands/eval.js';
import { readIds, runCompact, runDelete, runIngest } from './commands/versions-ops.js';
import type { CandidateSource } from '../query/query-engine.js';
import { listSchedules, removeSchedule, runScheduleNow, setSchedule } from '../queue/schedules.js';
import { startDashboard } from '../dashboard/server.js';
import { serveMetrics } from '../metrics.js';

const USAGE = `usage: lemur <command> [options]

commands:
  demo [--docs N] [--queries N] [--seed N]   generate a corpus, fit LEMUR, build the index, run the
                                              queries; prints one JSON line with recall against exact MaxSim
  build <prefix> [--version V] [--wait] [--epochs N] [--m-prime N] [--n-learn N] [--hidden N]
                                              build and publish a version from every .parquet under <prefix>
                                              of the store (no REDIS_URL: a private Redis and in-process workers)
  worker [roles...] [--lock-duration MS] [--metrics-port N] [--metrics-host H]
                                              run worker roles (${Object.keys(ROLES).join(', ')}; default all); needs REDIS_URL;
                                              Prometheus /metrics on N (LEMUR_METRICS_PORT) when given, on H
                                              (LEMUR_METRICS_HOST) or loopback
  dashboard [--port 3300] [--host 127.0.0.1]  Bull Board for every queue at /queues and an overview (versions, builds per
                                              shard, failures, schedules) at /; needs REDIS_URL; off loopback it requires
                                              LEMUR_DASHBOARD_USER and LEMUR_DASHBOARD_PASSWORD (basic auth)
  query <source> [--k N] [--k-prime N] [--ef-search N] [--version V] [--json]
                                              top-k ids and exact MaxSim scores from the published version;
                                              <source>: a ../shared/data folder or a Parquet file of queries
  status [--build V] [--json]                 job counts per queue, or one build's (or ingest's) state per stage and shard;
                                              needs REDIS_URL
  ingest <prefix> [--version V] [--wait] [--drift F]
                                              add the Parquet shards under <prefix> to the current version without
                                              retraining (an existing id is replaced); queues a retrain past drift F
  delete <id...> | --file FILE [--version V]  tombstone documents by id in a new version (FILE: one id per line)
  compact [--version V] [--merge-below N]     a new version whose shards no longer hold deleted documents, with
                                              shards under N live docs (default 10000; 0 = never) merged into one
  eval <queries> [--groundtruth FILE | --exact-sample N] [--k 10] [--kprime 100,200] [--ef-search 200,400]
       [--candidates hnsw,bruteforce] [--version V,W] [--batch N] [--out DIR] [--json]
                                              queued bulk evaluation: recall against exact MaxSim, QPS, latency;
                                              JSON + HTML report in the store (FILE: JSON lines {"query","ids"})
  schedule set <name> --cron "0 3 * * *" [--tz Europe/Paris] [--source PREFIX] [--tolerance 0.01]
                [--queries KEY] [--epochs N] [--m-prime N] [--n-learn N] [--hidden N]
  schedule list | remove <name> | run <name>  scheduled rebuilds (BullMQ job schedulers, one run per tick
                                              across replicas); a run that loses more recall@10 than the
                                              tolerance is not published; needs REDIS_URL
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

function intList(name: string, v: string): number[] {
  return v.split(',').map((x) => positiveInt(name, x.trim(), 1));
}

async function schedule(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const target = { redisUrl: needRedis('schedule') };
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      cron: { type: 'string' },
      tz: { type: 'string' },
      source: { type: 'string' },
      tolerance: { type: 'string' },
      queries: { type: 'string' },
      epochs: { type: 'string' },
      'm-prime': { type: 'string' },
      'n-learn': { type: 'string' },
      hidden: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const name = positionals[0];
  switch (sub) {
    case 'set': {
      if (!name || !values.cron) throw new ConfigError('usage: lemur schedule set <name> --cron "0 3 * * *" [--source PREFIX] …');
      const r = await setSchedule(target, {
        name,
        cron: values.cron,
        ...(values.tz ? { tz: values.tz } : {}),
        run: {
          ...(values.source ? { source: values.source } : {}),
          ...(values.tolerance !== undefined ? { tolerance: parseFraction('--tolerance', values.tolerance, 0.01) } : {}),
          ...(values.queries ? { queries: values.queries } : {}),
          fit: fitOptions(values),
        },
      });
      print(r, values.json ?? false);
      return 0;
    }
    case 'list':
      print(await listSchedules(target), values.json ?? false);
      return 0;
    case 'remove':
      if (!name) throw new ConfigError('usage: lemur schedule remove <name>');
      if (!(await removeSchedule(target, name))) throw new ConfigError(`no schedule named '${name}'`);
      print({ removed: name }, true);
      return 0;
    case 'run':
      if (!name) throw new ConfigError('usage: lemur schedule run <name>');
      print({ queued: await runScheduleNow(target, name) }, true);
      return 0;
    default:
      throw new ConfigError(`Expected lemur schedule set | list | remove | run but received '${sub ?? ''}'`);
  }
}

/** --epochs / --m-prime / --n-learn / --hidden as fit options. */
function fitOptions(values: { epochs?: string | undefined; 'm-prime'?: string | undefined; 'n-learn'?: string | undefined; hidden?: string | undefined }): Record<string, number> {
  const fit: Record<string, number> = {};
  if (values.epochs !== undefined) {
    const e = Number(values.epochs);
    if (!Number.isInteger(e) || e < 0) throw new ConfigError(`Expected --epochs to be an integer >= 0 but received '${values.epochs}'`);
    fit['epochs'] = e;
  }
  if (values['m-prime'] !== undefined) fit['mPrime'] = positiveInt('m-prime', values['m-prime'], 8192);
  if (values['n-learn'] !== undefined) fit['nLearn'] = positiveInt('n-learn', values['n-learn'], 100_000);
  if (values.hidden !== undefined) fit['hidden'] = positiveInt('hidden', values.hidden, 2048);
  return fit;
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
      const fit = fitOptions(values);
      const r = await runBuild({ prefix: positionals[0]!, ...(values.version ? { version: values.version } : {}), wait: values.wait ?? false, fit, timeoutS: positiveInt('timeout', values.timeout, 24 * 3600) });
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    case 'worker': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { 'lock-duration': { type: 'string' }, 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' } },
        strict: true,
      });
      const roles = (positionals.length ? positionals : Object.keys(ROLES)) as Role[];
      for (const r of roles) if (!(r in ROLES)) throw new ConfigError(`unknown role '${r}' (roles: ${Object.keys(ROLES).join(', ')})`);
      // a shorter lock lets another worker take over a killed worker's job sooner (BullMQ default 30 s)
      const lock = values['lock-duration'] !== undefined ? positiveInt('lock-duration', values['lock-duration'], 30_000) : undefined;
      const workers = startRoles(roles, openStore(), { redisUrl: needRedis('worker'), ...(lock ? { lockDuration: lock, stalledInterval: lock } : {}) });
      const metricsPortText = values['metrics-port'] ?? process.env['LEMUR_METRICS_PORT'];
      const metricsServer = metricsPortText ? await serveMetrics(positiveInt('metrics-port', metricsPortText, 9464), values['metrics-host'] ?? process.env['LEMUR_METRICS_HOST'] ?? '127.0.0.1') : undefined;
      log.info('workers running', { roles, ...(metricsServer ? { metrics: metricsServer.address() } : {}) });
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      log.info('closing workers (jobs in progress finish first)');
      await Promise.all(workers.map((w) => w.close()));
      metricsServer?.close();
      return 0;
    }
    case 'dashboard': {
      const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, host: { type: 'string' }, refresh: { type: 'string' } }, strict: true });
      const user = process.env['LEMUR_DASHBOARD_USER'];
      const password = process.env['LEMUR_DASHBOARD_PASSWORD'];
      if (Boolean(user) !== Boolean(password)) throw new ConfigError('set both LEMUR_DASHBOARD_USER and LEMUR_DASHBOARD_PASSWORD, or neither');
      const d = await startDashboard({
        store: openStore(),
        target: { redisUrl: needRedis('dashboard') },
        port: values.port === '0' ? 0 : positiveInt('port', values.port, 3300),
        ...(values.host ? { host: values.host } : {}),
        ...(user && password ? { auth: { user, password } } : {}),
        refreshSeconds: values.refresh === '0' ? 0 : positiveInt('refresh', values.refresh, 10),
      });
      process.stdout.write(`${JSON.stringify({ url: d.url })}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await d.close();
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
    case 'ingest': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { version: { type: 'string' }, wait: { type: 'boolean', default: false }, drift: { type: 'string' }, timeout: { type: 'string' } },
        strict: true,
      });
      if (positionals.length !== 1) throw new ConfigError('lemur ingest takes one store prefix or Parquet key, e.g. `lemur ingest incoming/2026-11-22/`');
      const r = await runIngest({
        source: positionals[0]!,
        ...(values.version ? { version: values.version } : {}),
        wait: values.wait ?? false,
        ...(values.drift !== undefined ? { driftFraction: parseFraction('--drift', values.drift, 0.2) } : {}),
        timeoutS: positiveInt('timeout', values.timeout, 24 * 3600),
      });
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    case 'delete': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { file: { type: 'string' }, version: { type: 'string' } }, strict: true });
      process.stdout.write(`${JSON.stringify(await runDelete(readIds(positionals, values.file), values.version))}\n`);
      return 0;
    }
    case 'compact': {
      const { values } = parseArgs({ args: rest, options: { version: { type: 'string' }, 'merge-below': { type: 'string' } }, strict: true });
      const mergeBelow = values['merge-below'] === undefined ? undefined : values['merge-below'] === '0' ? 0 : positiveInt('merge-below', values['merge-below'], 10_000);
      process.stdout.write(`${JSON.stringify(await runCompact(values.version, mergeBelow))}\n`);
      return 0;
    }
    case 'eval': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          groundtruth: { type: 'string' },
          'exact-sample': { type: 'string' },
          k: { type: 'string' },
          kprime: { type: 'string' },
          'ef-search': { type: 'string' },
          candidates: { type: 'string' },
          version: { type: 'string' },
          batch: { type: 'string' },
          out: { type: 'string' },
          timeout: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
        strict: true,
      });
      if (positionals.length !== 1) throw new ConfigError('lemur eval takes one query source: a ../shared/data folder or a Parquet file of queries');
      if (values.groundtruth && values['exact-sample']) throw new ConfigError('give --groundtruth or --exact-sample, not both');
      const candidates = (values.candidates ?? 'hnsw').split(',');
      // published versions carry HNSW indexes; 'bruteforce' is the exact sgemm scan over W (Faiss flat would give the same candidates)
      for (const c of candidates) if (!['hnsw', 'bruteforce'].includes(c)) throw new ConfigError(`Expected --candidates from hnsw, bruteforce but received '${c}'`);
      const r = await runEval({
        source: positionals[0]!,
        ...(values.version ? { versions: values.version.split(',') } : {}),
        k: positiveInt('k', values.k, 10),
        kPrimes: intList('kprime', values.kprime ?? '100,200'),
        ...(values['ef-search'] ? { efSearch: intList('ef-search', values['ef-search']) } : {}),
        candidates: candidates as CandidateSource[],
        ...(values.groundtruth ? { groundtruth: values.groundtruth } : {}),
        ...(values['exact-sample'] ? { exactSample: positiveInt('exact-sample', values['exact-sample'], 200) } : {}),
        batchSize: positiveInt('batch', values.batch, 256),
        ...(values.out ? { out: values.out } : {}),
        timeoutS: positiveInt('timeout', values.timeout, 24 * 3600),
      });
      print(r, values.json ?? false);
      return 0;
    }
    case 'schedule':
      return schedule(rest);
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
