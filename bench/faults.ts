/**
 * `npm run bench -- faults [--trials N] [--seed S] [--only FAULT] [--op OPERATION] [--minutes M] [--json]`:
 * N seeded fault trials (test/helpers/fault-trials.ts) spread over operations × fault kinds
 * (trial i: operation i mod 5, fault ⌊i/5⌋ mod 5, seed S+i), on real worker processes, a real
 * redis-server with AOF and s3rver behind the fault proxy. Reports per fault kind and operation
 * how many trials held every invariant, versions published vs refused (with causes), recovery
 * time percentiles (fault → flow done) and the extra wall time over a clean run, and lists every
 * failed trial with the flags that replay it. --minutes stops starting trials after that long
 * (the count run is reported). Written to bench/results/faults-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { setLogLevel } from '../src/log.js';
import { FAULT_KINDS, FaultLab, OPERATIONS, type FaultKind, type Operation, type TrialResult } from '../test/helpers/fault-trials.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';

setLogLevel('error');
const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' },
    op: { type: 'string' },
    minutes: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
const n = Number(values.trials);
const seed0 = Number(values.seed);
if (!Number.isInteger(n) || n < 1 || !Number.isInteger(seed0)) throw new Error('Expected --trials N ≥ 1 and an integer --seed');
if (values.only && !FAULT_KINDS.includes(values.only as FaultKind)) throw new Error(`Expected --only to be one of ${FAULT_KINDS.join(', ')}`);
if (values.op && !OPERATIONS.includes(values.op as Operation)) throw new Error(`Expected --op to be one of ${OPERATIONS.join(', ')}`);
const faults: readonly FaultKind[] = values.only ? [values.only as FaultKind] : FAULT_KINDS;
const ops: readonly Operation[] = values.op ? [values.op as Operation] : OPERATIONS;
const budgetMs = values.minutes ? Number(values.minutes) * 60_000 : Infinity;

const t0 = performance.now();
const lab = await FaultLab.start(ops);
const results: TrialResult[] = [];
try {
  for (let i = 0; i < n; i++) {
    if (performance.now() - t0 > budgetMs) {
      progress(`time budget of ${values.minutes} min spent: ${i} of ${n} trials run`);
      break;
    }
    const r = await lab.trial({ operation: ops[i % ops.length]!, fault: faults[Math.floor(i / ops.length) % faults.length]!, seed: seed0 + i });
    results.push(r);
    progress(`${i + 1}/${n} ${r.operation} × ${r.fault} seed ${r.seed}: ${r.outcome}${r.cause ? ` (${r.cause})` : ''}, ${r.held ? 'held' : `VIOLATED: ${r.violations.join('; ')}`}, wall ${r.wallMs} ms (clean ${r.cleanMs}), recovery ${r.recoveryMs ?? '-'} ms ${JSON.stringify(r.injected)}`);
  }
} finally {
  await lab.close();
}

function pct(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const percentiles = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p90: pct(xs, 90), max: xs.length ? Math.max(...xs) : null });

function summary(rs: TrialResult[]) {
  return {
    trials: rs.length,
    held: rs.filter((r) => r.held).length,
    published: rs.filter((r) => r.outcome === 'published').length,
    refused: rs.filter((r) => r.outcome === 'refused').length,
    // a kill that cut a job in flight (the others hit the process just after its job ended)
    killsInFlight: rs.filter((r) => r.injected.killedInFlight).length,
    kills: rs.filter((r) => r.injected.killedRole !== undefined).length,
    noFaultReached: rs.filter((r) => r.injected.none).length,
    s3FaultsInjected: rs.reduce((a, r) => a + (r.injected.s3Faults ?? 0), 0),
    recoveryMs: percentiles(rs.flatMap((r) => (r.recoveryMs !== undefined ? [r.recoveryMs] : []))),
    extraWallMs: percentiles(rs.map((r) => r.wallMs - r.cleanMs)),
  };
}

const by = <K extends string>(keysOf: readonly K[], f: (r: TrialResult) => K) => Object.fromEntries(keysOf.map((k) => [k, summary(results.filter((r) => f(r) === k))]));
const causes: Record<string, number> = {};
for (const r of results) if (r.cause) causes[r.cause] = (causes[r.cause] ?? 0) + 1;
const held = results.filter((r) => r.held).length;
const cleanMs = Object.fromEntries(ops.map((op) => [op, Math.round(lab.clean.get(op)?.wallMs ?? 0)]));
const result = {
  bench: 'faults',
  date: new Date().toISOString(),
  machine: machineInfo(),
  trialsAsked: n,
  trials: results.length,
  seeds: [seed0, seed0 + results.length - 1],
  design: 'two `lemur worker` processes (all roles, --lock-duration 4000, LEMUR_THREADS 1), redis-server with AOF, s3rver behind the S3 fault proxy; 900 docs dim 32 in 3 source shards, tiny fit',
  invariantsHeld: { trials: results.length, held, percent: results.length ? Math.round((1e4 * held) / results.length) / 100 : null, goal: '100 % over ≥ 200 trials', goalMet: held === results.length && results.length >= 200 },
  versions: { published: results.filter((r) => r.outcome === 'published').length, refused: results.filter((r) => r.outcome === 'refused').length, causes },
  overall: summary(results),
  byFault: by(faults, (r) => r.fault),
  byOperation: by(ops, (r) => r.operation),
  cleanMs,
  failed: results.filter((r) => !r.held).map((r) => ({ operation: r.operation, fault: r.fault, seed: r.seed, violations: r.violations, replay: `npm run bench -- faults --trials 1 --seed ${r.seed} --only ${r.fault} --op ${r.operation}` })),
  wallSeconds: Math.round((performance.now() - t0) / 1000),
};
const resultsDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(resultsDir, { recursive: true });
// a run of one fault kind does not replace the full run's file
const out = join(resultsDir, `faults-${values.only ? `${values.only}-` : ''}${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
progress(`written to ${out}`);
emit(result, values.json);
