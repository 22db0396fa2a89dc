/** Worker roles by name, for `lemur worker [roles…]` and tests. */
import type { Worker } from 'bullmq';

import type { StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { startIndexWorker } from './index-worker.js';
import { startLoadWorker } from './load-worker.js';
import { startPublishWorker } from './publish-worker.js';
import { startQueryWorker } from './query-worker.js';
import { startScheduleWorker } from './schedule-worker.js';
import { startTrainWorker } from './train-worker.js';
import { startWeightsWorker } from './weights-worker.js';

export const ROLES = {
  load: startLoadWorker,
  train: startTrainWorker,
  weights: startWeightsWorker,
  index: startIndexWorker,
  publish: startPublishWorker,
  schedule: startScheduleWorker,
  query: startQueryWorker,
} as const;

export type Role = keyof typeof ROLES;

export function startRoles(roles: Role[], store: ObjectStore, o: StartWorkerOptions): Worker[] {
  return roles.map((r) => ROLES[r](store, o) as unknown as Worker);
}

/** The role a `lemur worker` argument names, or undefined. */
export function resolveRole(name: string): Role | undefined {
  return Object.hasOwn(ROLES, name) ? (name as Role) : undefined;
}
