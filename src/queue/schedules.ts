/**
 * Scheduled re-indexing on BullMQ job schedulers. A schedule lives in Redis (upsertJobScheduler),
 * so however many scheduler workers run, each tick produces one `scheduled-run` job that one of
 * them takes; an in-process cron (node-cron) would fire in every replica. Setting a schedule
 * again with the same name replaces it.
 */
import type { Queue } from 'bullmq';

import { ConfigError } from '../errors.js';
import { checkName, checkPrefix } from '../store/keys.js';
import { checkKey } from '../store/object-store.js';
import { withQueue as withScheduleQueue, type QueueTarget } from './connection.js';
import { JOBS, QUEUES, type ScheduledRunPayload } from './queues.js';

export interface ScheduleSpec {
  name: string;
  /** Cron pattern (5 fields, or 6 with seconds first). */
  cron: string;
  /** IANA time zone of the pattern. @defaultValue UTC */
  tz?: string;
  run: Omit<ScheduledRunPayload, 'schedule'>;
}

export interface ScheduleInfo {
  name: string;
  cron: string | undefined;
  tz: string | undefined;
  /** Next run, ISO time. */
  next: string | undefined;
  run: ScheduledRunPayload | undefined;
}

// a gated run is not retried: a candidate that lost recall would lose it again
const RUN_OPTS = { attempts: 1, removeOnComplete: { count: 200 }, removeOnFail: { count: 200 } };

const withQueue = <T>(t: QueueTarget, fn: (q: Queue) => Promise<T>): Promise<T> => withScheduleQueue(t, QUEUES.schedule, fn);

export async function setSchedule(t: QueueTarget, spec: ScheduleSpec): Promise<ScheduleInfo> {
  checkName('schedule', spec.name);
  if (spec.run.source !== undefined) checkPrefix(spec.run.source);
  if (spec.run.queries !== undefined) checkKey(spec.run.queries);
  if (spec.tz !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: spec.tz });
    } catch {
      throw new ConfigError(`unknown time zone '${spec.tz}' (expected an IANA name such as Europe/Paris)`);
    }
  }
  return withQueue(t, async (q) => {
    try {
      await q.upsertJobScheduler(spec.name, { pattern: spec.cron, tz: spec.tz ?? 'UTC' }, { name: JOBS.scheduledRun, data: { ...spec.run, schedule: spec.name }, opts: RUN_OPTS });
    } catch (err) {
      throw new ConfigError(`schedule ${spec.name}: invalid cron pattern '${spec.cron}': ${(err as Error).message}`);
    }
    return (await info(q, spec.name))!;
  });
}

async function info(q: Queue, name: string): Promise<ScheduleInfo | undefined> {
  const s = await q.getJobScheduler(name);
  if (!s) return undefined;
  return {
    name,
    cron: s.pattern ?? undefined,
    tz: s.tz ?? undefined,
    next: s.next ? new Date(s.next).toISOString() : undefined,
    run: s.template?.data as ScheduledRunPayload | undefined,
  };
}

export async function listSchedules(t: QueueTarget): Promise<ScheduleInfo[]> {
  return withQueue(t, async (q) => {
    const all = await q.getJobSchedulers(0, -1, true);
    const out: ScheduleInfo[] = [];
    for (const s of all) {
      const i = await info(q, s.key);
      if (i) out.push(i);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  });
}

/** @returns false when there was no such schedule */
export async function removeSchedule(t: QueueTarget, name: string): Promise<boolean> {
  checkName('schedule', name);
  return withQueue(t, (q) => q.removeJobScheduler(name));
}

/** Queues one run of a schedule now (outside its cron), or a drift retrain; returns the job id. */
export async function queueRun(t: QueueTarget, run: ScheduledRunPayload, jobId: string): Promise<string> {
  return withQueue(t, async (q) => (await q.add(JOBS.scheduledRun, run, { ...RUN_OPTS, jobId })).id!);
}

/** Queues a run of an existing schedule now. @throws ConfigError when there is no such schedule */
export async function runScheduleNow(t: QueueTarget, name: string): Promise<string> {
  checkName('schedule', name);
  const s = await withQueue(t, (q) => info(q, name));
  if (!s?.run) throw new ConfigError(`no schedule named '${name}'`);
  return queueRun(t, s.run, `${name}.manual.${Date.now()}`);
}
