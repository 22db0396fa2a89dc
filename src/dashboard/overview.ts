/**
 * What the dashboard's own page shows, gathered from the store and the queues: recent versions
 * (docs, shards, bytes, build time, the last evaluation's recall), builds and ingests in flight
 * per stage and shard, recent failures with their reasons, schedules with their next and last run.
 */
import type { Queue } from 'bullmq';

import type { EvalReport } from '../eval/report.js';
import { keys } from '../store/keys.js';
import { currentVersion } from '../versions/current.js';
import { listVersions, readManifest } from '../versions/manifest.js';
import type { RunRecord } from '../eval/gated-rebuild.js';
import { buildProgress, type BuildProgress } from '../queue/build-progress.js';
import type { QueueTarget } from '../queue/build-flow.js';
import { QUEUES, jobIds } from '../queue/queues.js';
import { listSchedules, type ScheduleInfo } from '../queue/schedules.js';
import type { ObjectStore } from '../store/object-store.js';

export interface VersionRow {
  version: string;
  createdAt: string;
  operation: string;
  docs: number;
  shards: number;
  bytes: number;
  current: boolean;
  /** Submission to publish, when the build's jobs are still in Redis. */
  buildSeconds?: number;
  recall?: { value: number; setting: string; evalId: string };
}

export interface FailureRow {
  queue: string;
  jobId: string;
  name: string;
  reason: string;
  at: string;
}

export interface Overview {
  current: string | undefined;
  versions: VersionRow[];
  builds: BuildProgress[];
  failures: FailureRow[];
  schedules: (ScheduleInfo & { lastRun?: RunRecord })[];
  counts: Record<string, Record<string, number>>;
  at: string;
}

async function buildSeconds(queues: Map<string, Queue>, version: string): Promise<number | undefined> {
  const train = await queues.get(QUEUES.train)!.getJob(jobIds.train(version));
  const pub = await queues.get(QUEUES.publish)!.getJob(jobIds.publish(version));
  if (!pub?.finishedOn) return undefined;
  const start = train?.timestamp ?? pub.timestamp;
  return Math.round((pub.finishedOn - start) / 100) / 10;
}

/** The newest evaluations' reports (evalIds embed their start time, so keys sort by age). */
async function recentReports(store: ObjectStore, n: number): Promise<EvalReport[]> {
  const reports = (await store.list(keys.evalsPrefix)).map((o) => o.key).filter(keys.isEvalReport).sort().slice(-n).reverse();
  const out: EvalReport[] = [];
  for (const k of reports) {
    try {
      out.push(JSON.parse((await store.get(k)).toString('utf8')) as EvalReport);
    } catch {
      // a report being written or damaged: skip it, the page still renders
    }
  }
  return out;
}

export async function gatherOverview(store: ObjectStore, t: QueueTarget, queues: Map<string, Queue>, options: { versions?: number } = {}): Promise<Overview> {
  const current = await currentVersion(store);
  const reports = await recentReports(store, 20);
  const versions: VersionRow[] = [];
  for (const v of (await listVersions(store)).reverse().slice(0, options.versions ?? 15)) {
    const m = await readManifest(store, v.version);
    const row: VersionRow = { ...v, bytes: m.artifacts.reduce((a, x) => a + x.bytes, 0) };
    const secs = await buildSeconds(queues, v.version);
    if (secs !== undefined) row.buildSeconds = secs;
    for (const r of reports) {
      const s = r.settings.find((x) => x.version === v.version && x.recall !== null);
      if (s) {
        row.recall = { value: s.recall!, setting: s.setting, evalId: r.evalId };
        break;
      }
    }
    versions.push(row);
  }
  // builds and ingests in flight: roots are train jobs (builds) and publish jobs (ingests), newest first
  const roots = [
    ...(await queues.get(QUEUES.train)!.getJobs(['active', 'waiting', 'waiting-children', 'delayed'], 0, 30, false)),
    ...(await queues.get(QUEUES.publish)!.getJobs(['active', 'waiting', 'waiting-children', 'delayed'], 0, 30, false)),
  ].sort((a, b) => b.timestamp - a.timestamp);
  const builds: BuildProgress[] = [];
  for (const j of roots) {
    const version = (j.data as { version?: string }).version;
    if (!version || builds.some((b) => b.version === version) || builds.length >= 5) continue;
    const p = await buildProgress(t, version);
    if (p && !p.done) builds.push(p);
  }
  const failures: FailureRow[] = [];
  for (const [name, q] of queues) {
    for (const j of await q.getJobs(['failed'], 0, 10, false)) {
      failures.push({ queue: name, jobId: j.id ?? '', name: j.name, reason: j.failedReason ?? '', at: new Date(j.finishedOn ?? j.timestamp).toISOString() });
    }
  }
  failures.sort((a, b) => (a.at < b.at ? 1 : -1));
  const schedules = [];
  for (const s of await listSchedules(t)) {
    const runs = (await store.list(keys.scheduleRuns(s.name))).map((o) => o.key).sort();
    const last = runs.at(-1);
    schedules.push(last ? { ...s, lastRun: JSON.parse((await store.get(last)).toString('utf8')) as RunRecord } : s);
  }
  const counts: Record<string, Record<string, number>> = {};
  for (const [name, q] of queues) counts[name] = await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'waiting-children');
  return { current, versions, builds, failures: failures.slice(0, 20), schedules, counts, at: new Date().toISOString() };
}
