/**
 * determinism.test.ts again, in child processes, under every MaxSim kernel this CPU has and every
 * OpenBLAS core it can force (Haswell and Zen everywhere, SkylakeX where the CPU has AVX-512):
 * a developer on an AVX-512 machine sees what an AVX2-only machine would. Each run must pass on
 * its own, and the results that are promised to be kernel- and BLAS-independent (W rows, the
 * projection, HNSW index bytes and search / scan results for fp32, fp16 and sq8 rows, targets,
 * rerank scores, exact top-k) must have the same digest in every run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KERNEL_NAMES } from '../../src/config.js';
import { kernelInfo } from '../../src/native/cpu.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const target = fileURLToPath(new URL('./determinism.test.js', import.meta.url));
const tmp = makeTmpDir();
after(tmp.cleanup);

const { available, cpu } = kernelInfo();
// OpenBLAS's SkylakeX kernels execute AVX-512 instructions: forced elsewhere they would crash.
const BLAS_CORES = ['Haswell', 'Zen', 'SkylakeX'] as const;
const skipReason = (kernel: string, blas: string): string | false => {
  if (!available.includes(kernel as (typeof available)[number])) return `this CPU (${cpu}) has no ${kernel}`;
  if (blas === 'SkylakeX' && !available.includes('avx512')) return `this CPU (${cpu}) cannot run OpenBLAS's SkylakeX kernels (no AVX-512)`;
  return false;
};
const combos = KERNEL_NAMES.flatMap((kernel) => BLAS_CORES.map((blas) => ({ kernel, blas, skip: skipReason(kernel, blas) })));
const runnable = combos.filter((c) => !c.skip);

interface RunDigests {
  kernel: string;
  blas: string | null;
  digests: Record<string, string>;
}

function runChild(kernel: string, blas: string, out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // without NODE_TEST_CONTEXT, which would make the child report to this runner, not run
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', target], {
      env: { ...env, LEMUR_KERNEL: kernel, OPENBLAS_CORETYPE: blas, LEMUR_DIGEST_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('determinism under every kernel × OpenBLAS core this CPU can run', () => {
  const runs: RunDigests[] = [];

  for (const { kernel, blas, skip } of combos) {
    it(`LEMUR_KERNEL=${kernel} OPENBLAS_CORETYPE=${blas}`, { skip }, async () => {
      const out = join(tmp.dir, `${kernel}-${blas}.json`);
      const { code, output } = await runChild(kernel, blas, out);
      assert.equal(code, 0, `determinism tests failed under LEMUR_KERNEL=${kernel} OPENBLAS_CORETYPE=${blas}:\n${output}`);
      const r = JSON.parse(readFileSync(out, 'utf8')) as RunDigests;
      assert.equal(r.kernel, kernel, 'the child ran the forced kernel');
      runs.push(r);
    });
  }

  it('gives the same W rows, projection, HNSW bytes and results (fp32, fp16 and sq8 rows), targets, rerank scores and exact top-k in every run', () => {
    assert.equal(runs.length, runnable.length, 'every run finished');
    const first = runs[0]!;
    const index = ['', '_fp16', '_sq8'].flatMap((s) => [`index${s}`, `hnswSearch${s}`, `indexScan${s}`]);
    for (const key of ['W', 'projection', ...index, 'scan', 'targets', 'rerank', 'exactTopK']) {
      assert.ok(first.digests[key], `${key} digest written`);
      for (const r of runs) assert.equal(r.digests[key], first.digests[key], `${key}: ${r.kernel}/${r.blas} vs ${first.kernel}/${first.blas}`);
    }
  });
});
