/**
 * Claim: an HNSW index searched through the mapped file (IpIndex.load with mmap) keeps its rows
 * and graph out of the process's anonymous memory and searches at about the speed of the same
 * index loaded into the heap by Faiss, with the same results. Builds one 2048-d fp16 HNSW index
 * (M 32, efConstruction 40) over clustered synthetic rows, saves it, opens it both ways in this
 * process (mapped first, so each open's RssAnon growth is its own), then per efSearch alternates
 * batched searches between the two (median of rounds, spread) at LEMUR_THREADS and 1 thread, and
 * checks the labels are identical. The file is in the page cache throughout: this times warm
 * searches, not disk reads. Ratios are mapped / in-memory, measured in the same run.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { config } from '../src/config.js';
import { Random } from '../src/data/random.js';
import { IpIndex } from '../src/native/ip-index.js';
import { procMemory } from '../test/helpers/proc-memory.js';
import { clusteredRows } from '../test/helpers/data.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round } from './lib/timer.js';

const { values } = parseArgs({
  options: { rows: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } },
  strict: true,
});
const quick = values.quick ?? false;
const rows = Number(values.rows ?? (quick ? 5000 : 30000));
const d = 2048;
const nq = quick ? 50 : 200;
const rounds = quick ? 3 : 5;
const efs = [100, 200];
const k = 10;
const threads = config().threads;

const rng = new Random(15);
const centres = Float32Array.from({ length: 256 * d }, () => rng.normal());
const X = clusteredRows(rng, centres, d, rows, 0.7);
const Q = clusteredRows(rng, centres, d, nq, 0.7);
const dir = mkdtempSync(join(tmpdir(), 'lemur-mmap-bench-'));
const path = join(dir, 'index.faiss');

progress(`building ${rows} x ${d} fp16 HNSW (M 32, efConstruction 40)`);
const t0 = performance.now();
const built = IpIndex.create({ d, kind: 'hnsw', M: 32, efConstruction: 40, storage: 'fp16' });
await built.add(X, BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)), { threads });
await built.save(path);
built.close();
const buildS = (performance.now() - t0) / 1000;
const fileBytes = statSync(path).size;

const anon = (): number => procMemory()!.rssAnon;
let a0 = anon();
const mapped = await IpIndex.load(path, { mmap: true });
const mappedAnon = anon() - a0;
a0 = anon();
const loaded = await IpIndex.load(path);
const loadedAnon = anon() - a0;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const variants = { in_memory: loaded, mapped } as const;
const search = [];
for (const ef of efs) {
  for (const th of [...new Set([threads, 1])]) {
    const secs: Record<keyof typeof variants, number[]> = { in_memory: [], mapped: [] };
    const labels: Record<string, BigInt64Array> = {};
    for (const [name, ix] of Object.entries(variants)) labels[name] = (await ix.search(Q, k, { efSearch: ef, threads: th })).labels; // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const [name, ix] of Object.entries(variants) as [keyof typeof variants, IpIndex][]) {
        const t = performance.now();
        await ix.search(Q, k, { efSearch: ef, threads: th });
        secs[name].push((performance.now() - t) / 1000);
      }
    }
    const qps = (name: keyof typeof variants): number => Math.round(nq / median(secs[name]));
    const spread = (name: keyof typeof variants): number[] => [Math.round(nq / Math.max(...secs[name])), Math.round(nq / Math.min(...secs[name]))];
    const row = {
      ef_search: ef,
      threads: th,
      in_memory_qps: qps('in_memory'),
      in_memory_qps_spread: spread('in_memory'),
      mapped_qps: qps('mapped'),
      mapped_qps_spread: spread('mapped'),
      ratio_mapped_vs_in_memory: round(qps('mapped') / qps('in_memory'), 3),
      labels_identical: labels['in_memory']!.every((l, i) => l === labels['mapped']![i]),
    };
    progress(JSON.stringify(row));
    search.push(row);
  }
}
mapped.close();
loaded.close();
rmSync(dir, { recursive: true, force: true });

emit(
  {
    bench: 'mmap-search',
    machine: machineInfo(),
    dataset: { kind: 'generated', rows, d, storage: 'fp16', clusters: 256, queries: nq, k },
    hnsw: { M: 32, ef_construction: 40 },
    build_s: round(buildS, 1),
    file_bytes: fileBytes,
    rss_anon_growth_bytes: { in_memory_load: loadedAnon, mapped_load: mappedAnon },
    rounds,
    search,
  },
  values.json ?? false,
);
