/**
 * The fault proxies of test/helpers, against the real services they stand in front of: the
 * HTTP one before s3rver (each fault as an S3 client sees it with retries off, seeded draws,
 * fixed errors for chosen keys) and the TCP one before redis-server (drop, refuse, stall).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';

import { S3FaultProxy, type S3Fault } from '../helpers/s3-fault-proxy.js';
import { startTestRedis } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy.js';

let s3: S3Server;
let redis: Awaited<ReturnType<typeof startTestRedis>>;
const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256));

before(async () => {
  s3 = await startS3();
  redis = await startTestRedis();
  const direct = client(s3.endpoint);
  await direct.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'obj', Body: body }));
  direct.destroy();
});
after(async () => {
  await s3?.stop();
  await redis?.stop();
});

/** An S3 client that does not retry, so each injected fault is seen as it is. */
function client(endpoint: string, socketTimeout?: number): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(socketTimeout ? { requestHandler: { socketTimeout } } : {}),
  });
}

/** GET obj through the proxy: its bytes, or the error of the request or of its body. */
async function getObj(c: S3Client): Promise<Buffer | Error> {
  try {
    const r = await c.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'obj' }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } catch (err) {
    return err as Error;
  }
}

async function withProxy<T>(o: { rate: number; faults?: S3Fault[]; seed?: number; stallMs?: number }, fn: (p: S3FaultProxy) => Promise<T>): Promise<T> {
  const p = await S3FaultProxy.start({ target: s3.endpoint, ...o });
  try {
    return await fn(p);
  } finally {
    await p.close();
  }
}

describe('S3FaultProxy', () => {
  it('passes requests through unchanged at rate 0', async () => {
    await withProxy({ rate: 0 }, async (p) => {
      const c = client(p.url);
      assert.deepEqual(await getObj(c), body);
      await c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'via-proxy', Body: body.subarray(0, 1000) }));
      const r = await c.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'via-proxy' }));
      assert.deepEqual(Buffer.from(await r.Body!.transformToByteArray()), body.subarray(0, 1000));
      c.destroy();
      assert.equal(p.counts.requests, 3);
      assert.equal(p.counts.passed, 3);
      assert.equal(p.injected(), 0);
    });
  });

  it('answers 500 InternalError and 503 SlowDown with S3 error bodies', async () => {
    for (const [fault, status, name] of [['internal-error', 500, 'InternalError'], ['slow-down', 503, 'SlowDown']] as const) {
      await withProxy({ rate: 1, faults: [fault] }, async (p) => {
        const c = client(p.url);
        const got = await getObj(c);
        c.destroy();
        assert.ok(got instanceof Error, fault);
        assert.equal(got.name, name);
        assert.equal((got as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, status);
        assert.equal(p.counts[fault], 1);
      });
    }
  });

  it('resets connections before the response and mid-body, and truncates bodies', async () => {
    for (const fault of ['reset', 'reset-mid-body', 'truncate'] as const) {
      await withProxy({ rate: 1, faults: [fault] }, async (p) => {
        const c = client(p.url);
        const got = await getObj(c);
        c.destroy();
        // a body cut short may end without an error on some Node versions: then it is short
        if (!(got instanceof Error)) assert.ok(got.length < body.length, `${fault}: ${got.length} bytes`);
        assert.equal(p.counts[fault], 1, fault);
      });
    }
    // a body fault on a response without a body is a reset
    await withProxy({ rate: 1, faults: ['truncate'] }, async (p) => {
      const c = client(p.url);
      await assert.rejects(c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'lost-answer', Body: Buffer.from('x') })));
      c.destroy();
      assert.equal(p.counts.reset, 1);
      assert.equal(p.counts.truncate, 0);
    });
  });

  it('stalls a request: a client with a shorter socket timeout gives up, a patient one gets its answer', async () => {
    await withProxy({ rate: 1, faults: ['stall'], stallMs: 1500 }, async (p) => {
      const impatient = client(p.url, 300);
      const got = await getObj(impatient);
      impatient.destroy();
      assert.ok(got instanceof Error && got.name === 'TimeoutError', String(got));
      const patient = client(p.url);
      assert.deepEqual(await getObj(patient), body);
      patient.destroy();
      assert.equal(p.counts.stall, 2);
    });
  });

  it('draws faults from its seed: the same seed gives the same faults, at about the rate asked', async () => {
    const run = (seed: number): Promise<Record<string, number>> =>
      withProxy({ rate: 0.3, seed, faults: ['internal-error', 'slow-down'] }, async (p) => {
        const c = client(p.url);
        for (let i = 0; i < 200; i++) await getObj(c);
        c.destroy();
        return { ...p.counts };
      });
    const a = await run(42);
    const b = await run(42);
    assert.deepEqual(a, b);
    const injected = a['internal-error']! + a['slow-down']!;
    // binomial(200, 0.3): mean 60, sd 6.5; 30..90 is beyond 4 sd
    assert.ok(injected > 30 && injected < 90, `injected ${injected} of 200`);
    assert.equal(injected + a['passed']!, 200);
  });

  it('answers chosen keys with a fixed error, before any fault draw', async () => {
    await withProxy({ rate: 0 }, async (p) => {
      p.respondWith({ path: /\/obj$/, status: 403, code: 'AccessDenied' });
      const c = client(p.url);
      const got = await getObj(c);
      c.destroy();
      assert.ok(got instanceof Error);
      assert.equal(got.name, 'AccessDenied');
      assert.equal(p.counts.fixed, 1);
    });
  });
});

describe('TcpFaultProxy', () => {
  it('drops connections, refuses new ones, stalls, and recovers from each', async () => {
    const p = await TcpFaultProxy.start({ port: redis.port });
    const errors: string[] = [];
    // ioredis reconnects by itself; a short fixed delay keeps the test quick
    const c = new Redis({ host: p.host, port: p.port, retryStrategy: () => 50, maxRetriesPerRequest: null, lazyConnect: true });
    c.on('error', (e: Error) => errors.push(e.message));
    try {
      await c.connect();
      assert.equal(await c.ping(), 'PONG');

      assert.equal(p.dropAll(), 1);
      assert.equal(await c.ping(), 'PONG', 'reconnected after the drop');
      assert.equal(p.counts.connections, 2);

      await p.refuse(true);
      p.dropAll();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(errors.some((m) => m.includes('ECONNREFUSED')), errors.join('; '));
      await p.refuse(false);
      assert.equal(await c.ping(), 'PONG', 'connected again once the port is open');

      p.stall(true);
      const pong = c.ping();
      const first = await Promise.race([pong, new Promise((r) => setTimeout(() => r('held'), 300))]);
      assert.equal(first, 'held');
      p.stall(false);
      assert.equal(await pong, 'PONG');
      assert.deepEqual({ dropped: p.counts.dropped, refused: p.counts.refused, stalls: p.counts.stalls }, { dropped: 2, refused: 1, stalls: 1 });
    } finally {
      c.disconnect();
      await p.close();
    }
  });
});
