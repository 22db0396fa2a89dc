/**
 * `lemur worker [roles...]`: runs worker roles on the shared queues until SIGINT/SIGTERM, optionally
 * serving Prometheus metrics. On the signal, jobs in progress get a grace period to finish; what
 * still runs then is handed back to the queue and the exit code says so. A second signal exits at once.
 */
import { loadServiceConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { log } from '../../log.js';
import { serveMetrics } from '../../metrics.js';
import { closeWorkers } from '../../queue/start-worker.js';
import { openStore } from '../../store/open-store.js';
import { ROLES, resolveRole, startRoles } from '../../../workers/roles.js';
import { needRedis, parse, positiveInt, untilSignal, type Command } from '../command.js';

/** Seconds jobs in progress get after SIGTERM before they are handed back. */
const DEFAULT_GRACE_S = 30;

function graceSeconds(v: string | undefined): number {
  if (v === undefined || v === '') return DEFAULT_GRACE_S;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) throw new ConfigError(`Expected --grace (LEMUR_WORKER_GRACE) to be a number of seconds >= 0 but received '${v}'`);
  return x;
}

export const workerCommand: Command = {
  name: 'worker',
  usage: `  worker [roles...] [--lock-duration MS] [--grace S] [--metrics-port N] [--metrics-host H]
                                              run worker roles (${Object.keys(ROLES).join(', ')}; default all); needs REDIS_URL;
                                              on SIGTERM jobs in progress get S seconds (LEMUR_WORKER_GRACE, default
                                              ${DEFAULT_GRACE_S}) to finish, the rest are handed back (exit code 1);
                                              Prometheus /metrics on N (LEMUR_METRICS_PORT) when given, on H
                                              (LEMUR_METRICS_HOST) or loopback`,
  async run(args) {
    const { values, positionals } = parse(args, { 'lock-duration': { type: 'string' }, grace: { type: 'string' }, 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' } }, true);
    const names = positionals.length ? positionals : Object.keys(ROLES);
    const roles = names.map((r) => {
      const role = resolveRole(r);
      if (!role) throw new ConfigError(`unknown role '${r}' (roles: ${Object.keys(ROLES).join(', ')})`);
      return role;
    });
    const env = loadServiceConfig();
    const grace = graceSeconds(values.grace ?? env.workerGrace);
    // a shorter lock lets another worker take over a killed worker's job sooner (BullMQ default 30 s)
    const lock = values['lock-duration'] !== undefined ? positiveInt('lock-duration', values['lock-duration'], 30_000) : undefined;
    const workers = startRoles(roles, openStore(), { redisUrl: needRedis('worker'), ...(lock ? { lockDuration: lock, stalledInterval: lock } : {}) });
    const metricsPortText = values['metrics-port'] ?? env.metricsPort;
    const metricsServer = metricsPortText ? await serveMetrics(positiveInt('metrics-port', metricsPortText, 9464), values['metrics-host'] ?? env.metricsHost ?? '127.0.0.1') : undefined;
    log.info('workers running', { roles, graceSeconds: grace, ...(metricsServer ? { metrics: metricsServer.address() } : {}) });
    await untilSignal();
    log.info('closing workers: jobs in progress get the grace period to finish', { graceSeconds: grace });
    // an operator who signals again wants out now; the jobs' locks expire and others take them over
    void untilSignal().then(() => {
      log.warn('second signal: exiting without waiting for jobs in progress');
      process.exit(1);
    });
    const report = await closeWorkers(workers, grace * 1000);
    metricsServer?.close();
    const cut = report.handedBack.length + report.abandoned.length;
    (cut ? log.warn : log.info)('workers closed', { ...report, redisQuit: report.clean });
    return cut ? 1 : 0;
  },
};
