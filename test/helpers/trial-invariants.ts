/**
 * What must hold after (and during) every fault trial, checked on the store directly (not
 * through the fault proxy) and on Redis: every listed version verifies, `current` verifies every
 * time it is looked at while faults run, and every job of the flow ended (completed or failed)
 * within a deadline once the flow's root did.
 */
import type { Queue } from 'bullmq';

import type { ObjectStore } from '../../src/store/object-store.js';
import { keys } from '../../src/store/keys.js';
import { currentVersion } from '../../src/versions/current.js';
import { verifyVersion } from '../../src/versions/manifest.js';

/** Every manifest in the store verifies (each artifact exists with its recorded size and hash). */
export async function unverifiableVersions(store: ObjectStore): Promise<string[]> {
  const bad: string[] = [];
  for (const o of await store.list(keys.versionsPrefix)) {
    const v = keys.versionOfManifest(o.key);
    if (v === undefined) continue;
    await verifyVersion(store, v).catch((err: unknown) => bad.push(`${v}: ${(err as Error).message}`));
  }
  return bad;
}

/**
 * Polls `current` while a trial runs and verifies the version it names each time: a reader that
 * follows `current` at any moment must find a whole version.
 */
export class CurrentWatch {
  readonly problems: string[] = [];
  checks = 0;
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(store: ObjectStore, everyMs = 300) {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.check(store);
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  async check(store: ObjectStore): Promise<void> {
    this.checks++;
    try {
      const v = await currentVersion(store);
      if (v === undefined) this.problems.push('current is unset');
      else await verifyVersion(store, v);
    } catch (err) {
      this.problems.push((err as Error).message);
    }
  }

  async stop(): Promise<string[]> {
    this.#stopped = true;
    await this.#loop;
    return this.problems;
  }
}

const UNFINISHED = ['waiting', 'active', 'delayed', 'waiting-children', 'prioritized', 'paused'] as const;

/** Jobs not yet completed or failed, `queue/id (state)`, over the given queues. */
export async function unfinishedJobs(queues: Queue[]): Promise<string[]> {
  const out: string[] = [];
  for (const q of queues) {
    for (const j of await q.getJobs([...UNFINISHED])) out.push(`${q.name}/${j.id} (${await j.getState()})`);
  }
  return out;
}

/** Jobs whose processor returned more than once (from the workers' logs). */
export function ranTwice(completions: Map<string, number>): string[] {
  return [...completions].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
}
