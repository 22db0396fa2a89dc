/**
 * CI-sized fault trials (test/helpers/fault-trials.ts says what a trial is): every fault kind,
 * on a build, an ingest and an evaluation, each with a fixed seed. Every invariant must hold:
 * a completed flow published output byte-identical to a clean run's, a refused one names its
 * cause and published nothing; no job left unfinished or run to completion twice; every
 * manifest verifies; `current` verified whenever it was looked at during the trial.
 * `npm run bench -- faults` runs many more.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { setLogLevel } from '../../src/log.js';
import { FaultLab, type TrialSpec } from '../helpers/fault-trials.js';

setLogLevel('error');
let lab: FaultLab;

const TRIALS: TrialSpec[] = [
  { operation: 'build', fault: 'worker-kill', seed: 1 },
  { operation: 'build', fault: 'redis-kill', seed: 1 },
  { operation: 'ingest', fault: 's3', seed: 1 },
  { operation: 'ingest', fault: 'worker-kill+s3', seed: 2 },
  { operation: 'eval', fault: 'worker-kill', seed: 1 },
  { operation: 'build', fault: 'redis-net', seed: 3 },
];

before(async () => {
  lab = await FaultLab.start(['build', 'ingest', 'eval']);
});
after(async () => {
  await lab?.close();
});

describe('fault trials', () => {
  for (const spec of TRIALS) {
    it(`${spec.operation} × ${spec.fault} (seed ${spec.seed}) holds every invariant`, async (t) => {
      const r = await lab.trial(spec);
      t.diagnostic(JSON.stringify({ outcome: r.outcome, cause: r.cause, injected: r.injected, recoveryMs: r.recoveryMs, wallMs: r.wallMs, cleanMs: r.cleanMs, currentChecks: r.currentChecks }));
      assert.deepEqual(r.violations, []);
      assert.ok(r.currentChecks > 0, 'current was checked while the trial ran');
    });
  }
});
