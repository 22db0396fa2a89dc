/** Worker roles by name, for `lemur worker [roles…]` and tests. */
import type { Worker } from 'bullmq';

import { announceCurrentMoves } from '../src/queue/current-channel.js';
import type { StartWorkerOptions } from '../src/queue/start-worker.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { startIndexWorker } from './index-worker.js';
import { startLoadWorker } from './load-worker.js';
import { startPublishWorker } from './publish-worker.js';
import { startEvalWorker } from './eval-worker.js';
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
  eval: startEvalWorker,
} as const;

export type Role = keyof typeof ROLES;

export function startRoles(roles: Role[], store: ObjectStore, o: StartWorkerOptions): Worker[] {
  // versions these workers publish or promote are announced to search servers at once
  announceCurrentMoves(o.redisUrl);
  return roles.map((r) => ROLES[r](store, o) as unknown as Worker);
}

/** Earlier names of roles, still accepted by `lemur worker`. */
const ALIASES: Record<string, Role> = { query: 'eval' };

/** The role a `lemur worker` argument names (an alias resolved), or undefined. */
export function resolveRole(name: string): Role | undefined {
  if (Object.hasOwn(ROLES, name)) return name as Role;
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
}
