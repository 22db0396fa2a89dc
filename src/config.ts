/**
 * Every environment variable the project reads, in one place: those of ../shared/conventions.md
 * (loadConfig: read once, validated and typed) and the service settings of logs, metrics, the
 * dashboard and the AWS region (loadServiceConfig). Nothing else in the project reads
 * process.env (the addon's loader only sets OMP_WAIT_POLICY for Faiss before it loads).
 */
import { availableParallelism } from 'node:os';

import { ConfigError } from './errors.js';

export type KernelName = 'scalar' | 'avx2' | 'avx512';
export const KERNEL_NAMES: readonly KernelName[] = ['scalar', 'avx2', 'avx512'];

export interface LemurConfig {
  /** REDIS_URL; undefined = the CLI starts a private redis-server. */
  redisUrl: string | undefined;
  /** LEMUR_STORE: a local folder, `file://…` or `s3://bucket/prefix`. @defaultValue `./.lemur` */
  store: string;
  s3Endpoint: string | undefined;
  s3ForcePathStyle: boolean;
  /** LEMUR_THREADS: threads for native work. @defaultValue os.availableParallelism() */
  threads: number;
  /** LEMUR_KERNEL: a forced MaxSim kernel; undefined = the best this CPU has. */
  kernel: KernelName | undefined;
  /** LEMUR_DRIFT_FRACTION: retrain when documents ingested since training exceed this fraction. @defaultValue 0.2 */
  driftFraction: number;
  /** LEMUR_EVAL_TOLERANCE: largest recall@10 drop a scheduled rebuild may have and still be published. @defaultValue 0.01 */
  evalTolerance: number;
}

type Env = Record<string, string | undefined>;

function parseBool(name: string, v: string | undefined): boolean {
  if (v === undefined || v === '') return false;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (/^(0|false|no)$/i.test(v)) return false;
  throw new ConfigError(`Expected ${name} to be true/false/1/0 but received '${v}'`);
}

/** A number in [0, 1], or the default when unset. */
export function parseFraction(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0 || x > 1) throw new ConfigError(`Expected ${name} to be a number in [0, 1] but received '${v}'`);
  return x;
}

/** Parses a config from an environment (process.env by default). @throws ConfigError */
export function loadConfig(env: Env = process.env): LemurConfig {
  const threadsText = env['LEMUR_THREADS'];
  let threads = availableParallelism();
  if (threadsText !== undefined && threadsText !== '') {
    threads = Number(threadsText);
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
      throw new ConfigError(`Expected LEMUR_THREADS to be an integer in [1, 1024] but received '${threadsText}'`);
    }
  }
  const kernelText = env['LEMUR_KERNEL'];
  let kernel: KernelName | undefined;
  if (kernelText !== undefined && kernelText !== '') {
    if (!(KERNEL_NAMES as readonly string[]).includes(kernelText)) {
      throw new ConfigError(`Expected LEMUR_KERNEL to be one of ${KERNEL_NAMES.join(', ')} but received '${kernelText}'`);
    }
    kernel = kernelText as KernelName;
  }
  const driftFraction = parseFraction('LEMUR_DRIFT_FRACTION', env['LEMUR_DRIFT_FRACTION'], 0.2);
  const evalTolerance = parseFraction('LEMUR_EVAL_TOLERANCE', env['LEMUR_EVAL_TOLERANCE'], 0.01);
  const store = env['LEMUR_STORE'] || './.lemur';
  if (store.includes('://') && !/^(file|s3):\/\//.test(store)) {
    throw new ConfigError(`Expected LEMUR_STORE to be a folder, file://… or s3://bucket/prefix but received '${store}'`);
  }
  return {
    redisUrl: env['REDIS_URL'] || undefined,
    store,
    s3Endpoint: env['LEMUR_S3_ENDPOINT'] || undefined,
    s3ForcePathStyle: parseBool('LEMUR_S3_FORCE_PATH_STYLE', env['LEMUR_S3_FORCE_PATH_STYLE']),
    threads,
    kernel,
    driftFraction,
    evalTolerance,
  };
}

/**
 * Settings of the process's services, read from the environment when asked (not cached: a
 * process's log format, metrics port and dashboard credentials are looked up once, where used).
 * Values are passed on as given; the CLI validates them as it would the matching flags.
 */
export interface ServiceConfig {
  /** LEMUR_LOG_FORMAT: 'json' or 'pretty'; undefined (unset or anything else) = pretty on a terminal. */
  logFormat: 'json' | 'pretty' | undefined;
  /** LEMUR_METRICS_PORT: a worker's Prometheus port when --metrics-port is not given. */
  metricsPort: string | undefined;
  /** LEMUR_METRICS_HOST: the address /metrics listens on. @defaultValue loopback */
  metricsHost: string | undefined;
  /** LEMUR_DASHBOARD_USER and LEMUR_DASHBOARD_PASSWORD: basic auth of the dashboard (both or neither). */
  dashboardUser: string | undefined;
  dashboardPassword: string | undefined;
  /** AWS_REGION: the S3 region (the standard AWS variable; wins over a store's default). */
  awsRegion: string | undefined;
}

export function loadServiceConfig(env: Env = process.env): ServiceConfig {
  const f = env['LEMUR_LOG_FORMAT'];
  return {
    logFormat: f === 'json' || f === 'pretty' ? f : undefined,
    metricsPort: env['LEMUR_METRICS_PORT'],
    metricsHost: env['LEMUR_METRICS_HOST'],
    dashboardUser: env['LEMUR_DASHBOARD_USER'],
    dashboardPassword: env['LEMUR_DASHBOARD_PASSWORD'],
    awsRegion: env['AWS_REGION'],
  };
}

let cached: LemurConfig | undefined;

/** The process's config, parsed on first use. */
export function config(): LemurConfig {
  cached ??= loadConfig();
  return cached;
}
