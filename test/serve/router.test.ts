/**
 * `lemur serve --route` over shard groups (`lemur serve --group i/n`), in-process on loopback over
 * real published versions, plus one run of real CLI processes: results identical, ids and float
 * scores, to one process holding every shard (2 and 3 groups, several k and k', batched requests,
 * a version with tombstones); groups found through a static list and through Redis heartbeats
 * (replicas with failover); a group that is down fails requests with a 503 naming it, or with
 * partial answers gives the other groups' exact answer marked partial; a publish reaches the
 * router only once every group holds it, with no failed request and none mixing versions; a group
 * that dropped the router's version gets one retry, then a 503 naming it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';

import { setLogLevel } from '../../src/log.js';
import { deleteDocs } from '../../src/pipeline/delete-docs.js';
import { openVersion } from '../../src/query/open-version.js';
import { startRouter, type Router, type RouterOptions } from '../../src/serve/router.js';
import { startSearchServer, type SearchServer, type SearchServerOptions } from '../../src/serve/search-server.js';
import { currentVersion } from '../../src/versions/current.js';
import { CLI } from '../helpers/cli.js';
import { startTestRedis } from '../helpers/redis.js';
import { SERVE_DIM, serveFixture, type ServeFixture } from '../helpers/serve-fixture.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
let fx: ServeFixture;
const closers: (() => Promise<void>)[] = [];

before(async () => {
  fx = await serveFixture(tmp.dir);
  await fx.publish('v1', ['a', 'b', 'c']);
});
after(async () => {
  for (const c of closers.reverse()) await c();
  tmp.cleanup();
});

/** A server that never polls on its own: the tests move it with follower.sync(). */
async function serve(o: Partial<SearchServerOptions> = {}): Promise<SearchServer> {
  const s = await startSearchServer({ store: fx.store, port: 0, follow: { pollSeconds: 3600 }, ...o });
  closers.push(() => s.close());
  return s;
}
const groups = async (n: number, o: Partial<SearchServerOptions> = {}): Promise<SearchServer[]> => Promise.all(Array.from({ length: n }, (_, index) => serve({ group: { index, count: n }, ...o })));

async function route(o: Partial<RouterOptions> & Pick<RouterOptions, 'groups'>): Promise<Router> {
  const r = await startRouter({ store: fx.store, port: 0, refreshMs: 200, follow: { pollSeconds: 3600 }, ...o });
  closers.push(() => r.close());
  return r;
}

interface Hits {
  ids: string[];
  scores: number[];
}
interface Answer {
  status: number;
  body: Record<string, unknown> & { version?: string; results?: Hits[]; partial?: boolean; missingGroups?: number[]; groups?: number[]; message?: string };
}

