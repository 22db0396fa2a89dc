import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ConfigError } from '../../src/errors.js';
import { LocalStore } from '../../src/store/local-store.js';
import { openStore } from '../../src/store/open-store.js';
import { S3Store } from '../../src/store/s3-store.js';

describe('openStore', () => {
  it('maps a folder, file:// and s3://bucket/prefix to their stores', () => {
    const a = openStore('/tmp/lemur-x');
    assert.ok(a instanceof LocalStore);
    assert.equal(a.url, 'file:///tmp/lemur-x');
    const b = openStore('file:///tmp/lemur-y');
    assert.ok(b instanceof LocalStore);
    assert.equal((b as LocalStore).root, '/tmp/lemur-y');
    const c = openStore('s3://bucket/some/prefix/');
    assert.ok(c instanceof S3Store);
    assert.equal(c.url, 's3://bucket/some/prefix');
    (c as S3Store).destroy();
    assert.throws(() => openStore('s3:///nobucket'), ConfigError);
  });
});
