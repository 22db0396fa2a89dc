/**
 * Claim: moving an artifact between the store and local files costs a bounded amount of memory,
 * whatever its size. Measures the peak RSS (VmHWM of /proc/self/status) of a fresh process per
 * (store, path, step), moving one file of --bytes (1 GiB; 64 MiB with --quick) through a folder
 * store and an S3 store (a private s3rver on loopback):
 *   upload    old: put(key, createReadStream(file))      new: putFile(key, file)
 *   download  old: writeFile(path, await get(key))       new: getFile(key, path)   (localCopy's step)
 *   hash      old: sha256 of await get(key)              new: hashObject(key)      (the manifest's sha256)
 *   weights   old: Float32Array of a copy of get(key)    new: readWeights (into the array)
 * `old` is the code these replaced (issue 15), run in the same build, so the ratio is of this run.
 * A child that only loads the same modules gives the baseline RSS. Not a speed benchmark: the
 * seconds are for context (s3rver on loopback, one shared disk).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { setLogLevel } from '../src/log.js';
import { LocalStore } from '../src/store/local-store.js';
import type { ObjectStore } from '../src/store/object-store.js';
import { S3Store } from '../src/store/s3-store.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const MiB = 1024 * 1024;
const STEPS = ['upload', 'download', 'hash', 'weights'] as const;
type Step = (typeof STEPS)[number] | 'baseline';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    bytes: { type: 'string' },
    // 'old' alone measures the old path of an older build (this file copied into its dist/bench)
    paths: { type: 'string', default: 'old,new' },
    // one measured step, in a child process
    child: { type: 'string' },
    kind: { type: 'string' },
    path: { type: 'string' },
    file: { type: 'string' },
    dir: { type: 'string' },
    endpoint: { type: 'string' },
    bucket: { type: 'string' },
  },
  strict: true,
});
setLogLevel('warn');

function peakRssBytes(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

function openBenchStore(kind: string, dir: string, endpoint: string, bucket: string): ObjectStore {
  return kind === 's3' ? new S3Store({ bucket, prefix: 'bench', endpoint, forcePathStyle: true }) : new LocalStore(join(dir, 'store'));
}

async function runStep(step: Step, path: string, store: ObjectStore, file: string, dir: string): Promise<void> {
  const key = 'artifact.bin';
  const dst = join(dir, `down-${path}.bin`);
  if (step === 'baseline') return;
  if (path === 'old') {
    if (step === 'upload') await store.put(key, createReadStream(file));
    else if (step === 'download') await writeFile(dst, await store.get(key));
    else if (step === 'hash') createHash('sha256').update(await store.get(key)).digest('hex');
    else {
      const raw = await store.get(key);
      void new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    }
    return;
  }
  // the new calls, loaded only here (so this file's old path also runs against older builds)
  const files = await import('../src/store/files.js');
  if (step === 'upload') await store.putFile(key, file);
  else if (step === 'download') await store.getFile(key, dst);
  else if (step === 'hash') await files.hashObject(store, key);
  else await files.readWeights(store, key);
}

if (values.child) {
  const store = openBenchStore(values.kind!, values.dir!, values.endpoint!, values.bucket!);
  const t0 = performance.now();
  await runStep(values.child as Step, values.path!, store, values.file!, values.dir!);
  const seconds = (performance.now() - t0) / 1000;
  if (store instanceof S3Store) store.destroy();
  process.stdout.write(`${JSON.stringify({ peak_rss: peakRssBytes(), seconds })}\n`);
  process.exit(0);
}

// the parent: one file, one s3rver, a child per measurement
const { startS3 } = await import('../test/helpers/s3.js');
const { makeTmpDir } = await import('../test/helpers/tmp-dir.js');
const paths = values.paths!.split(',');
const bytes = values.bytes ? Number(values.bytes) : values.quick ? 64 * MiB : 1024 * MiB;
const tmp = makeTmpDir('lemur-bench-store-memory-');
const s3 = await startS3('lemur-bench');
try {
  const file = join(tmp.dir, 'artifact.bin');
  progress(`writing ${bytes} random bytes`);
  const fd = openSync(file, 'w');
  const block = randomBytes(MiB);
  for (let left = bytes, i = 0; left > 0; left -= MiB, i++) {
    block.writeUInt32LE(i, 0); // no two blocks alike
    writeSync(fd, block, 0, Math.min(MiB, left));
  }
  closeSync(fd);
  const self = fileURLToPath(import.meta.url);
  const measure = (kind: string, path: string, step: Step): { peak_rss: number; seconds: number } => {
    const r = spawnSync(process.execPath, [self, '--child', step, '--kind', kind, '--path', path, '--file', file, '--dir', tmp.dir, '--endpoint', s3.endpoint, '--bucket', s3.bucket], {
      encoding: 'utf8',
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) throw new Error(`${kind} ${path} ${step}: child exited with ${r.status}`);
    return JSON.parse(r.stdout) as { peak_rss: number; seconds: number };
  };
  const results = [];
  for (const kind of ['local', 's3']) {
    const baseline = measure(kind, 'old', 'baseline').peak_rss;
    for (const step of STEPS) {
      const row: Record<string, unknown> = { store: kind, step };
      for (const path of paths) {
        progress(`${kind} ${step} ${path}`);
        const m = measure(kind, path, step);
        row[`${path}_peak_rss_mib`] = round(m.peak_rss / MiB, 1);
        row[`${path}_over_baseline_mib`] = round((m.peak_rss - baseline) / MiB, 1);
        row[`${path}_s`] = round(m.seconds, 2);
      }
      row['baseline_rss_mib'] = round(baseline / MiB, 1);
      if (paths.length === 2) row['old_over_new'] = round((row['old_over_baseline_mib'] as number) / Math.max(1, row['new_over_baseline_mib'] as number), 1);
      results.push(row);
    }
  }
  emit({ bench: 'store-memory', machine: machineInfo(), dataset: { generated: { bytes } }, s3: { partSize: 8 * MiB, queueSize: 4 }, results }, values.json ?? false);
} finally {
  await s3.stop();
  tmp.cleanup();
}
