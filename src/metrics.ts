/**
 * Prometheus metrics of this process (prom-client): jobs per queue and outcome, stage
 * durations, documents indexed, queries served with their latency, the MaxSim kernel in use,
 * whether the workers are connected to Redis and taking jobs, and the default process metrics
 * (RSS, CPU, event-loop lag, heap). Served on /metrics by `lemur worker --metrics-port` (opt-in)
 * and by the dashboard.
 */
import { createServer, type Server } from 'node:http';

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { ConfigError } from './errors.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const metrics = {
  jobs: new Counter({ name: 'lemur_jobs_total', help: 'Jobs finished by this process, by queue, job name and outcome', labelNames: ['queue', 'job', 'outcome'] as const, registers: [registry] }),
  jobSeconds: new Histogram({
    name: 'lemur_job_duration_seconds',
    help: 'Wall time of jobs (pipeline stages), by queue and job name',
    labelNames: ['queue', 'job'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  }),
  docsIndexed: new Counter({ name: 'lemur_docs_indexed_total', help: 'Documents added to HNSW indexes', registers: [registry] }),
  docsWeighted: new Counter({ name: 'lemur_docs_weighted_total', help: 'Documents given W rows (OLS)', registers: [registry] }),
  queries: new Counter({ name: 'lemur_queries_total', help: 'Queries served by the query engine', registers: [registry] }),
  searchSeconds: new Histogram({
    name: 'lemur_search_duration_seconds',
    help: 'Wall time of one query engine search call, by batch kind (single query or batch)',
    labelNames: ['batch'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  }),
  serveRequests: new Counter({ name: 'lemur_serve_requests_total', help: 'HTTP requests answered by `lemur serve`, by route and status code', labelNames: ['route', 'status'] as const, registers: [registry] }),
  serveRequestSeconds: new Histogram({
    name: 'lemur_serve_request_duration_seconds',
    help: 'Wall time of search requests in `lemur serve`, from parsed body to answer, by route',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  }),
  serveBatchQueries: new Histogram({ name: 'lemur_serve_batch_queries', help: 'Queries per engine call of the micro-batcher', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [registry] }),
  serveQueueQueries: new Gauge({ name: 'lemur_serve_queue_queries', help: 'Queries waiting for a batch', registers: [registry] }),
  serveVersion: new Gauge({ name: 'lemur_serve_version', help: 'Versions this server holds open (1 = the one it serves, 0 = draining or retained)', labelNames: ['version'] as const, registers: [registry] }),
  serveReady: new Gauge({ name: 'lemur_serve_ready', help: '1 when this server has a version loaded and answers searches', registers: [registry] }),
  serveVersionSwaps: new Counter({ name: 'lemur_serve_version_swaps_total', help: 'Versions promoted by this server (new `current`, rollbacks)', registers: [registry] }),
  serveGroupFailures: new Counter({ name: 'lemur_serve_group_failures_total', help: 'Calls of a router to a shard group that failed (no replica answered in time, or it lacked the version), by group', labelNames: ['group'] as const, registers: [registry] }),
  serveVersionLoadFailures: new Counter({ name: 'lemur_serve_version_load_failures_total', help: 'Versions this server failed to load (it kept serving the previous one)', registers: [registry] }),
  redisConnected: new Gauge({ name: 'lemur_redis_connected', help: "1 while every worker of this process holds its Redis connections, 0 while any is reconnecting", registers: [registry] }),
  workerReady: new Gauge({ name: 'lemur_worker_ready', help: '1 while this process takes jobs: its workers are connected to Redis and not shutting down', registers: [registry] }),
  kernel: new Gauge({ name: 'lemur_native_kernel', help: 'The MaxSim kernel this process uses (1 for the one in use)', labelNames: ['kernel'] as const, registers: [registry] }),
};

/** Records the versions a search server holds and the one it serves (undefined: not ready). */
export function recordServedVersions(current: string | undefined, loaded: string[]): void {
  metrics.serveVersion.reset();
  for (const l of loaded) metrics.serveVersion.set({ version: l }, l === current ? 1 : 0);
  metrics.serveReady.set(current === undefined ? 0 : 1);
}

/** Records which kernel the native core picked (called once the addon is loaded). */
export function setKernel(name: string): void {
  metrics.kernel.reset();
  metrics.kernel.set({ kernel: name }, 1);
}

/** Serves GET /metrics on host:port (loopback unless told otherwise). */
export async function serveMetrics(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ConfigError(`cannot serve metrics on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, resolve);
  });
  return server;
}