async function post(url: string, body: unknown): Promise<Answer> {
  const r = await fetch(`${url}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Answer['body'] };
}

/** Queries as one base64 float32 tensor (several queries per request). */
function tensor(queries: number[]): { dtype: 'float32'; shape: number[]; data: string; counts: number[] } {
  const parts = queries.map((i) => fx.query(i));
  const all = new Float32Array(parts.reduce((a, p) => a + p.vectors.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p.vectors, o);
    o += p.vectors.length;
  }
  return { dtype: 'float32', shape: [all.length / SERVE_DIM, SERVE_DIM], data: Buffer.from(all.buffer).toString('base64'), counts: parts.map((p) => p.tokens) };
}

/** The engine's own answer on a version (HNSW candidates, as served), optionally over some shards only. */
async function reference(version: string, queries: number[], o: { k: number; kPrime: number; shards?: (i: number) => boolean }): Promise<Hits[]> {
  const opened = await openVersion(fx.store, version, o.shards ? { shards: o.shards } : {});
  try {
    const out: Hits[] = [];
    for (const i of queries) {
      const q = fx.query(i);
      const row = (await opened.engine.search(q.vectors, Int32Array.of(q.tokens), { k: o.k, kPrime: o.kPrime, candidates: 'hnsw' })).row(0);
      const n = row.ids.filter((x) => x !== null).length;
      out.push({ ids: row.ids.slice(0, n).map(String), scores: Array.from(row.scores.subarray(0, n)) });
    }
    return out;
  } finally {
    opened.close();
  }
}

const until = async (pred: () => boolean | Promise<boolean>, what: string): Promise<void> => {
  for (let i = 0; i < 600; i++) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
};

const QUERIES = Array.from({ length: 30 }, (_, i) => i);
const SETTINGS: { k: number; kPrime: number; efSearch?: number }[] = [{ k: 1, kPrime: 10 }, { k: 5, kPrime: 50 }, { k: 10, kPrime: 100 }, { k: 20, kPrime: 40 }, { k: 4, kPrime: 4 }, { k: 5, kPrime: 30, efSearch: 90 }];

describe('router vs one process', () => {
  let single: SearchServer;
  let r2: Router;
  let r3: Router;
  let all: SearchServer[];
  before(async () => {
    single = await serve();
    const g2 = await groups(2);
    const g3 = await groups(3);
    all = [single, ...g2, ...g3];
    r2 = await route({ groups: { urls: g2.map((g) => g.url) } });
    r3 = await route({ groups: { urls: g3.map((g) => g.url) } });
  });

  /** 30 queries, one per request, all at once (the router batches them its own way), and 5 in one request. */
  async function assertSame(version: string): Promise<void> {
    for (const s of SETTINGS) {
      const [one, two, three] = await Promise.all([single, r2, r3].map((x) => Promise.all(QUERIES.map((i) => post(x.url, { tensor: tensor([i]), ...s })))));
      for (const [i, a] of one!.entries()) {
        assert.equal(a.status, 200, JSON.stringify(a.body));
        for (const [name, b] of [['2 groups', two![i]!], ['3 groups', three![i]!]] as const) {
          assert.equal(b.status, 200, JSON.stringify(b.body));
          assert.equal(b.body.version, version);
          assert.equal(b.body.partial, undefined);
          assert.deepEqual(b.body.results, a.body.results, `${name}, query ${i}, ${JSON.stringify(s)}`);
        }
      }
      const many = await Promise.all([single, r2, r3].map((x) => post(x.url, { tensor: tensor([3, 1, 4, 1, 5]), ...s })));
      assert.deepEqual(many[1]!.body.results, many[0]!.body.results);
      assert.deepEqual(many[2]!.body.results, many[0]!.body.results);
    }
  }

  it('2 and 3 groups answer exactly as one process holding every shard (ids and float scores)', async () => {
    await assertSame('v1');
    // and that is the engine's own answer
    const a = await post(r2.url, { tensor: tensor([7]), k: 10, kPrime: 100 });
    assert.deepEqual(a.body.results, await reference('v1', [7], { k: 10, kPrime: 100 }));
  });

  it('on a version with tombstones too', async () => {
    // delete the best hit of ten queries: they must vanish from the routed answers, the rest stay equal
    const best = await Promise.all(QUERIES.slice(0, 10).map(async (i) => (await post(single.url, { tensor: tensor([i]), k: 1 })).body.results![0]!.ids[0]!));
    assert.ok((await deleteDocs(fx.store, [...new Set(best)], 'v1d')).deleted > 0);
    for (const s of all) await s.follower.sync();
    await r2.follower.sync();
    await r3.follower.sync();
    assert.equal(r2.pool.current, 'v1d');
    await assertSame('v1d');
    const routed = await Promise.all(QUERIES.slice(0, 10).map((i) => post(r3.url, { tensor: tensor([i]), k: 20, kPrime: 100 })));
    for (const a of routed) for (const id of best) assert.ok(!a.body.results![0]!.ids.includes(id), `deleted ${id} returned`);
  });

  it('has the public API of a server: /v1/version, /readyz, /healthz, /metrics, 400s naming the field', async () => {
    const v = (await (await fetch(`${r2.url}/v1/version`)).json()) as { version: string; group: null; groups: { count: number; members: { group: { index: number } }[] } };
    assert.equal(v.version, 'v1d');
    assert.equal(v.group, null);
    assert.equal(v.groups.count, 2);
    assert.deepEqual(v.groups.members.map((m) => m.group.index).sort(), [0, 1]);
    const ready = await fetch(`${r3.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { missingGroups: number[] }).missingGroups, []);
    assert.equal((await fetch(`${r3.url}/healthz`)).status, 200);
    assert.match(await (await fetch(`${r2.url}/metrics`)).text(), /lemur_serve_requests_total\{route="\/v1\/search",status="200"\}/);
    const bad = await post(r2.url, { queries: [[[1, 2, 3]]] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body['field'], 'queries[0][0]');
    const pinned = await post(r2.url, { tensor: tensor([0]), version: 'v9' });
    assert.equal(pinned.status, 400);
    assert.equal(pinned.body['field'], 'version');
  });
});

