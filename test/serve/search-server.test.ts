/**
 * `lemur serve` in-process over real published versions (pipeline stages on a local store): the
 * API contract (JSON and base64 float32/float16 embeddings, results equal to the engine's own),
 * errors as 400s naming the field, readiness before and after the first publish, the
 * micro-batcher answering each request with its own results, the bounded queue (429 with
 * Retry-After), basic auth, and a version swap and a rollback under load with no failed request
 * and no request answered from a mix of versions.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { setLogLevel } from '../../src/log.js';
import { encodeHalves, decodeHalves } from '../../src/parquet/float16.js';
import { announceCurrentMoves } from '../../src/queue/current-channel.js';
import { openVersion } from '../../src/query/open-version.js';
import { startSearchServer, type SearchServer, type SearchServerOptions } from '../../src/serve/search-server.js';
import { LocalStore } from '../../src/store/local-store.js';
import { rollback } from '../../src/versions/publish.js';
import { startTestRedis } from '../helpers/redis.js';
import { SERVE_DIM, serveFixture, type ServeFixture } from '../helpers/serve-fixture.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
let fx: ServeFixture;
const servers: SearchServer[] = [];

before(async () => {
  fx = await serveFixture(tmp.dir);
  await fx.publish('v1', ['a', 'b', 'c']);
});
after(async () => {
  for (const s of servers) await s.close();
  tmp.cleanup();
});

async function serve(o: Partial<SearchServerOptions> = {}): Promise<SearchServer> {
  const s = await startSearchServer({ store: fx.store, port: 0, ...o });
  servers.push(s);
  return s;
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { version?: string; results?: { ids: string[]; scores: number[] }[]; field?: string; message?: string; timings?: { batchQueries: number } };
  headers: Headers;
}

async function post(s: SearchServer, body: unknown, path = '/v1/search', headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Answer['body'], headers: r.headers };
}

/** Query i as JSON token arrays. */
const jsonQuery = (i: number): number[][] => {
  const { vectors, tokens } = fx.query(i);
  return Array.from({ length: tokens }, (_, t) => Array.from(vectors.subarray(t * SERVE_DIM, (t + 1) * SERVE_DIM)));
};

/** What the engine itself answers for these queries on a version (HNSW candidates, as served). */
async function reference(version: string, queries: number[], o: { k?: number; kPrime?: number; vectors?: (i: number) => Float32Array } = {}): Promise<{ ids: string[]; scores: number[] }[]> {
  const opened = await openVersion(fx.store, version);
  try {
    const out = [];
    for (const i of queries) {
      const v = o.vectors?.(i) ?? fx.query(i).vectors;
      const r = await opened.engine.search(v, Int32Array.of(v.length / SERVE_DIM), { k: o.k ?? 10, kPrime: o.kPrime ?? 100, candidates: 'hnsw' });
      const row = r.row(0);
      const n = row.ids.filter((x) => x !== null).length;
      out.push({ ids: row.ids.slice(0, n).map(String), scores: Array.from(row.scores.subarray(0, n)) });
    }
    return out;
  } finally {
    opened.close();
  }
}

