/**
 * A private redis-server for one machine with no REDIS_URL: 127.0.0.1, a free port, its own data
 * folder, stopped with the process. Also what tests use, so both start Redis the same way.
 */
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

import { ConfigError } from '../errors.js';

export interface EmbeddedRedis {
  url: string;
  port: number;
  /** The redis-server process (tests kill it to play an outage). */
  pid: number;
  stop: () => Promise<void>;
}

export interface EmbeddedRedisOptions {
  /** Data folder (AOF lives here when `persist`). */
  dir: string;
  /** Append-only persistence, so queued jobs survive a restart. @defaultValue false */
  persist?: boolean;
  /** @defaultValue 'redis-server' on PATH */
  binary?: string;
  /** A fixed port (a restart where clients expect the old server); default a free one. */
  port?: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
  });
}

export async function startEmbeddedRedis(o: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const port = o.port ?? (await freePort());
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', o.dir, '--save', '', '--appendonly', o.persist ? 'yes' : 'no', '--daemonize', 'no', '--protected-mode', 'yes'];
  const child = spawn(o.binary ?? 'redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const until = Date.now() + 10_000;
  for (;;) {
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
    if (failed) throw new ConfigError(`cannot start redis-server (${failed.message}); run infra/setup or set REDIS_URL`);
    if (child.exitCode !== null) throw new ConfigError(`redis-server exited with code ${child.exitCode}: ${stderr.trim()}`);
    if (await ping(port)) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new ConfigError(`redis-server did not answer on 127.0.0.1:${port} within 10 s`);
    }
  }
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stop: async () => {
      process.removeListener('exit', onExit);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