describe('router: discovery through Redis heartbeats, replicas', () => {
  it('finds the groups registered in Redis, spreads over replicas and fails over when one stops', async () => {
    const redis = await startTestRedis();
    closers.push(() => redis.stop());
    const advertise = { redisUrl: redis.url, heartbeatMs: 200 };
    const [g0, g1] = await groups(2, { advertise });
    const r = await route({ groups: { redisUrl: redis.url } });
    assert.equal(r.directory.count, 2);
    const version = (await currentVersion(fx.store))!;
    const answers = await Promise.all(QUERIES.slice(0, 10).map((i) => post(r.url, { tensor: tensor([i]), k: 5, kPrime: 50 })));
    assert.deepEqual(
      answers.map((a) => a.body.results![0]),
      await reference(version, QUERIES.slice(0, 10), { k: 5, kPrime: 50 }),
    );
    // a replica of group 0 registers; then the first instance stops: no request fails
    const replica = await serve({ group: { index: 0, count: 2 }, advertise });
    await until(() => r.directory.replicas(0).length === 2, 'the replica to be seen');
    await g0!.close();
    const failures: string[] = [];
    for (const i of QUERIES) {
      const a = await post(r.url, { tensor: tensor([i]), k: 5, kPrime: 50 });
      if (a.status !== 200) failures.push(JSON.stringify(a.body));
    }
    assert.deepEqual(failures, []);
    // a clean stop deletes the key: the router forgets the instance
    await until(() => r.directory.replicas(0).length === 1 && r.directory.members().every((m) => m.url !== g0!.url), 'the stopped instance to be dropped');
    assert.deepEqual(r.directory.replicas(0).map((m) => m.url), [replica.url]);
    assert.deepEqual(r.directory.replicas(1).map((m) => m.url), [g1!.url]);
  });
});

describe('router: a group that does not answer', () => {
  it('fails the request with 503 naming the group, or answers from the others marked partial', async () => {
    const [g0, g1] = await groups(2);
    const urls = [g0!.url, g1!.url];
    const strict = await route({ groups: { urls }, groupTimeoutMs: 1000 });
    const partial = await route({ groups: { urls }, groupTimeoutMs: 1000, partial: true });
    const version = strict.pool.current!;
    await g1!.close();
    const a = await post(strict.url, { tensor: tensor([2]), k: 5, kPrime: 50 });
    assert.equal(a.status, 503, JSON.stringify(a.body));
    assert.equal(a.body['error'], 'group_unavailable');
    assert.deepEqual(a.body.groups, [1]);
    assert.match(a.body.message!, /shard group 1 of 2/);
    await until(async () => (await fetch(`${strict.url}/readyz`)).status === 503, 'the router to report not ready');

    const p = await post(partial.url, { tensor: tensor([2, 3]), k: 5, kPrime: 50 });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.partial, true);
    assert.deepEqual(p.body.missingGroups, [1]);
    // exactly what an engine over group 0's shards answers
    assert.deepEqual(p.body.results, await reference(version, [2, 3], { k: 5, kPrime: 50, shards: (i) => i % 2 === 0 }));
    // with no group left, partial has nothing to answer from: 503, not an empty 200
    await g0!.close();
    const none = await post(partial.url, { tensor: tensor([2]), k: 5, kPrime: 50 });
    assert.equal(none.status, 503, JSON.stringify(none.body));
    assert.equal(none.body['error'], 'group_unavailable');
  });
});