describe('lemur serve: API', () => {
  let s: SearchServer;
  before(async () => {
    s = await serve();
  });

  it('answers JSON queries with the engine’s own ids and exact scores, the version and timings', async () => {
    const a = await post(s, { queries: [jsonQuery(0), jsonQuery(1)], k: 5, kPrime: 50 });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.body.version, 'v1');
    assert.deepEqual(a.body.results, await reference('v1', [0, 1], { k: 5, kPrime: 50 }));
    const t = a.body['timings'] as Record<string, number>;
    for (const f of ['queueMs', 'searchMs', 'totalMs', 'batchQueries']) assert.equal(typeof t[f], 'number', f);
  });

  it('takes base64 float32 (several queries by counts) and float16 tensors', async () => {
    const q0 = fx.query(2);
    const q1 = fx.query(3);
    const both = new Float32Array([...q0.vectors, ...q1.vectors]);
    const f32 = await post(s, { tensor: { dtype: 'float32', shape: [q0.tokens + q1.tokens, SERVE_DIM], data: Buffer.from(both.buffer).toString('base64'), counts: [q0.tokens, q1.tokens] } });
    assert.equal(f32.status, 200, JSON.stringify(f32.body));
    assert.deepEqual(f32.body.results, await reference('v1', [2, 3]));
    const halves = encodeHalves(q0.vectors);
    const f16 = await post(s, { tensor: { dtype: 'float16', shape: [q0.tokens, SERVE_DIM], data: Buffer.from(halves).toString('base64') } });
    assert.equal(f16.status, 200, JSON.stringify(f16.body));
    assert.deepEqual(f16.body.results, await reference('v1', [2], { vectors: () => decodeHalves(halves) }));
  });

  it('refuses bad requests with 400 naming the field', async () => {
    const q = jsonQuery(0);
    const cases: [unknown, string, RegExp][] = [
      [{ queries: [[q[0]!.slice(0, 31)]] }, 'queries[0][0]', /31 values, expected dim 32/],
      [{ queries: [q], k: '5' }, 'k', /integer/],
      [{ queries: [q], k: 0 }, 'k', />= 1/],
      [{ queries: [q], k: 20, kPrime: 10 }, 'kPrime', /below k/],
      [{ queries: [q], version: 'v9' }, 'version', /not loaded here \(loaded: v1\)/],
      [{ queries: [q], colour: 'red' }, 'colour', /unknown field 'colour'/],
      [{ queries: [[]] }, 'queries[0]', /at least one token/],
      [{ queries: [[[...q[0]!.slice(0, 31), 1e39]]] }, 'queries[0][0][31]', /not a finite float32/],
      [{ queries: Array.from({ length: 65 }, () => [q[0]]) }, 'queries', /65 queries, more than the limit of 64/],
      [{ queries: [Array.from({ length: 513 }, () => q[0])] }, 'queries[0]', /513 tokens, more than the limit of 512/],
      [{ tensor: { dtype: 'float32', shape: [2, SERVE_DIM], data: Buffer.alloc(8).toString('base64') } }, 'tensor.data', /8 bytes after base64, expected 2 × 32 float32 = 256/],
      [{ tensor: { dtype: 'float32', shape: [1, 16], data: Buffer.alloc(64).toString('base64') } }, 'tensor.shape[1]', /dim 16, expected 32/],
      [{ tensor: { dtype: 'float32', shape: [1, SERVE_DIM], data: Buffer.from(new Float32Array(SERVE_DIM).fill(Number.NaN).buffer).toString('base64') } }, 'tensor.data[0][0]', /NaN is not a finite/],
      [{ tensor: { dtype: 'float32', shape: [2, SERVE_DIM], data: Buffer.alloc(256).toString('base64'), counts: [1, 2] } }, 'tensor.counts', /sum 3, expected/],
      [{ tensor: { dtype: 'int8', shape: [1, SERVE_DIM], data: '' } }, 'tensor.dtype', /allowed values/],
      [{ k: 3 }, 'queries', /exactly one of them/],
    ];
    for (const [body, field, message] of cases) {
      const a = await post(s, body);
      assert.equal(a.status, 400, `${field}: ${JSON.stringify(a.body)}`);
      assert.equal(a.body.field, field, JSON.stringify(a.body));
      assert.match(a.body.message!, message);
      assert.ok(a.body.message!.startsWith(`${field}: `), a.body.message);
    }
    const notJson = await post(s, '{"queries": [');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body['error'], 'bad_request');
  });

  it('reports itself: /v1/version, /healthz, /readyz, /metrics', async () => {
    const v = (await (await fetch(`${s.url}/v1/version`)).json()) as Record<string, unknown>;
    assert.deepEqual({ version: v['version'], loaded: v['loaded'], group: v['group'], shards: v['shards'], docs: v['docs'] }, { version: 'v1', loaded: ['v1'], group: null, shards: [0, 1, 2], docs: 900 });
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    const ready = await fetch(`${s.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { version: string }).version, 'v1');
    const m = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(m, /lemur_serve_requests_total\{route="\/v1\/search",status="200"\} \d+/);
    assert.match(m, /lemur_serve_requests_total\{route="\/v1\/search",status="400"\} \d+/);
    assert.match(m, /lemur_serve_batch_queries_bucket/);
    assert.match(m, /lemur_serve_version\{version="v1"\} 1/);
    assert.match(m, /lemur_serve_ready 1/);
  });
});

describe('lemur serve: micro-batching', () => {
  it('gathers concurrent requests into batches and answers each with its own results', async () => {
    const s = await serve({ batch: { windowMs: 25, maxBatch: 64 } });
    const queries = Array.from({ length: 40 }, (_, i) => i);
    const ks = queries.map((i) => 1 + (i % 7));
    const answers = await Promise.all(queries.map((i) => post(s, { queries: [jsonQuery(i)], k: ks[i], kPrime: 60 })));
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 200);
      assert.deepEqual(a.body.results, await reference('v1', [i], { k: ks[i]!, kPrime: 60 }), `query ${i}`);
    }
    const batched = answers.filter((a) => a.body.timings!.batchQueries > 1).length;
    assert.ok(batched > 20, `only ${batched} of 40 requests shared an engine call`);
  });

  it('sheds load past its queue limit with 429 and Retry-After, and answers the rest', async () => {
    const s = await serve({ batch: { windowMs: 300, maxBatch: 64, maxQueue: 6 } });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => post(s, { queries: [jsonQuery(i)] })));
    const shed = answers.filter((a) => a.status === 429);
    assert.equal(answers.filter((a) => a.status === 200).length, 6);
    assert.equal(shed.length, 6);
    for (const a of shed) {
      assert.ok(Number(a.headers.get('retry-after')) >= 1);
      assert.equal(a.body['error'], 'overloaded');
    }
  });
});

describe('lemur serve: readiness and credentials', () => {
  it('is live but not ready until a version is published, then ready without a restart', async () => {
    const empty = new LocalStore(join(tmp.dir, 'empty'));
    const s = await serve({ store: empty, follow: { pollSeconds: 1 } });
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${s.url}/readyz`)).status, 503);
    const a = await post(s, { queries: [jsonQuery(0)] });
    assert.equal(a.status, 503);
    assert.equal(a.headers.get('retry-after'), '1');
    // publish into the empty store: copy v1's objects
    for (const { key } of await fx.store.list('')) await empty.put(key, await fx.store.get(key));
    await s.follower.sync();
    assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
    assert.equal((await post(s, { queries: [jsonQuery(0)] })).status, 200);
  });

  it('requires credentials when given them (health probes stay open), and refuses to listen off loopback without', async () => {
    const s = await serve({ auth: { user: 'u', password: 'p w' } });
    assert.equal((await post(s, { queries: [jsonQuery(0)] })).status, 401);
    assert.equal((await post(s, { queries: [jsonQuery(0)] }, '/v1/search', { authorization: `Basic ${Buffer.from('u:wrong').toString('base64')}` })).status, 401);
    assert.equal((await post(s, { queries: [jsonQuery(0)] }, '/v1/search', { authorization: `Basic ${Buffer.from('u:p w').toString('base64')}` })).status, 200);
    assert.equal((await fetch(`${s.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
    await assert.rejects(startSearchServer({ store: fx.store, port: 0, host: '0.0.0.0' }), /beyond this machine, without a password/);
  });
});

describe('lemur serve: swaps under load', () => {
  it('follows a publish and a rollback (announced over Redis) with no failed request and no mixed versions', async () => {
    const redis = await startTestRedis();
    try {
      announceCurrentMoves(redis.url); // this process's publishes are announced, as a worker's are
      const s = await serve({ follow: { redisUrl: redis.url, pollSeconds: 60 } });
      const queries = Array.from({ length: 24 }, (_, i) => i);
      const seen = new Map<string, number>();
      const failures: string[] = [];
      const answers: { query: number; version: string; results: unknown }[] = [];
      let stop = false;
      const client = async (c: number): Promise<void> => {
        for (let n = 0; !stop; n++) {
          const q = queries[(c * 7 + n) % queries.length]!;
          const a = await post(s, { queries: [jsonQuery(q)], k: 5, kPrime: 50 });
          if (a.status !== 200) failures.push(`${a.status} ${JSON.stringify(a.body)}`);
          else {
            seen.set(a.body.version!, (seen.get(a.body.version!) ?? 0) + 1);
            answers.push({ query: q, version: a.body.version!, results: a.body.results![0] });
          }
        }
      };
      const until = async (pred: () => boolean): Promise<void> => {
        for (let i = 0; i < 600 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(pred(), 'timed out');
      };
      const clients = Array.from({ length: 8 }, (_, c) => client(c));
      await until(() => answers.length > 50);
      await fx.publish('v2', ['a', 'b', 'd']); // moves current: announced, the server swaps
      await until(() => (seen.get('v2') ?? 0) > 50);
      await rollback(fx.store, 'v1');
      const v1Before = seen.get('v1') ?? 0;
      await until(() => (seen.get('v1') ?? 0) > v1Before + 50 && s.pool.current === 'v1');
      stop = true;
      await Promise.all(clients);
      assert.deepEqual(failures, []);
      // every answer is exactly what its version gives: nothing answered from a mix of versions
      const refs = { v1: await reference('v1', queries, { k: 5, kPrime: 50 }), v2: await reference('v2', queries, { k: 5, kPrime: 50 }) };
      assert.notDeepEqual(refs.v1, refs.v2);
      for (const a of answers) assert.deepEqual(a.results, refs[a.version as 'v1' | 'v2'][a.query], `query ${a.query} on ${a.version}`);
      // v2 drained and closed after the rollback
      await until(() => s.pool.loaded().length === 1);
      assert.deepEqual(s.pool.loaded(), ['v1']);
    } finally {
      await redis.stop();
    }
  });
});
