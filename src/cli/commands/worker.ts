/** `lemur worker [roles...]`: runs worker roles on the shared queues until SIGINT/SIGTERM, optionally serving Prometheus metrics. */
import { loadServiceConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { log } from '../../log.js';
import { serveMetrics } from '../../metrics.js';
import { openStore } from '../../store/open-store.js';
import { ROLES, resolveRole, startRoles } from '../../../workers/roles.js';
import { needRedis, parse, positiveInt, untilSignal, type Command } from '../command.js';

export const workerCommand: Command = {
  name: 'worker',
  usage: `  worker [roles...] [--lock-duration MS] [--metrics-port N] [--metrics-host H]
                                              run worker roles (${Object.keys(ROLES).join(', ')}; default all); needs REDIS_URL;
                                              Prometheus /metrics on N (LEMUR_METRICS_PORT) when given, on H
                                              (LEMUR_METRICS_HOST) or loopback`,
  async run(args) {
    const { values, positionals } = parse(args, { 'lock-duration': { type: 'string' }, 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' } }, true);
    const names = positionals.length ? positionals : Object.keys(ROLES);
    const roles = names.map((r) => {
      const role = resolveRole(r);
      if (!role) throw new ConfigError(`unknown role '${r}' (roles: ${Object.keys(ROLES).join(', ')})`);
      return role;
    });
    // a shorter lock lets another worker take over a killed worker's job sooner (BullMQ default 30 s)
    const lock = values['lock-duration'] !== undefined ? positiveInt('lock-duration', values['lock-duration'], 30_000) : undefined;
    const workers = startRoles(roles, openStore(), { redisUrl: needRedis('worker'), ...(lock ? { lockDuration: lock, stalledInterval: lock } : {}) });
    const env = loadServiceConfig();
    const metricsPortText = values['metrics-port'] ?? env.metricsPort;
    const metricsServer = metricsPortText ? await serveMetrics(positiveInt('metrics-port', metricsPortText, 9464), values['metrics-host'] ?? env.metricsHost ?? '127.0.0.1') : undefined;
    log.info('workers running', { roles, ...(metricsServer ? { metrics: metricsServer.address() } : {}) });
    await untilSignal();
    log.info('closing workers (jobs in progress finish first)');
    await Promise.all(workers.map((w) => w.close()));
    metricsServer?.close();
    return 0;
  },
};
