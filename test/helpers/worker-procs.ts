/**
 * `lemur worker` child processes with JSON logs, the way an operator runs them, for fault trials:
 * each child's log lines are kept (parsed), so a trial can tell which process runs a job and
 * count how often each job's processor ran to completion ('job done'), across killed and
 * replacement processes alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

import { CLI } from './cli.js';

export type LogLine = Record<string, unknown>;

export interface WorkerProc {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves when the process has exited (by any signal or code). */
  exited: Promise<void>;
}

/** Parses a process's JSON log lines as they arrive (a line that is not JSON is kept as its msg). */
export function collectLogLines(stream: Readable): LogLine[] {
  const lines: LogLine[] = [];
  let rest = '';
  stream.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop()!;
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ msg: p });
      }
    }
  });
  return lines;
}

export class WorkerPool {
  readonly procs: WorkerProc[] = [];
  readonly #env: NodeJS.ProcessEnv;
  readonly #args: string[];

  constructor(vars: NodeJS.ProcessEnv, args: string[]) {
    const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_LOG_FORMAT: 'json', ...vars };
    // a child that inherits the runner's context would report to it as a subtest
    delete env['NODE_TEST_CONTEXT'];
    this.#env = env;
    this.#args = args;
  }

  spawn(): WorkerProc {
    const child = spawn(process.execPath, [CLI, 'worker', ...this.#args], { env: this.#env, stdio: ['ignore', 'ignore', 'pipe'] });
    const lines = collectLogLines(child.stderr!);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const proc = { child, lines, exited };
    this.procs.push(proc);
    return proc;
  }

  /** The live process whose log says it started `jobId` of `queue` last, if any. */
  runnerOf(queue: string, jobId: string): WorkerProc | undefined {
    return this.procs.find((p) => alive(p) && p.lines.some((l) => l['msg'] === 'job started' && l['queue'] === queue && l['jobId'] === jobId));
  }

  /** How many times each job's processor returned, `queue/jobId` → count, over every process. */
  completions(): Map<string, number> {
    const n = new Map<string, number>();
    for (const p of this.procs) {
      for (const l of p.lines) {
        if (l['msg'] !== 'job done') continue;
        const k = `${String(l['queue'])}/${String(l['jobId'])}`;
        n.set(k, (n.get(k) ?? 0) + 1);
      }
    }
    return n;
  }

  /** Longest single run of a job of `queue`, in ms, as the logs report it (0 when none ran). */
  longestJobMs(queue: string): number {
    let ms = 0;
    for (const p of this.procs) for (const l of p.lines) if (l['msg'] === 'job done' && l['queue'] === queue) ms = Math.max(ms, Number(l['seconds']) * 1000);
    return ms;
  }

  /** SIGTERM to every live process; SIGKILL to any still running after `waitMs`. */
  async stop(waitMs = 15_000): Promise<void> {
    const live = this.procs.filter(alive);
    for (const p of live) p.child.kill('SIGTERM');
    const timer = new Promise<void>((r) => setTimeout(r, waitMs).unref());
    await Promise.race([Promise.all(live.map((p) => p.exited)), timer]);
    for (const p of live) if (alive(p)) p.child.kill('SIGKILL');
    await Promise.all(live.map((p) => p.exited));
  }
}

export function alive(p: WorkerProc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}
