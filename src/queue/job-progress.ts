/**
 * A running job's progress, written to BullMQ (job.updateProgress) at most every half second:
 * native calls report far more often than Redis needs to hear, and each update is a round trip
 * plus an event to every listener. build-progress.ts reads these reports back for the bars,
 * `lemur status --build` and the dashboard.
 */
import type { Job } from 'bullmq';

import { log } from '../log.js';

/** What a job reports: done of total units, within a phase (the train job's targets, train, ols). */
export interface JobProgressReport {
  phase?: string;
  done: number;
  total: number;
  unit: string;
  epoch?: number;
  epochs?: number;
  loss?: number;
  /** A job of several phases: the last numbers of each phase so far (the bars of finished phases keep their counts). */
  phases?: Record<string, { done: number; total: number; unit: string }>;
}

export interface JobProgress {
  /** Records the latest report; sends it when the last send is older than the interval. */
  report(p: JobProgressReport): void;
  /** Sends the latest report if it was held back (call when the step ends). */
  flush(): Promise<void>;
}

export function jobProgress(job: Pick<Job, 'updateProgress'>, everyMs = 500): JobProgress {
  let latest: JobProgressReport | undefined;
  let sentAt = 0;
  let pending = false;
  const send = (p: JobProgressReport): Promise<void> =>
    job.updateProgress({ ...p }).catch((err: unknown) => log.warn('could not record job progress', { error: err as Error }));
  return {
    report(p) {
      latest = p;
      const now = Date.now();
      if (now - sentAt < everyMs) {
        pending = true;
        return;
      }
      sentAt = now;
      pending = false;
      void send(p);
    },
    async flush() {
      if (pending && latest) {
        pending = false;
        sentAt = Date.now();
        await send(latest);
      }
    },
  };
}
