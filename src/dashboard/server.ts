/**
 * `lemur dashboard`: Bull Board for every pipeline queue under /queues, and our overview page at
 * / (versions, builds in flight per shard, failures with their reasons, schedules). Loopback by
 * default; any other bind address needs basic-auth credentials (LEMUR_DASHBOARD_USER /
 * LEMUR_DASHBOARD_PASSWORD), which then guard every route. Bull Board's page is served from a
 * copy of its template without the web-font link, so the dashboard makes no request outside.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import express from 'express';

import { ConfigError } from '../errors.js';
import { log } from '../log.js';
import { registry } from '../metrics.js';
import { makeScratchDir } from '../store/scratch.js';
import type { QueueTarget } from '../queue/build-flow.js';
import { redisConnection } from '../queue/connection.js';
import { QUEUES } from '../queue/queues.js';
import type { ObjectStore } from '../store/object-store.js';
import { authorized, challenge, isLoopback, type Credentials } from './basic-auth.js';
import { renderOverview } from './overview-html.js';
import { gatherOverview } from './overview.js';

export interface DashboardOptions {
  store: ObjectStore;
  target: QueueTarget;
  /** @defaultValue 3300 (0: any free port) */
  port?: number;
  /** @defaultValue 127.0.0.1 */
  host?: string;
  auth?: Credentials;
  /** The overview page reloads itself this often (0: never). @defaultValue 10 */
  refreshSeconds?: number;
}

export interface Dashboard {
  url: string;
  close: () => Promise<void>;
}


/** Bull Board's template without external resources (fonts fall back to the system's). */
function localViews(): { dir: string; cleanup: () => void } {
  const require = createRequire(import.meta.url);
  const uiDist = dirname(require.resolve('@bull-board/ui/package.json'));
  const scratch = makeScratchDir('lemur-board-');
  const html = readFileSync(join(uiDist, 'dist', 'index.ejs'), 'utf8').replace(/<link[^>]+href="https?:\/\/[^"]*"[^>]*>/g, '');
  writeFileSync(join(scratch.dir, 'index.ejs'), html);
  return { dir: scratch.dir, cleanup: scratch.cleanup };
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const host = o.host ?? '127.0.0.1';
  if (!isLoopback(host) && !o.auth) {
    throw new ConfigError(`the dashboard would listen on ${host}, beyond this machine, without a password: set LEMUR_DASHBOARD_USER and LEMUR_DASHBOARD_PASSWORD`);
  }
  const queues = new Map(Object.values(QUEUES).map((name) => [name, new Queue(name, { connection: redisConnection(o.target.redisUrl), prefix: o.target.prefix ?? 'bull' })]));
  const views = localViews();
  const board = new ExpressAdapter();
  board.setBasePath('/queues');
  createBullBoard({ queues: [...queues.values()].map((q) => new BullMQAdapter(q)), serverAdapter: board, options: { uiConfig: { boardTitle: 'lemur queues' } } });
  board.setViewsPath(views.dir); // after createBullBoard, which sets the package's own

  const app = express();
  app.disable('x-powered-by');
  if (o.auth) {
    const creds = o.auth;
    app.use((req, res, next) => (authorized(req, creds) ? next() : challenge(res)));
  }
  app.get('/', (_req, res, next) => {
    gatherOverview(o.store, o.target, queues).then((ov) => res.type('html').send(renderOverview(ov, o.refreshSeconds ?? 10)), next);
  });
  app.get('/api/overview', (_req, res, next) => {
    gatherOverview(o.store, o.target, queues).then((ov) => res.json(ov), next);
  });
  app.get('/metrics', (_req, res, next) => {
    registry.metrics().then((text) => res.type(registry.contentType).send(text), next);
  });
  app.use('/queues', board.getRouter() as express.Router);

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(o.port ?? 3300, host, (err?: Error) => (err ? reject(new ConfigError(`cannot listen on ${host}:${o.port ?? 3300}: ${err.message}`)) : resolve(s)));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? 3300);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
  log.info('dashboard listening', { url, auth: Boolean(o.auth) });
  return {
    url,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // a browser's keep-alive connections would hold close() open
      await closed;
      await Promise.all([...queues.values()].map((q) => q.close()));
      views.cleanup();
    },
  };
}