describe('router: version swaps', () => {
  it('moves to a published version only once every group holds it, with no failed request and no mixed versions', async () => {
    const gs = await groups(2);
    const before = gs[0]!.pool.current!;
    const heldByAll: boolean[] = [];
    const r = await route({ groups: { urls: gs.map((g) => g.url) }, follow: { pollSeconds: 3600, onChange: (v) => heldByAll.push(gs.every((g) => g.pool.loaded().includes(v))) } });
    const failures: string[] = [];
    const answers: { query: number; version: string; results: Hits }[] = [];
    let stop = false;
    const client = async (c: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const q = QUERIES[(c * 7 + n) % QUERIES.length]!;
        const a = await post(r.url, { tensor: tensor([q]), k: 5, kPrime: 50 });
        if (a.status !== 200) failures.push(`${a.status} ${JSON.stringify(a.body)}`);
        else answers.push({ query: q, version: a.body.version!, results: a.body.results![0]! });
      }
    };
    const clients = Array.from({ length: 6 }, (_, c) => client(c));
    await until(() => answers.length > 30, 'answers before the publish');
    await fx.publish('v2', ['a', 'b', 'd']);
    await gs[0]!.follower.sync(); // group 0 serves v2 (keeping the old version for pinned requests)
    const routerSync = r.follower.sync(); // the router sees v2 but waits for group 1
    const n0 = answers.length;
    await until(() => answers.length > n0 + 30, 'answers while group 1 lacks v2');
    assert.equal(r.pool.current, before);
    assert.ok(answers.every((a) => a.version === before));
    await gs[1]!.follower.sync();
    await routerSync;
    assert.equal(r.pool.current, 'v2');
    const n1 = answers.filter((a) => a.version === 'v2').length;
    await until(() => answers.filter((a) => a.version === 'v2').length > n1 + 30, 'answers on v2');
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(failures, []);
    assert.deepEqual(heldByAll, [true, true]); // the first version and v2: both held by every group when taken
    const refs = new Map([
      [before, await reference(before, QUERIES, { k: 5, kPrime: 50 })],
      ['v2', await reference('v2', QUERIES, { k: 5, kPrime: 50 })],
    ]);
    assert.notDeepEqual(refs.get(before), refs.get('v2'));
    for (const a of answers) assert.deepEqual(a.results, refs.get(a.version)![a.query], `query ${a.query} on ${a.version}`);
  });
});

describe('router: a group that dropped the version', () => {
  it('refreshes, retries once, then answers 503 naming the group (not a 400: the client did nothing wrong)', async () => {
    // groups that keep nothing they swapped out: group 0 moving on strands the router's version
    const gs = await groups(2, { retainMs: 0 });
    const r = await route({ groups: { urls: gs.map((g) => g.url) }, groupWaitMs: 500 });
    const held = r.pool.current!;
    assert.equal((await post(r.url, { tensor: tensor([0]) })).status, 200);
    const v = await currentVersion(fx.store);
    const best = (await post(r.url, { tensor: tensor([0]), k: 1 })).body.results![0]!.ids[0]!;
    await deleteDocs(fx.store, [best], `${v}-d`);
    await gs[0]!.follower.sync();
    assert.deepEqual(gs[0]!.pool.loaded(), [`${v}-d`]);
    const a = await post(r.url, { tensor: tensor([0]) });
    assert.equal(a.status, 503, JSON.stringify(a.body));
    assert.deepEqual(a.body.groups, [0]);
    assert.match(a.body.message!, new RegExp(`group 0 does not hold version ${held}`));
    // once group 1 holds the new version too, the router moves and answers again
    await gs[1]!.follower.sync();
    await r.follower.sync();
    assert.equal(r.pool.current, `${v}-d`);
    const b = await post(r.url, { tensor: tensor([0]), k: 5, kPrime: 50 });
    assert.equal(b.status, 200);
    assert.ok(!b.body.results![0]!.ids.includes(best));
  });
});

describe('router: the command line', () => {
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) {
      if (c.exitCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
    }
  });

  /** `lemur serve …` in a child; resolves with the JSON line it prints once listening. */
  async function lemurServe(...args: string[]): Promise<{ url: string; version: string | null; groups?: number }> {
    const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: join(tmp.dir, 'store') };
    delete env['REDIS_URL'];
    delete env['NODE_TEST_CONTEXT']; // else the child's node:test machinery would talk to this runner
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`lemur serve ${args.join(' ')} exited ${code}: ${stderr}`)));
    });
    return JSON.parse(line) as { url: string; version: string | null; groups?: number };
  }

  it('lemur serve --group i/n processes behind lemur serve --route answer as the engine does', async () => {
    const [g0, g1] = await Promise.all([lemurServe('--group', '0/2'), lemurServe('--group', '1/2')]);
    const version = (await currentVersion(fx.store))!;
    assert.equal(g0.version, version);
    const r = await lemurServe('--route', '--groups', `${g0.url},${g1.url}`, '--group-timeout-ms', '5000');
    assert.equal(r.version, version);
    assert.equal(r.groups, 2);
    const answers = await Promise.all(QUERIES.slice(0, 8).map((i) => post(r.url, { tensor: tensor([i]), k: 10, kPrime: 100 })));
    for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.deepEqual(
      answers.map((a) => a.body.results![0]),
      await reference(version, QUERIES.slice(0, 8), { k: 10, kPrime: 100 }),
    );
  });
});
