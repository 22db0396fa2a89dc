/**
 * Where a build stands, per stage and per shard, from its deterministic job ids: the numbers
 * behind `lemur status --build V` and the progress line of `lemur build`.
 */
import type { Queue } from 'bullmq';

import { shardId } from '../store/keys.js';
import { openQueue, type QueueTarget } from './connection.js';
import { QUEUES, jobIds, type PublishPayload, type TrainPayload } from './queues.js';

export type JobState = 'missing' | 'waiting' | 'waiting-children' | 'active' | 'completed' | 'failed' | 'delayed' | 'prioritized' | 'unknown';

export interface ShardProgress {
  source: string;
  shardId: string;
  load: JobState;
  weights: JobState;
  index: JobState;
  /** failed reason of the first failed job of this shard */
  error?: string;
}

export interface BuildProgress {
  version: string;
  /** An ingest has no train stage (train: 'missing'). */
  kind: 'build' | 'ingest';
  train: JobState;
  publish: JobState;
  shards: ShardProgress[];
  done: boolean;
  failed: boolean;
}

async function stateOf(q: Queue, id: string): Promise<{ state: JobState; reason?: string }> {
  const job = await q.getJob(id);
  if (!job) return { state: 'missing' };
  const state = (await job.getState()) as JobState;
  return state === 'failed' ? { state, reason: job.failedReason } : { state };
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
    const sources = trainJob ? (trainJob.data as TrainPayload).sources : (ingest!.sources ?? []);
    const train = trainJob ? await stateOf(qs.train, jobIds.train(version)) : { state: 'missing' as const };
    const publish = await stateOf(qs.publish, jobIds.publish(version));
    const shards: ShardProgress[] = [];
    for (const source of sources ?? []) {
      const id = shardId(source);
      const l = await stateOf(qs.load, jobIds.load(version, source));
      const w = await stateOf(qs.weights, jobIds.weights(version, id));
      const i = await stateOf(qs.index, jobIds.index(version, id));
      const error = l.reason ?? w.reason ?? i.reason;
      shards.push({ source, shardId: id, load: l.state, weights: w.state, index: i.state, ...(error ? { error } : {}) });
    }
    const failed = [train.state, publish.state, ...shards.flatMap((s) => [s.load, s.weights, s.index])].includes('failed');
    return { version, kind: trainJob ? 'build' : 'ingest', train: train.state, publish: publish.state, shards, done: publish.state === 'completed', failed };
  } finally {
    await Promise.all(Object.values(qs).map((q) => q.close()));
  }
}

/** One line for a terminal: per stage, shards done / total. */
export function progressLine(p: BuildProgress): string {
  const n = p.shards.length;
  const count = (k: 'load' | 'weights' | 'index'): string => `${k} ${p.shards.filter((s) => s[k] === 'completed').length}/${n}`;
  const train = p.kind === 'build' ? ` | train ${p.train}` : '';
  return `${p.kind} ${p.version}: ${count('load')}${train} | ${count('weights')} | ${count('index')} | publish ${p.publish}`;
}
