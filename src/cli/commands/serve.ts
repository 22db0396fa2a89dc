/**
 * `lemur serve`: the search API over the published version, following `current` (src/serve/).
 * With --group i/n it holds one shard group of a version for a router.
 */
import { config, loadServiceConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { startRouter } from '../../serve/router.js';
import { startSearchServer, type ShardGroup } from '../../serve/search-server.js';
import { checkName } from '../../store/keys.js';
import { openStore } from '../../store/open-store.js';
import { parse, positiveInt, printLine, untilSignal, type Command } from '../command.js';

/** A non-negative number of milliseconds (fractions allowed: a 1.5 ms batch window). */
function millis(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0 || x > 60_000) throw new ConfigError(`Expected --${name} to be milliseconds in [0, 60000] but received '${v}'`);
  return x;
}

/** `i/n`: shard group i of n (0-based). */
export function parseGroup(v: string): ShardGroup {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index >= count) throw new ConfigError(`Expected --group i/n with 0 <= i < n (e.g. 0/2) but received '${v}'`);
  return { index, count };
}

/** Basic-auth credentials of `lemur serve` from the environment (both or neither). */
export function serveCredentials(): { user: string; password: string } | undefined {
  const { serveUser: user, servePassword: password } = loadServiceConfig();
  if (Boolean(user) !== Boolean(password)) throw new ConfigError('set both LEMUR_SERVE_USER and LEMUR_SERVE_PASSWORD, or neither');
  return user && password ? { user, password } : undefined;
}

export const SERVE_FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  group: { type: 'string' },
  version: { type: 'string' },
  'poll-seconds': { type: 'string' },
  'window-ms': { type: 'string' },
  'max-batch': { type: 'string' },
  'batch-concurrency': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-queries': { type: 'string' },
  'max-tokens': { type: 'string' },
  'max-k': { type: 'string' },
  'max-k-prime': { type: 'string' },
  'retain-seconds': { type: 'string' },
  advertise: { type: 'string' },
  route: { type: 'boolean' },
  groups: { type: 'string' },
  'group-timeout-ms': { type: 'string' },
  partial: { type: 'boolean' },
} as const;

/** A base URL to reach a process at: http(s)://host:port, no path. */
function baseUrl(flag: string, v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(`Expected --${flag} to hold URLs like http://10.0.0.5:8081 but received '${v}'`);
  }
  if (!/^https?:$/.test(u.protocol) || (u.pathname !== '/' && u.pathname !== '')) throw new ConfigError(`Expected --${flag} to hold base URLs (http://host:port) but received '${v}'`);
  return u.origin;
}

export const serveCommand: Command = {
  name: 'serve',
  usage: `  serve [--port 8080] [--host 127.0.0.1] [--group i/n [--advertise URL]] [--version V] [--poll-seconds S] [--window-ms 0]
        [--max-batch 32] [--batch-concurrency 1] [--max-queue 1024] [--max-queries 64] [--max-tokens 512] [--max-k 1000] [--max-k-prime 10000]
        [--retain-seconds S]
  serve --route [--groups URL,URL,…] [--group-timeout-ms 2000] [--partial] [same --port … --max-k-prime flags]
                                              search API (POST /v1/search, GET /v1/version, /healthz, /readyz, /metrics) over
                                              the published version; follows 'current' (announced over REDIS_URL, else polled)
                                              and swaps with no downtime; --version pins one; --group i/n holds shard group i of
                                              n for a router (with REDIS_URL it registers itself there, reachable at --advertise,
                                              else at its host:port); --route answers the same API from all n groups, found in
                                              --groups or through REDIS_URL, moving to a version once every group holds it; a group
                                              not answering in --group-timeout-ms fails the search (503 naming it), or with
                                              --partial it answers from the others (partial: true, missingGroups); off loopback it
                                              requires LEMUR_SERVE_USER and LEMUR_SERVE_PASSWORD (also sent to the groups)`,
  async run(args) {
    const { values } = parse(args, SERVE_FLAGS);
    if (values.version !== undefined) checkName('version', values.version);
    const auth = serveCredentials();
    const redisUrl = config().redisUrl;
    const common = {
      store: openStore(),
      port: values.port === '0' ? 0 : positiveInt('port', values.port, 8080),
      host: values.host ?? '127.0.0.1',
      ...(auth ? { auth } : {}),
      follow: {
        ...(redisUrl ? { redisUrl } : {}),
        ...(values.version ? { pinned: values.version } : {}),
        ...(values['poll-seconds'] ? { pollSeconds: positiveInt('poll-seconds', values['poll-seconds'], 2) } : {}),
      },
      batch: {
        windowMs: millis('window-ms', values['window-ms'], 0),
        maxBatch: positiveInt('max-batch', values['max-batch'], 32),
        concurrency: positiveInt('batch-concurrency', values['batch-concurrency'], 1),
        maxQueue: positiveInt('max-queue', values['max-queue'], 1024),
      },
      limits: {
        maxQueries: positiveInt('max-queries', values['max-queries'], 64),
        maxTokens: positiveInt('max-tokens', values['max-tokens'], 512),
        maxK: positiveInt('max-k', values['max-k'], 1000),
        maxKPrime: positiveInt('max-k-prime', values['max-k-prime'], 10_000),
      },
    };
    if (values.route) {
      if (values.group || values.advertise || values['retain-seconds']) throw new ConfigError('--route holds no shards: --group, --advertise and --retain-seconds are for the group processes');
      const groups = values.groups ? { urls: values.groups.split(',').map((u) => baseUrl('groups', u.trim())) } : redisUrl ? { redisUrl } : undefined;
      if (!groups) throw new ConfigError('lemur serve --route needs its shard groups: --groups URL,URL,… or REDIS_URL (where groups register)');
      const router = await startRouter({ ...common, groups, groupTimeoutMs: positiveInt('group-timeout-ms', values['group-timeout-ms'], 2000), partial: values.partial ?? false });
      printLine({ url: router.url, version: router.pool.current ?? null, ready: router.pool.ready, groups: router.directory.count ?? null });
      await untilSignal();
      await router.close();
      return 0;
    }
    if (values.groups || values['group-timeout-ms'] || values.partial) throw new ConfigError('--groups, --group-timeout-ms and --partial are for a router: add --route');
    if (values.advertise && !values.group) throw new ConfigError('--advertise is for a shard group: add --group i/n');
    if (values.advertise && !redisUrl) throw new ConfigError('--advertise registers the group in Redis for routers: set REDIS_URL');
    const group = values.group ? parseGroup(values.group) : undefined;
    const server = await startSearchServer({
      ...common,
      ...(group ? { group } : {}),
      ...(values['retain-seconds'] !== undefined ? { retainMs: millis('retain-seconds', values['retain-seconds'], 0) * 1000 } : {}),
      ...(group && redisUrl ? { advertise: { redisUrl, ...(values.advertise ? { url: baseUrl('advertise', values.advertise) } : {}) } } : {}),
    });
    printLine({ url: server.url, version: server.pool.current ?? null, ready: server.pool.ready });
    await untilSignal();
    await server.close();
    return 0;
  },
};
