/**
 * Where a build stands, per stage and per shard, from its deterministic job ids and the progress
 * its jobs report (job.updateProgress: see job-progress.ts): the numbers behind the bars of
 * `lemur build`, `lemur status --build V` and the dashboard's builds table.
 */
import type { Job, Queue } from 'bullmq';

import { shardId } from '../store/keys.js';
import type { LoadedShard } from '../store/loaded-shard.js';
import { openQueue, type QueueTarget } from './connection.js';
import { failureCause } from './failure-cause.js';
import type { JobProgressReport } from './job-progress.js';
import { QUEUES, jobIds, type PublishPayload, type TrainPayload } from './queues.js';

export type JobState = 'missing' | 'waiting' | 'waiting-children' | 'active' | 'completed' | 'failed' | 'delayed' | 'prioritized' | 'unknown';

export interface ShardProgress {
  source: string;
  shardId: string;
  load: JobState;
  weights: JobState;
  index: JobState;
  /** Documents in the shard, once loaded. */
  docs?: number;
  /** failed reason of the first failed job of this shard */
  error?: string;
}

export type StageName = 'load' | 'targets' | 'train' | 'weights' | 'index' | 'publish';

/** One stage of a build as a bar: done of total units, and a short detail (epoch, loss). */
export interface StageProgress {
  stage: StageName;
  state: 'waiting' | 'active' | 'done' | 'failed';
  done: number;
  total: number;
  unit: string;
  detail?: string;
}

export interface BuildProgress {
  version: string;
  /** An ingest has no train stage (train: 'missing'). */
  kind: 'build' | 'ingest';
  train: JobState;
  publish: JobState;
  shards: ShardProgress[];
  /** The stages in order, for bars and status (a retrain on loaded shards has no load stage). */
  stages: StageProgress[];
  done: boolean;
  failed: boolean;
  /** Why the build failed (the root job's reason, traced through "child … failed"). */
  failure?: string;
}

interface Seen {
  state: JobState;
  job?: Job;
}

async function seen(q: Queue, id: string): Promise<Seen> {
  const job = await q.getJob(id);
  if (!job) return { state: 'missing' };
  return { state: (await job.getState()) as JobState, job };
}

/** The progress a running job last reported, if it reported the shape job-progress.ts writes. */
function reported(s: Seen): JobProgressReport | undefined {
  const p = s.job?.progress;
  return s.state === 'active' && typeof p === 'object' && p !== null && typeof (p as JobProgressReport).total === 'number' ? (p as JobProgressReport) : undefined;
}

function stageState(states: JobState[]): StageProgress['state'] {
  if (states.some((s) => s === 'failed')) return 'failed';
  if (states.length > 0 && states.every((s) => s === 'completed')) return 'done';
  if (states.some((s) => s === 'active' || s === 'completed')) return 'active';
  return 'waiting';
}

/** A per-shard stage in documents: completed shards count whole, the running ones by their report. */
function docsStage(stage: 'weights' | 'index', shards: ShardProgress[], jobs: Seen[]): StageProgress {
  let done = 0;
  let total = 0;
  shards.forEach((s, i) => {
    const docs = s.docs ?? 0;
    total += docs;
    if (jobs[i]!.state === 'completed') done += docs;
    else {
      const r = reported(jobs[i]!);
      if (r && r.total > 0) done += Math.min(docs, (r.done / r.total) * docs);
    }
  });
  return { stage, state: stageState(jobs.map((j) => j.state)), done: Math.floor(done), total, unit: 'docs' };
}

/** targets and train from the train job's report (its phases run in that order: targets, train, ols). */
function trainStages(train: Seen): StageProgress[] {
  const last = (train.job?.progress ?? {}) as Partial<JobProgressReport>;
  const order = ['targets', 'train', 'ols'];
  const at = train.state === 'completed' ? order.length : last.phase ? order.indexOf(last.phase) : -1;
  const stage = (name: 'targets' | 'train', unit: string): StageProgress => {
    const i = order.indexOf(name);
    const state: StageProgress['state'] = at > i ? 'done' : train.state === 'failed' ? 'failed' : at === i ? 'active' : 'waiting';
    const n = last.phases?.[name];
    return { stage: name, state, done: n ? n.done : 0, total: n ? n.total : 0, unit: n?.unit ?? unit };
  };
  const fit = stage('train', 'batches');
  if (last.epoch !== undefined && last.epochs !== undefined) fit.detail = `epoch ${last.epoch}/${last.epochs}${last.loss !== undefined ? ` loss ${last.loss.toFixed(4)}` : ''}`;
  return [stage('targets', 'max-sims'), fit];
}

