/**
 * The load stage's memory is bounded by a row group, not by the shard: a fresh process loading a
 * 384 MiB shard (decoded float32) of 2 MiB row groups peaks at less than a quarter of that above
 * where it started, while reading the whole shard first (the load before streaming) peaks above
 * it, which shows the measurement would catch a load that holds everything. A loose bound, not a
 * benchmark: what stays is a few row groups (the one decoded, the one prefetched, the batch being
 * written), the snappy decoder's memory, the ids and garbage not yet collected.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import type { Corpus } from '../../src/data/synthetic-corpus.js';
import { writeCorpusParquet } from '../../src/data/write-corpus-parquet.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { LoadPeak } from '../helpers/load-peak.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const PEAK = fileURLToPath(new URL('../helpers/load-peak.js', import.meta.url));
const MiB = 1 << 20;

// 12288 documents of 64 tokens of dim 128: 384 MiB of float32 in row groups of 64 documents (2 MiB)
const DOCS = 12288;
const TOKENS = 64;
const DIM = 128;
const GROUP = 64;
const DECODED = DOCS * TOKENS * DIM * 4;

/** The load's peak, measured in a fresh process. */
function peakOf(mode: 'stream' | 'whole'): LoadPeak {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  const r = spawnSync(process.execPath, [PEAK, tmp.dir, 'big/shard-000.parquet', mode], { env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as LoadPeak;
}

before(async () => {
  mkdirSync(join(tmp.dir, 'big'), { recursive: true });
  // random values (an LCG), so the file does not compress below the decoded size
  let seed = 12345;
  const docVectors = new Float32Array(DOCS * TOKENS * DIM);
  for (let x = 0; x < docVectors.length; x++) docVectors[x] = ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const corpus: Corpus = { dim: DIM, docVectors, docCounts: new Int32Array(DOCS).fill(TOKENS), queryVectors: new Float32Array(0), queryCounts: new Int32Array(0), querySourceDoc: new Int32Array(0) };
  await writeCorpusParquet(new LocalStore(tmp.dir), 'big/', corpus, 1, { stem: 'shard', rowGroupSize: GROUP });
});

describe('load memory', () => {
  it('loads a 384 MiB shard with a peak resident set far below its decoded size', () => {
    const stream = peakOf('stream');
    const whole = peakOf('whole');
    const grew = (p: LoadPeak): number => (p.peak - p.before) / MiB;
    process.stdout.write(`# decoded ${DECODED / MiB} MiB; peak above start: streamed ${grew(stream).toFixed(0)} MiB (${(stream.peak / MiB).toFixed(0)} MiB resident), whole shard ${grew(whole).toFixed(0)} MiB (${(whole.peak / MiB).toFixed(0)} MiB resident)\n`);
    assert.ok(grew(stream) < DECODED / MiB / 4, `streamed load grew ${grew(stream).toFixed(0)} MiB`);
    assert.ok(grew(whole) > DECODED / MiB, `the whole-shard load grew only ${grew(whole).toFixed(0)} MiB: the measurement would not catch it`);
  });
});
