/**
 * `lemur serve` as a user runs it: a child process on a store folder prints its URL once ready,
 * answers a search, swaps to a newly published version it notices by polling, and exits 0 on
 * SIGTERM; bad flags fail before listening, naming the flag.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';

import { setLogLevel } from '../../src/log.js';
import { CLI } from '../helpers/cli.js';
import { SERVE_DIM, serveFixture, type ServeFixture } from '../helpers/serve-fixture.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

setLogLevel('error');
const tmp = makeTmpDir();
let fx: ServeFixture;

before(async () => {
  fx = await serveFixture(tmp.dir);
  await fx.publish('v1', ['a', 'b', 'c']);
});
after(() => tmp.cleanup());

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: join(tmp.dir, 'store'), LEMUR_LOG_FORMAT: 'json' };
  delete e['NODE_TEST_CONTEXT'];
  delete e['REDIS_URL'];
  return e;
}

describe('lemur serve (CLI)', () => {
  it('serves, follows a publish by polling, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--poll-seconds', '1'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', () => reject(new Error(`lemur serve exited: ${stderr}`)));
      });
      const { url, version, ready } = JSON.parse(first) as { url: string; version: string; ready: boolean };
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual({ version, ready }, { version: 'v1', ready: true });
      const { vectors, tokens } = fx.query(0);
      const search = async (): Promise<{ version: string; results: { ids: string[] }[] }> => {
        const r = await fetch(`${url}/v1/search`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ tensor: { dtype: 'float32', shape: [tokens, SERVE_DIM], data: Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength).toString('base64') }, k: 3 }),
        });
        assert.equal(r.status, 200);
        return (await r.json()) as { version: string; results: { ids: string[] }[] };
      };
      const a = await search();
      assert.equal(a.version, 'v1');
      assert.equal(a.results[0]!.ids.length, 3);
      await fx.publish('v2', ['a', 'b', 'd']);
      let v = a.version;
      for (let i = 0; i < 100 && v !== 'v2'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        v = (await search()).version;
      }
      assert.equal(v, 'v2');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
  });

  it('refuses bad flags before listening, naming them', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'serve', ...args], { env: env(), encoding: 'utf8', timeout: 60_000 });
    const g = run('--group', '2/2', '--port', '0');
    assert.equal(g.status, 1);
    assert.match(g.stderr, /Expected --group i\/n with 0 <= i < n/);
    const w = run('--window-ms', 'soon', '--port', '0');
    assert.equal(w.status, 1);
    assert.match(w.stderr, /--window-ms/);
    const v = run('--version', 'v9', '--port', '0');
    assert.equal(v.status, 1);
    assert.match(v.stderr, /v9/);
  });
});
