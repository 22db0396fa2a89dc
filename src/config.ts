/**
 * Every environment variable the project reads, in one place: those of ../shared/conventions.md
 * (loadConfig: read once, validated and typed) and the service settings of logs, metrics, the
 * dashboard and the AWS region (loadServiceConfig). Nothing else in the project reads
 * process.env (the addon's loader only sets OMP_WAIT_POLICY for Faiss before it loads).
 */
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

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
  /**
   * LEMUR_S3_MAX_ATTEMPTS: tries of one S3 request, the first included (the AWS SDK's own retry:
   * 5xx, SlowDown and other throttling, resets, timeouts; never 403 or 404), with jittered
   * exponential backoff. A download cut after its response began is resumed at most as many
   * times. @defaultValue 5 (the SDK's 3 suits interactive calls; a failed request here costs a
   * retried job)
   */
  s3MaxAttempts: number;
  /**
   * LEMUR_S3_RETRY_MODE: the SDK's retry mode. `standard`: jittered exponential backoff (base
   * 100 ms, 500 ms when throttled, at most 20 s) under a shared retry quota; `adaptive`: the same,
   * plus client-side rate limiting after throttling answers. @defaultValue 'standard'
   */
  s3RetryMode: 'standard' | 'adaptive';
  /**
   * LEMUR_S3_SOCKET_TIMEOUT_MS: an S3 request whose socket stays silent this long fails with a
   * TimeoutError and is retried (a stalled server; without it a request could wait forever).
   * @defaultValue 60000
   */
  s3SocketTimeoutMs: number;
  /** LEMUR_THREADS: threads for native work. @defaultValue os.availableParallelism() */
  threads: number;
  /** LEMUR_KERNEL: a forced MaxSim kernel; undefined = the best this CPU has. */
  kernel: KernelName | undefined;
  /** LEMUR_DRIFT_FRACTION: retrain when documents ingested since training exceed this fraction. @defaultValue 0.2 */
  driftFraction: number;
  /** LEMUR_EVAL_TOLERANCE: largest recall@10 drop a scheduled rebuild may have and still be published. @defaultValue 0.01 */
  evalTolerance: number;
  /**
   * LEMUR_CACHE_DIR: the folder of local copies of S3 artifacts (token stores, models, indexes),
   * shared by every process on the machine. @defaultValue `<os.tmpdir()>/lemur-cache`
   */
  cacheDir: string;
  /**
   * LEMUR_CACHE_BYTES: the size the cache folder is trimmed to (least recently used copies not
   * in use are removed first; copies in use are never removed). Bytes, or a number with
   * KiB/MiB/GiB/TiB (or KB/MB/GB/TB, powers of 1000). @defaultValue 10 GiB
   */
  cacheBytes: number;
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

/** An integer in [min, max], or the default when unset. */
export function parseIntIn(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined || v === '') return dflt;
  const x = Number(v);
  if (!Number.isInteger(x) || x < min || x > max) throw new ConfigError(`Expected ${name} to be an integer in [${min}, ${max}] but received '${v}'`);
  return x;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A byte count like 5000000, 500MB or 1.5GiB, or the default when unset. */
export function parseBytes(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const u = m?.[2]!.toLowerCase() ?? '';
  const unit = m && Object.hasOwn(BYTE_UNITS, u) ? BYTE_UNITS[u] : undefined;
  const x = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(x)) throw new ConfigError(`Expected ${name} to be a byte count like 20GiB, 500MB or 1000000 but received '${v}'`);
  return x;
}

/** Parses a config from an environment (process.env by default). @throws ConfigError */
export function loadConfig(env: Env = process.env): LemurConfig {
  const threads = parseIntIn('LEMUR_THREADS', env['LEMUR_THREADS'], availableParallelism(), 1, 1024);
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
  const s3MaxAttempts = parseIntIn('LEMUR_S3_MAX_ATTEMPTS', env['LEMUR_S3_MAX_ATTEMPTS'], 5, 1, 100);
  const s3RetryMode = env['LEMUR_S3_RETRY_MODE'] || 'standard';
  if (s3RetryMode !== 'standard' && s3RetryMode !== 'adaptive') throw new ConfigError(`Expected LEMUR_S3_RETRY_MODE to be standard or adaptive but received '${s3RetryMode}'`);
  const s3SocketTimeoutMs = parseIntIn('LEMUR_S3_SOCKET_TIMEOUT_MS', env['LEMUR_S3_SOCKET_TIMEOUT_MS'], 60_000, 1, 3_600_000);
  const store = env['LEMUR_STORE'] || './.lemur';
  if (store.includes('://') && !/^(file|s3):\/\//.test(store)) {
    throw new ConfigError(`Expected LEMUR_STORE to be a folder, file://… or s3://bucket/prefix but received '${store}'`);
  }
  return {
    redisUrl: env['REDIS_URL'] || undefined,
    store,
    s3Endpoint: env['LEMUR_S3_ENDPOINT'] || undefined,
    s3ForcePathStyle: parseBool('LEMUR_S3_FORCE_PATH_STYLE', env['LEMUR_S3_FORCE_PATH_STYLE']),
    s3MaxAttempts,
    s3RetryMode,
    s3SocketTimeoutMs,
    threads,
    kernel,
    driftFraction,
    evalTolerance,
    cacheDir: env['LEMUR_CACHE_DIR'] || join(tmpdir(), 'lemur-cache'),
    cacheBytes: parseBytes('LEMUR_CACHE_BYTES', env['LEMUR_CACHE_BYTES'], 10 * 2 ** 30),
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
  /** LEMUR_SERVE_USER and LEMUR_SERVE_PASSWORD: basic auth of `lemur serve` (both or neither; required off loopback). */
  serveUser: string | undefined;
  servePassword: string | undefined;
  /** AWS_REGION: the S3 region (the standard AWS variable; wins over a store's default). */
  awsRegion: string | undefined;
  /** LEMUR_WORKER_GRACE: seconds `lemur worker` gives jobs in progress on SIGTERM when --grace is not given. */
  workerGrace: string | undefined;
}

export function loadServiceConfig(env: Env = process.env): ServiceConfig {
  const f = env['LEMUR_LOG_FORMAT'];
  return {
    logFormat: f === 'json' || f === 'pretty' ? f : undefined,
    metricsPort: env['LEMUR_METRICS_PORT'],
    metricsHost: env['LEMUR_METRICS_HOST'],
    dashboardUser: env['LEMUR_DASHBOARD_USER'],
    dashboardPassword: env['LEMUR_DASHBOARD_PASSWORD'],
    serveUser: env['LEMUR_SERVE_USER'],
    servePassword: env['LEMUR_SERVE_PASSWORD'],
    awsRegion: env['AWS_REGION'],
    workerGrace: env['LEMUR_WORKER_GRACE'],
  };
}

let cached: LemurConfig | undefined;

/** The process's config, parsed on first use. */
export function config(): LemurConfig {
  cached ??= loadConfig();
  return cached;
}
