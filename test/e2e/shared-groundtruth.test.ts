/**
 * Our exact MaxSim top-k against an independent ground truth: the `tiny` dataset of
 * ../shared/data, regenerated here by its numpy generator (fp32 BLAS scores, top-100).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { readSharedDataset, type SharedDataset } from '../../src/data/shared-dataset.js';
import { maxsimExactTopK } from '../../src/native/maxsim.js';
import { TokenStore } from '../../src/native/token-store.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const generator = fileURLToPath(new URL('../../../../shared/data/gen_dataset.py', import.meta.url));
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0);
const skip = !existsSync(generator) ? `no generator at ${generator}` : python === undefined ? 'no python3 with numpy' : false;

describe('exact top-k against the shared numpy ground truth', { skip }, () => {
  const tmp = makeTmpDir();
  let ds: SharedDataset;
  let store: TokenStore;
  before(async () => {
    const out = join(tmp.dir, 'tiny');
    const r = spawnSync(python!, [generator, '--docs', '2000', '--queries', '100', '--seed', '1', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    ds = readSharedDataset(out);
    await TokenStore.write(join(tmp.dir, 'tiny.lts'), {
      vectors: ds.docVectors,
      counts: ds.docCounts,
      dim: ds.dim,
      ids: BigInt64Array.from({ length: ds.docCounts.length }, (_, i) => BigInt(i)),
    });
    store = await TokenStore.open(join(tmp.dir, 'tiny.lts'));
  });
  after(() => {
    store?.close();
    tmp.cleanup();
  });

  it('finds the same top-100, in the same order up to near-ties', async () => {
    const nq = ds.queryCounts.length;
    const r = await maxsimExactTopK(ds.queryVectors, ds.queryCounts, store, 100, { threads: 2 });
    const gt = ds.groundTruth!;
    let agree = 0;
    for (let q = 0; q < nq; q++) {
      const want = new Set(Array.from(gt.subarray(q * 100, q * 100 + 100)));
      const row = r.row(q);
      for (const l of row.labels) if (want.has(Number(l))) agree++;
      // rank by rank, a differing id must be a near-tie in our own scores
      for (let i = 0; i < 10; i++) {
        if (Number(row.labels[i]) === gt[q * 100 + i]) continue;
        const other = Array.from(row.labels).indexOf(BigInt(gt[q * 100 + i]!));
        assert.ok(other >= 0 && Math.abs(row.distances[other]! - row.distances[i]!) < 1e-4, `query ${q} rank ${i}`);
      }
    }
    // only ties at the 100th place may differ
    assert.ok(agree / (nq * 100) >= 0.999, `top-100 agreement ${agree / (nq * 100)}`);
  });
});