export async function buildProgress(t: QueueTarget, version: string): Promise<BuildProgress | undefined> {
  const open = (name: string): Queue => openQueue(t, name);
  const qs = { load: open(QUEUES.load), train: open(QUEUES.train), weights: open(QUEUES.weights), index: open(QUEUES.index), publish: open(QUEUES.publish) };
  try {
    // a build is rooted at its train job; an ingest at its publish job
    const trainJob = await qs.train.getJob(jobIds.train(version));
    const publishJob = trainJob ? undefined : await qs.publish.getJob(jobIds.publish(version));
    const ingest = (publishJob?.data as PublishPayload | undefined)?.operation === 'ingest' ? (publishJob!.data as PublishPayload) : undefined;
    if (!trainJob && !ingest) return undefined;
    const trainData = trainJob?.data as TrainPayload | undefined;
    const sources = trainData ? trainData.sources : (ingest!.sources ?? []);
    const retrainShards = new Map((trainData?.shards ?? []).map((s) => [s.sourceKey, s]));
    const train = trainJob ? await seen(qs.train, jobIds.train(version)) : { state: 'missing' as const };
    const publish = await seen(qs.publish, jobIds.publish(version));
    const shards: ShardProgress[] = [];
    const loads: Seen[] = [];
    const weights: Seen[] = [];
    const indexes: Seen[] = [];
    for (const source of sources ?? []) {
      const id = shardId(source);
      const l = await seen(qs.load, jobIds.load(version, source));
      const w = await seen(qs.weights, jobIds.weights(version, id));
      const i = await seen(qs.index, jobIds.index(version, id));
      loads.push(l);
      weights.push(w);
      indexes.push(i);
      const docs = (l.job?.returnvalue as LoadedShard | undefined)?.docs ?? retrainShards.get(source)?.docs;
      const failedJob = [l, w, i].find((s) => s.state === 'failed')?.job;
      const error = failedJob ? (await failureCause(t, failedJob.failedReason)).reason : undefined;
      shards.push({ source, shardId: id, load: l.state, weights: w.state, index: i.state, ...(docs !== undefined ? { docs } : {}), ...(error ? { error } : {}) });
    }
    const stages: StageProgress[] = [];
    if (retrainShards.size === 0) {
      const loaded = loads.filter((l) => l.state === 'completed').length;
      stages.push({ stage: 'load', state: stageState(loads.map((l) => l.state)), done: loaded, total: loads.length, unit: 'shards' });
    }
    if (trainJob) stages.push(...trainStages(train));
    stages.push(docsStage('weights', shards, weights), docsStage('index', shards, indexes));
    stages.push({ stage: 'publish', state: stageState([publish.state]), done: publish.state === 'completed' ? 1 : 0, total: 1, unit: 'version' });
    const failed = [train.state, publish.state, ...shards.flatMap((s) => [s.load, s.weights, s.index])].includes('failed');
    const rootFailed = [train, publish].find((s) => s.state === 'failed')?.job;
    const failure = rootFailed ? (await failureCause(t, rootFailed.failedReason)).reason : shards.find((s) => s.error)?.error;
    return {
      version,
      kind: trainJob ? 'build' : 'ingest',
      train: train.state,
      publish: publish.state,
      shards,
      stages,
      done: publish.state === 'completed',
      failed,
      ...(failure ? { failure } : {}),
    };
  } finally {
    await Promise.all(Object.values(qs).map((q) => q.close()));
  }
}

/** One line for logs and pipes: per stage, done / total. */
export function progressLine(p: BuildProgress): string {
  const parts = p.stages.map((s) => {
    if (s.stage === 'publish') return `publish ${s.state}`;
    const n = s.stage === 'targets' || s.stage === 'train' ? (s.total > 0 && s.state === 'active' ? `${s.done}/${s.total} ${s.unit}` : s.state) : `${s.done}/${s.total}${s.unit === 'shards' ? '' : ` ${s.unit}`}`;
    return `${s.stage} ${n}${s.detail ? ` (${s.detail})` : ''}`;
  });
  return `${p.kind} ${p.version}: ${parts.join(' | ')}`;
}
