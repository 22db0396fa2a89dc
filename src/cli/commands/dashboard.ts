/** `lemur dashboard`: Bull Board and the overview page until SIGINT/SIGTERM. */
import { loadServiceConfig } from '../../config.js';
import { startDashboard } from '../../dashboard/server.js';
import { ConfigError } from '../../errors.js';
import { openStore } from '../../store/open-store.js';
import { needRedis, parse, positiveInt, printLine, untilSignal, type Command } from '../command.js';

export const dashboardCommand: Command = {
  name: 'dashboard',
  usage: `  dashboard [--port 3300] [--host 127.0.0.1]  Bull Board for every queue at /queues and an overview (versions, builds per
                                              shard, failures, schedules) at /; needs REDIS_URL; off loopback it requires
                                              LEMUR_DASHBOARD_USER and LEMUR_DASHBOARD_PASSWORD (basic auth)`,
  async run(args) {
    const { values } = parse(args, { port: { type: 'string' }, host: { type: 'string' }, refresh: { type: 'string' } });
    const { dashboardUser: user, dashboardPassword: password } = loadServiceConfig();
    if (Boolean(user) !== Boolean(password)) throw new ConfigError('set both LEMUR_DASHBOARD_USER and LEMUR_DASHBOARD_PASSWORD, or neither');
    const d = await startDashboard({
      store: openStore(),
      target: { redisUrl: needRedis('dashboard') },
      port: values.port === '0' ? 0 : positiveInt('port', values.port, 3300),
      ...(values.host ? { host: values.host } : {}),
      ...(user && password ? { auth: { user, password } } : {}),
      refreshSeconds: values.refresh === '0' ? 0 : positiveInt('refresh', values.refresh, 10),
    });
    printLine({ url: d.url });
    await untilSignal();
    await d.close();
    return 0;
  },
};
