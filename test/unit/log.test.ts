/**
 * The logger, in child processes (it writes straight to fd 2): credentials in messages, fields,
 * nested fields, errors and child bindings never reach a line; JSON off a terminal, readable
 * lines when asked for; job context on every line logged inside withLogContext.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { scrub } from '../../src/log.js';

const logModule = fileURLToPath(new URL('../../src/log.js', import.meta.url));

function run(script: string, env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { log, withLogContext } from ${JSON.stringify(logModule)};\n${script}`], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

const SECRETS = ['hunter2', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'AKIAIOSFODNN7EXAMPLE', 'c2VjcmV0LXNpZw', 'b3BzOnMzY3JldA', 'tok-123'];

describe('log', () => {
  it('never writes credentials or signed URLs', () => {
    const out = run(`
      log.info('connecting to redis://default:hunter2@127.0.0.1:6379/0');
      log.warn('fetch failed', { url: 'https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261122%2Fus-east-1&X-Amz-Signature=c2VjcmV0LXNpZw&X-Amz-Expires=60' });
      log.error('s3 error', { error: new Error('denied for https://x.example/o?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=c2VjcmV0LXNpZw'), config: { secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', region: 'eu-west-1' } });
      log.child({ redisUrl: 'rediss://user:hunter2@queue:6380', apiToken: 'tok-123' }).info('child', { header: 'Authorization: Basic b3BzOnMzY3JldA' });
      log.info('password field', { password: 'hunter2', nested: { list: ['redis://:hunter2@h:1'] } });
    `);
    for (const s of SECRETS) assert.ok(!out.includes(s), `leaked ${s}: ${out}`);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 5);
    assert.equal(lines[0]!['msg'], 'connecting to redis://default:***@127.0.0.1:6379/0');
    assert.match(String(lines[1]!['url']), /X-Amz-Signature=\*\*\*&X-Amz-Expires=60/);
    assert.equal((lines[2]!['config'] as Record<string, string>)['region'], 'eu-west-1');
    assert.equal((lines[2]!['config'] as Record<string, string>)['secretAccessKey'], '[redacted]');
    assert.equal(lines[3]!['apiToken'], '[redacted]');
    assert.equal(lines[3]!['redisUrl'], 'rediss://user:***@queue:6380');
    assert.equal(lines[4]!['password'], '[redacted]');
  });

  it('puts the job context on every line inside withLogContext, and writes readable lines when asked', async () => {
    const out = run(`
      await withLogContext({ jobId: 'v1.load.a', queue: 'lemur-load', version: 'v1', shard: 'a-1' }, async () => {
        log.info('outer');
        await new Promise((r) => setTimeout(r, 5));
        log.child({ role: 'x' }).info('inner', { docs: 3 });
      });
      log.info('after');
    `);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines.slice(0, 2)) assert.deepEqual([l['jobId'], l['queue'], l['version'], l['shard']], ['v1.load.a', 'lemur-load', 'v1', 'a-1']);
    assert.equal(lines[1]!['docs'], 3);
    assert.equal(lines[2]!['jobId'], undefined);
    const pretty = run(`log.info('hello', { docs: 3 });`, { LEMUR_LOG_FORMAT: 'pretty' });
    assert.match(pretty, /^\d\d:\d\d:\d\d .*INFO.* hello .*docs=3/);
  });

  it('scrub leaves ordinary text alone', () => {
    assert.equal(scrub('shard s3://bucket/a.parquet row 3'), 'shard s3://bucket/a.parquet row 3');
    assert.equal(scrub('http://127.0.0.1:9000/bucket/key'), 'http://127.0.0.1:9000/bucket/key');
  });
});
