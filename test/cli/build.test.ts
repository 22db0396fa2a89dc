/**
 * `lemur build` on one machine with embedded defaults (no REDIS_URL: a private redis-server and
 * in-process workers), then `lemur versions` and `lemur rollback`, through the real CLI.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { LocalStore } from '../../src/store/local-store.js';
import { readManifest } from '../../src/versions/manifest.js';
import { writeFixture } from '../helpers/parquet-fixtures.js';
import { cliRunner } from '../helpers/cli.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const lemur = cliRunner(tmp.dir);

before(async () => {
  mkdirSync(join(tmp.dir, 'sources'), { recursive: true });
  await writeFixture(join(tmp.dir, 'sources/a.parquet'), { rows: 300, dim: 16, layout: 'nested', codec: 'zstd', rowGroupSize: 2048 });
  await writeFixture(join(tmp.dir, 'sources/b.parquet'), { rows: 200, dim: 16, layout: 'flat', codec: 'snappy', rowGroupSize: 2048 });
});

describe('lemur build / versions / query / rollback', () => {
  it('builds and publishes with embedded defaults', () => {
    const small = ['--epochs', '2', '--m-prime', '128', '--n-learn', '3000', '--hidden', '64'];
    const r = lemur('build', 'sources/', '--version', 'v1', ...small);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { version: string; docs: number; shards: number };
    assert.equal(out.version, 'v1');
    // stderr is not a terminal: JSON lines; every line logged inside a job carries its context
    const lines = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const inJobs = lines.filter((l) => l['jobId'] !== undefined);
    assert.ok(inJobs.length >= 2 * 5 + 2, `${inJobs.length} job lines`);
    for (const l of inJobs) {
      assert.equal(l['version'], 'v1', JSON.stringify(l));
      assert.match(String(l['queue']), /^lemur-/);
      if (/lemur-(load|weights|index)/.test(String(l['queue']))) assert.match(String(l['shard']), /^[ab]-[0-9a-f]{12}$/, JSON.stringify(l));
    }
    // lines logged by the stages themselves (not the worker wrapper) carry it too
    const loaded = inJobs.filter((l) => l['msg'] === 'shard loaded');
    assert.equal(loaded.length, 2);
    for (const l of loaded) assert.ok(l['jobId'] && l['queue'] === 'lemur-load');
    assert.equal(out.docs, 500);
    assert.equal(out.shards, 2);
    const v = lemur('versions', '--json');
    assert.equal(v.status, 0, v.stderr);
    assert.deepEqual((JSON.parse(v.stdout) as { version: string; current: boolean }[]).map((x) => [x.version, x.current]), [['v1', true]]);
    const q = lemur('query', join(tmp.dir, 'sources/b.parquet'), '--k', '5', '--k-prime', '50', '--json');
    assert.equal(q.status, 0, q.stderr);
    const qr = JSON.parse(q.stdout) as { version: string; results: { query: string; ids: string[]; scores: number[] }[] };
    assert.equal(qr.version, 'v1');
    assert.equal(qr.results.length, 200);
    for (const r of qr.results) {
      assert.equal(r.ids.length, 5);
      assert.ok(r.ids.every((id) => id !== null));
      for (let i = 1; i < 5; i++) assert.ok(r.scores[i - 1]! >= r.scores[i]!);
    }
    const rb = lemur('rollback');
    assert.equal(rb.status, 1);
    assert.match(rb.stderr, /no earlier version/);
  });

  it('splits files larger than --shard-docs into row ranges, one shard each', async () => {
    const r = lemur('build', 'sources/', '--version', 'parts', '--shard-docs', '120', '--epochs', '1', '--m-prime', '64', '--n-learn', '2000', '--hidden', '32');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { docs: number; shards: number };
    // a: 300 rows → 3 ranges of 100, b: 200 rows → 2 ranges of 100
    assert.deepEqual([out.shards, out.docs], [5, 500]);
    const m = await readManifest(new LocalStore(tmp.dir), 'parts');
    assert.deepEqual(
      m.shards.map((s) => [s.sourceKey, s.docs]),
      [['sources/a.parquet#rows=0-100', 100], ['sources/a.parquet#rows=100-200', 100], ['sources/a.parquet#rows=200-300', 100], ['sources/b.parquet#rows=0-100', 100], ['sources/b.parquet#rows=100-200', 100]],
    );
    const bad = lemur('build', 'sources/', '--shard-docs', '1.5');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--shard-docs to be an integer >= 0/);
  });

  it('names what is wrong: no sources, status without REDIS_URL', () => {
    const none = lemur('build', 'nothing/');
    assert.equal(none.status, 1);
    assert.match(none.stderr, /no \.parquet objects under 'nothing\/'/);
    const st = lemur('status');
    assert.equal(st.status, 1);
    assert.match(st.stderr, /set REDIS_URL/);
  });
});
