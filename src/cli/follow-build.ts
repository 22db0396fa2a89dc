/**
 * Waiting for a queued build or ingest from the CLI: progress bars (or progress lines off a
 * terminal) fed by buildProgress, worker logs diverted to a log file while bars are drawn, and a
 * final error that carries the reason (file, row, field), never just a job id.
 */
import { routeLogs } from '../log.js';
import { PipelineError } from '../errors.js';
import { buildProgress, type BuildProgress } from '../queue/build-progress.js';
import type { QueueTarget } from '../queue/connection.js';
import { failureCause } from '../queue/failure-cause.js';
import { scratchLogFile } from '../store/scratch.js';
import { openProgressView } from './progress-view.js';

export interface FollowOptions {
  /** 'build' or 'ingest' (messages, the log file's name). */
  what: string;
  /** Worker logs on stderr as they come (no bars). */
  verbose: boolean;
}

/** Shows `version`'s progress until `wait` settles; returns its value or throws a PipelineError with the cause. */
export async function followBuild<T>(target: QueueTarget, version: string, o: FollowOptions, wait: () => Promise<T>): Promise<T> {
  const bars = process.stderr.isTTY === true && !o.verbose;
  const view = openProgressView({ tty: bars });
  let restoreLogs: (() => void) | undefined;
  let logFile: string | undefined;
  if (bars) {
    logFile = scratchLogFile(`${o.what}-${version}.log`);
    view.print(`${o.what} ${version}: worker logs in ${logFile} (--verbose: here)`);
    restoreLogs = routeLogs(logFile, (text) => view.print(text));
  }
  let last: BuildProgress | undefined;
  let inflight: Promise<void> | undefined;
  const poll = (): Promise<void> =>
    (inflight ??= (async () => {
      try {
        last = (await buildProgress(target, version)) ?? last;
        if (last) view.update(last);
      } catch {
        // a poll that fails (Redis busy, the build not queued yet) is retried on the next tick
      } finally {
        inflight = undefined;
      }
    })());
  // the last word: after any poll in flight, one that sees the final state
  const finalPoll = async (): Promise<void> => {
    await inflight;
    await poll();
  };
  // each poll opens the five stage queues (a Redis connection each): twice a second is plenty for a bar
  const timer = setInterval(() => void poll(), bars ? 500 : 1000);
  try {
    const r = await wait();
    await finalPoll();
    return r;
  } catch (err) {
    await finalPoll();
    const cause = last?.failure ?? (await failureCause(target, (err as Error).message).catch(() => ({ reason: (err as Error).message }))).reason;
    throw new PipelineError(`${o.what} ${version} failed: ${cause}${logFile ? `\n(worker logs: ${logFile})` : ''}`, { cause: err });
  } finally {
    clearInterval(timer);
    view.stop();
    restoreLogs?.();
  }
}
