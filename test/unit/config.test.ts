import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

describe('loadConfig', () => {
  it('applies the embedded defaults', () => {
    const c = loadConfig({});
    assert.equal(c.redisUrl, undefined);
    assert.equal(c.store, './.lemur');
    assert.equal(c.kernel, undefined);
    assert.ok(c.threads >= 1);
    assert.equal(c.s3ForcePathStyle, false);
    assert.equal(c.s3MaxAttempts, 5);
    assert.equal(c.s3RetryMode, 'standard');
    assert.equal(c.s3SocketTimeoutMs, 60_000);
    assert.equal(c.cacheDir, join(tmpdir(), 'lemur-cache'));
    assert.equal(c.cacheBytes, 10 * 2 ** 30);
  });

  it('reads every variable of the conventions', () => {
    const c = loadConfig({
      REDIS_URL: 'redis://127.0.0.1:7000',
      LEMUR_STORE: 's3://bucket/prefix',
      LEMUR_S3_ENDPOINT: 'http://127.0.0.1:9999',
      LEMUR_S3_FORCE_PATH_STYLE: 'true',
      LEMUR_S3_MAX_ATTEMPTS: '8',
      LEMUR_S3_RETRY_MODE: 'adaptive',
      LEMUR_S3_SOCKET_TIMEOUT_MS: '5000',
      LEMUR_THREADS: '3',
      LEMUR_KERNEL: 'avx2',
      LEMUR_DRIFT_FRACTION: '0.5',
      LEMUR_CACHE_DIR: '/var/cache/lemur',
      LEMUR_CACHE_BYTES: '20GiB',
    });
    assert.deepEqual(c, {
      redisUrl: 'redis://127.0.0.1:7000',
      store: 's3://bucket/prefix',
      s3Endpoint: 'http://127.0.0.1:9999',
      s3ForcePathStyle: true,
      s3MaxAttempts: 8,
      s3RetryMode: 'adaptive',
      s3SocketTimeoutMs: 5000,
      threads: 3,
      kernel: 'avx2',
      driftFraction: 0.5,
      evalTolerance: 0.01,
      cacheDir: '/var/cache/lemur',
      cacheBytes: 20 * 2 ** 30,
    });
  });

  it('reads cache sizes in bytes, binary and decimal units', () => {
    const bytes = (v: string): number => loadConfig({ LEMUR_CACHE_BYTES: v }).cacheBytes;
    assert.equal(bytes('1000000'), 1_000_000);
    assert.equal(bytes('0'), 0);
    assert.equal(bytes('500MB'), 500_000_000);
    assert.equal(bytes('1.5 GiB'), 1.5 * 2 ** 30);
    assert.equal(bytes('2tib'), 2 * 2 ** 40);
    for (const bad of ['-1', 'lots', '5 GB free', '1e9', '10G', '5constructor']) {
      assert.throws(() => bytes(bad), (e: Error) => e instanceof ConfigError && e.message.includes(`LEMUR_CACHE_BYTES`) && e.message.includes(`'${bad}'`), bad);
    }
  });

  it('rejects invalid values with a message naming the variable and the value', () => {
    assert.throws(() => loadConfig({ LEMUR_THREADS: '0' }), (e: Error) => e instanceof ConfigError && /LEMUR_THREADS .* received '0'/.test(e.message));
    assert.throws(() => loadConfig({ LEMUR_THREADS: 'two' }), ConfigError);
    assert.throws(() => loadConfig({ LEMUR_KERNEL: 'neon' }), (e: Error) => e instanceof ConfigError && /LEMUR_KERNEL/.test(e.message));
    assert.throws(() => loadConfig({ LEMUR_STORE: 'gs://bucket' }), ConfigError);
    assert.throws(() => loadConfig({ LEMUR_DRIFT_FRACTION: '1.5' }), (e: Error) => e instanceof ConfigError && /LEMUR_DRIFT_FRACTION .* received '1.5'/.test(e.message));
    assert.throws(() => loadConfig({ LEMUR_EVAL_TOLERANCE: 'x' }), ConfigError);
    assert.throws(() => loadConfig({ LEMUR_S3_FORCE_PATH_STYLE: 'maybe' }), ConfigError);
    assert.throws(() => loadConfig({ LEMUR_S3_MAX_ATTEMPTS: '0' }), (e: Error) => e instanceof ConfigError && /LEMUR_S3_MAX_ATTEMPTS .* received '0'/.test(e.message));
    assert.throws(() => loadConfig({ LEMUR_S3_RETRY_MODE: 'legacy' }), (e: Error) => e instanceof ConfigError && /LEMUR_S3_RETRY_MODE/.test(e.message));
    assert.throws(() => loadConfig({ LEMUR_S3_SOCKET_TIMEOUT_MS: '1.5' }), ConfigError);
  });
});
