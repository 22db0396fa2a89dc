/** docker-compose.yml is valid (Debian's docker-compose, offline: no engine needed) and runs every role. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ROLES, resolveRole } from '../../workers/roles.js';

const file = fileURLToPath(new URL('../../../docker-compose.yml', import.meta.url));
const hasCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

describe('docker-compose.yml', () => {
  it('passes `docker-compose config -q`', { skip: hasCompose ? false : 'docker-compose is not installed (infra/setup installs it)' }, () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_DASHBOARD_PASSWORD: 'x', LEMUR_SERVE_PASSWORD: 'y' };
    const r = spawnSync('docker-compose', ['-f', file, 'config', '-q'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    // the dashboard and the search API listen beyond loopback in their containers: no password, no config
    for (const name of ['LEMUR_DASHBOARD_PASSWORD', 'LEMUR_SERVE_PASSWORD']) {
      const without = { ...env };
      delete without[name];
      const nopw = spawnSync('docker-compose', ['-f', file, 'config', '-q'], { encoding: 'utf8', env: without });
      assert.notEqual(nopw.status, 0);
      assert.match(nopw.stderr, new RegExp(`set ${name}`));
    }
  });

  it('has a service per worker role, Redis with AOF and MinIO', () => {
    const text = readFileSync(file, 'utf8');
    for (const role of Object.keys(ROLES)) assert.match(text, new RegExp(`command: \\["worker", "${role}"\\]`), role);
    assert.match(text, /--appendonly", "yes"/);
    assert.match(text, /minio\/minio/);
    assert.match(text, /command: \["serve", "--host", "0.0.0.0", "--port", "8080"\]/);
  });

  it('runs evaluations as the eval role; `lemur worker query` still names it', () => {
    assert.match(readFileSync(file, 'utf8'), /command: \["worker", "eval"\]/);
    assert.equal(resolveRole('query'), 'eval');
    assert.equal(resolveRole('toString'), undefined);
  });
});
