/**
 * The incremental commands through the real CLI on embedded defaults (a private Redis and
 * in-process workers per command): build, ingest, delete, compact, eval, and their errors.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { generateCorpus } from '../../src/data/synthetic-corpus.js';
import { LocalStore } from '../../src/store/local-store.js';
import { putCorpusShard } from '../helpers/corpus-shards.js';
import { cliRunner } from '../helpers/cli.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const tmp = makeTmpDir();
after(tmp.cleanup);
const lemur = cliRunner(tmp.dir);
const json = (r: ReturnType<typeof lemur>): Record<string, unknown> => {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
};
const corpus = generateCorpus({ docs: 900, queries: 1, dim: 16, seed: 4, minTokens: 6, maxTokens: 30 });

before(async () => {
  const store = new LocalStore(tmp.dir);
  await putCorpusShard(store, 'base/a.parquet', corpus, 0, 600);
  await putCorpusShard(store, 'new/b.parquet', corpus, 600, 900);
  await putCorpusShard(store, 'queries/q.parquet', corpus, 100, 160);
});

describe('lemur ingest / delete / compact / eval', () => {
  it('runs ingest -> delete -> compact -> eval from the command line', () => {
    json(lemur('build', 'base/', '--version', 'v1', '--epochs', '2', '--m-prime', '128', '--n-learn', '3000', '--hidden', '64'));
    const ing = json(lemur('ingest', 'new/', '--version', 'v2', '--drift', '1'));
    assert.deepEqual([ing['docs'], ing['added'], ing['upserted'], ing['retrain']], [900, 300, 0, undefined]);
    const del = json(lemur('delete', 'doc-100', 'doc-700', '--version', 'v3'));
    assert.deepEqual([del['deleted'], del['notFound']], [2, []]);
    writeFileSync(join(tmp.dir, 'ids.txt'), 'doc-101\n\nnot-there\n');
    const del2 = json(lemur('delete', '--file', join(tmp.dir, 'ids.txt'), '--version', 'v4'));
    assert.deepEqual([del2['deleted'], del2['notFound']], [1, ['not-there']]);
    const q = lemur('query', join(tmp.dir, 'queries/q.parquet'), '--k', '10', '--json');
    const results = (json(q)['results'] as { ids: string[] }[]).flatMap((r) => r.ids);
    for (const gone of ['doc-100', 'doc-101', 'doc-700']) assert.ok(!results.includes(gone), `${gone} returned`);
    const comp = json(lemur('compact', '--version', 'v5'));
    assert.deepEqual([comp['rewritten'], comp['merged'], comp['removed']], [0, 2, 3], 'both shards are small: merged into one');
    const ev = json(lemur('eval', join(tmp.dir, 'queries/q.parquet'), '--kprime', '20,50', '--exact-sample', '30', '--batch', '16', '--json'));
    const settings = ev['settings'] as { version: string; setting: string; queries: number; recall: number }[];
    assert.deepEqual(settings.map((s) => [s.version, s.setting, s.queries]), [['v5', "hnsw k'=20 ef=40", 60], ['v5', "hnsw k'=50 ef=100", 60]]);
    assert.ok(settings.every((s) => s.recall > 0.3), JSON.stringify(settings));
    assert.ok(existsSync(ev['html_path'] as string));
    const versions = json(lemur('versions', '--json')) as unknown as { version: string; operation: string; docs: number }[];
    assert.deepEqual(versions.map((v) => [v.version, v.operation, v.docs]), [['v1', 'build', 600], ['v2', 'ingest', 900], ['v3', 'delete', 898], ['v4', 'delete', 897], ['v5', 'compact', 897]]);
  });

  it('refuses bad input with a clear message', () => {
    const none = lemur('delete');
    assert.equal(none.status, 1);
    assert.match(none.stderr, /needs ids/);
    const bad = lemur('eval', join(tmp.dir, 'queries/q.parquet'), '--candidates', 'magic');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--candidates from hnsw, bruteforce/);
    const gt = join(tmp.dir, 'gt.jsonl');
    writeFileSync(gt, '{"query":"doc-100","ids":["doc-1"]}\n{"query":"nobody","ids":[]}\n');
    const badGt = lemur('eval', join(tmp.dir, 'queries/q.parquet'), '--groundtruth', gt);
    assert.equal(badGt.status, 1);
    assert.match(badGt.stderr, /gt\.jsonl: line 2, field `query`: no query with id 'nobody'/);
    const noVersion = lemur('eval', join(tmp.dir, 'queries/q.parquet'), '--version', 'v5,v99');
    assert.equal(noVersion.status, 1);
    assert.match(noVersion.stderr, /version v99 is not published/);
    const sched = lemur('schedule', 'list');
    assert.equal(sched.status, 1);
    assert.match(sched.stderr, /set REDIS_URL/);
    const noSrc = lemur('ingest', 'nothing/');
    assert.equal(noSrc.status, 1);
    assert.match(noSrc.stderr, /no \.parquet objects under 'nothing\/'/);
  });
});
