/**
 * The README's main command, end to end through the real CLI entry point: `lemur demo` on a
 * small corpus in a private store folder (Parquet shards -> queues and workers on a private
 * Redis -> published version -> queries) prints one JSON line with a sane recall.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { CLI } from '../helpers/cli.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);

describe('lemur demo', () => {
  it('runs end to end and prints one JSON line', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--docs', '500', '--queries', '30'], {
      env: { ...process.env, LEMUR_STORE: tmp.dir },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'stdout holds exactly the result line (logs go to stderr)');
    const out = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(out['docs'], 500);
    assert.ok((out['recall_at_10'] as number) >= 0.5, `recall ${out['recall_at_10']}`);
    assert.ok((out['qps'] as number) > 0);
    assert.ok((out['build_s'] as number) > 0);
    assert.ok(existsSync(join(tmp.dir, 'versions', out['version'] as string, 'manifest.json')), 'published through the pipeline');
    assert.ok(existsSync(join(tmp.dir, 'demo', 'sources', 'part-000.parquet')));
    assert.equal(out['ingested'], 100, 'the last 20 % arrive by ingestion');
    assert.equal(out['shards'], 5);
    assert.ok(existsSync(out['report'] as string), 'the queued evaluation wrote its HTML report');
  });

  it('rejects bad flags with exit code 2 or 1 and a message naming the flag', () => {
    const bad = spawnSync(process.execPath, [CLI, 'demo', '--docs', 'many'], { env: { ...process.env, LEMUR_STORE: tmp.dir }, encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--docs/);
    const unknown = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  });
});
