/** readShard's rejection, checked to be an InputDataError that names the file: what a test then inspects (row, field, message). */
import assert from 'node:assert/strict';

import { InputDataError } from '../../src/errors.js';
import { readShard, type ReadShardOptions } from '../../src/parquet/read-shard.js';
import type { ObjectStore } from '../../src/store/object-store.js';

/** The InputDataError reading `key` fails with (or a failed assertion when it reads, or fails otherwise). */
export async function shardFailure(store: ObjectStore, key: string, options: ReadShardOptions = {}): Promise<InputDataError> {
  try {
    await readShard(store, key, options);
  } catch (e) {
    assert.ok(e instanceof InputDataError, String(e));
    assert.equal(e.file, `${store.url}/${key}`);
    return e;
  }
  return assert.fail(`expected ${key} to fail`);
}
