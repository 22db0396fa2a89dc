/**
 * The peak resident memory of loading one shard, measured in a fresh process (node
 * dist/test/helpers/load-peak.js <store dir> <key> <stream|whole>): `stream` is the load stage
 * (loadShard, row group by row group), `whole` what it did before (readShard, then
 * TokenStore.write of the whole arrays). Prints one JSON line: the resident set before the load
 * and its peak during it, in bytes, from /proc/self/status (the peak reset just before the load,
 * so loading modules and the addon does not count). Not a test by itself: load-memory.test.ts
 * runs it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { setLogLevel } from '../../src/log.js';
import { TokenStore } from '../../src/native/token-store.js';
import { readShard } from '../../src/parquet/read-shard.js';
import { loadShard } from '../../src/pipeline/load-shard.js';
import { LocalStore } from '../../src/store/local-store.js';

/** A /proc/self/status field in bytes (the kernel gives kB). */
function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]) * 1024;
}

export interface LoadPeak {
  before: number;
  peak: number;
}

if (process.argv[1]?.endsWith('load-peak.js')) {
  const [dir, key, mode] = process.argv.slice(2) as [string, string, 'stream' | 'whole'];
  setLogLevel('warn');
  const store = new LocalStore(dir);
  // "5" resets the peak (VmHWM) to the current resident set (Linux 4.0+)
  writeFileSync('/proc/self/clear_refs', '5');
  const before = status('VmRSS');
  if (mode === 'stream') {
    await loadShard(store, key);
  } else {
    const data = await readShard(store, key);
    await TokenStore.write(join(dir, 'whole.lts'), data);
  }
  const peak = status('VmHWM');
  process.stdout.write(`${JSON.stringify({ before, peak } satisfies LoadPeak)}\n`);
}
