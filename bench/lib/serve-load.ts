/**
 * What bench/serve.ts drives: `lemur serve` in a child process (its own event loop and threads,
 * as in production), and autocannon load against it from this process, with every response's
 * latency recorded at full resolution (autocannon's own histogram keeps whole milliseconds) and
 * the CPU time both sides spent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { round } from './timer.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ServeChild {
  url: string;
  pid: number;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/**
 * Starts `lemur serve --port 0 …args` with `env`, reads the URL from its first stdout line, waits
 * until /readyz answers 200. Its stderr (logs) goes to `logPath`.
 */
export async function startServeChild(args: string[], env: NodeJS.ProcessEnv, logPath: string, timeoutMs = 120_000): Promise<ServeChild> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logPath, { flags: 'a' });
  child.stderr!.pipe(log);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await done;
      clearTimeout(t);
    }
    log.end();
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`lemur serve printed no URL in ${timeoutMs} ms (log: ${logPath})`)), timeoutMs);
      child.once('exit', (code) => reject(new Error(`lemur serve exited with ${code} before listening (log: ${logPath})`)));
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(t);
        resolve((JSON.parse(line) as { url: string }).url);
      });
    });
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await fetch(`${url}/readyz`).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > until) throw new Error(`lemur serve at ${url} not ready in ${timeoutMs} ms (log: ${logPath})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { url, pid: child.pid!, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface LatencySummary {
  p50_ms: number;
  p99_ms: number;
  p99_9_ms: number;
  mean_ms: number;
  max_ms: number;
  n: number;
}

export function summarize(latencies: number[]): LatencySummary {
  const s = Float64Array.from(latencies).sort();
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { p50_ms: round(percentile(s, 50), 2), p99_ms: round(percentile(s, 99), 2), p99_9_ms: round(percentile(s, 99.9), 2), mean_ms: round(mean, 2), max_ms: round(s[s.length - 1] ?? NaN, 2), n: s.length };
}

/** One response as the load loop saw it. */
export interface ResponseRecord {
  /** performance.now() at the response. */
  at: number;
  ms: number;
  status: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Request bodies, sent in turn (shared by every connection). */
  bodies: string[];
  /** Called with each response body and the index of the body it answers (parse only when needed: it costs client CPU). */
  onBody?: (status: number, body: string, bodyIndex: number) => void;
  /** Called once the load runs, with the start time (performance.now()). */
  onStart?: (t0: number) => void;
}

export interface LoadResult {
  connections: number;
  duration_s: number;
  requests: number;
  qps: number;
  latency: LatencySummary;
  non2xx: number;
  errors: number;
  timeouts: number;
  resets: number;
  status_codes: Record<string, number>;
  /** Cores the load generator (this process) kept busy on average. */
  client_cores: number;
  /** Cores the server process kept busy on average (when its pid is given). */
  server_cores: number | null;
  records: ResponseRecord[];
}

/** Runs autocannon for `durationS` at `connections`, POSTing the bodies round-robin to /v1/search. */
export async function runLoad(o: LoadOptions, serverPid?: number): Promise<LoadResult> {
  let next = 0;
  const records: ResponseRecord[] = [];
  const cpu0 = process.cpuUsage();
  const s0 = serverPid ? processCpuSeconds(serverPid) : 0;
  const t0 = performance.now();
  const inst = autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.durationS,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/v1/search',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req, ctx) => {
          const i = next++ % o.bodies.length;
          ctx['i'] = i;
          return { ...req, body: o.bodies[i]! };
        },
        ...(o.onBody ? { onResponse: (status: number, body: string, ctx: Record<string, unknown>) => o.onBody!(status, body, ctx['i'] as number) } : {}),
      },
    ],
  });
  inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => records.push({ at: performance.now(), ms, status }));
  o.onStart?.(t0);
  const r = await inst;
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ok = records.filter((x) => x.status >= 200 && x.status < 300);
  return {
    connections: o.connections,
    duration_s: round(wall, 2),
    requests: records.length,
    qps: round(ok.length / r.duration, 1),
    latency: summarize(ok.map((x) => x.ms)),
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    resets: r.resets,
    status_codes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count])),
    client_cores: round((cpu.user + cpu.system) / 1e6 / wall, 2),
    server_cores: serverPid ? round((processCpuSeconds(serverPid) - s0) / wall, 2) : null,
    records,
  };
}
