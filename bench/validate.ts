/**
 * Claim: validating Parquet shards (`lemur validate`, validateSources) runs at a useful share of
 * disk speed, because pages are decoded into typed arrays rather than a JS list per token. The
 * dataset is written as Parquet in the three layouts (float32 blobs by hyparquet-writer, snappy;
 * list<float> and list<fixed_size_list<float>> by arrow-rs, zstd), 4 shards each, into a local
 * store; per layout, validateSources (median of runs) against, in the same run, hyparquet's own
 * row assembly (parquetReadObjects row group by row group plus a finiteness loop: how the reader
 * worked before). speedup = baseline_s / validate_s. MB are 10^6 bytes of Parquet.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

import { writeCorpusParquet } from '../src/data/write-corpus-parquet.js';
import { validateSources } from '../src/parquet/validate-sources.js';
import { listParquet } from '../src/store/files.js';
import { LocalStore } from '../src/store/local-store.js';
import { arrow, floatLists, tokenLists, writeArrowParquet } from '../test/helpers/arrow-parquet.js';
import { makeTmpDir } from '../test/helpers/tmp-dir.js';
import { loadBenchDataset } from './lib/dataset.js';
import { machineInfo } from './lib/machine.js';
import { emit, progress } from './lib/report.js';
import { round, timeRuns } from './lib/timer.js';

const { values } = parseArgs({ options: { data: { type: 'string' }, json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } }, strict: true });
const quick = values.quick ?? false;
const ds = loadBenchDataset(values.data, { docs: quick ? 2000 : 10000, queries: 10, seed: 42 });
const { docCounts, docVectors, dim } = ds.corpus;
const SHARDS = 4;
const tmp = makeTmpDir('lemur-bench-validate-');
const store = new LocalStore(tmp.dir);
for (const d of ['flat', 'fixed']) mkdirSync(join(tmp.dir, d));

progress('writing the corpus as Parquet: blob (hyparquet-writer), list<float> and list<fixed_size_list<float>> (arrow-rs, zstd)');
await writeCorpusParquet(store, 'blob/', ds.corpus, SHARDS);
const starts = new Int32Array(docCounts.length + 1);
for (let i = 0; i < docCounts.length; i++) starts[i + 1] = starts[i]! + docCounts[i]!;
const per = Math.ceil(docCounts.length / SHARDS);
for (let s = 0; s < SHARDS; s++) {
  const from = s * per;
  const to = Math.min(docCounts.length, from + per);
  const vectors = docVectors.subarray(starts[from]! * dim, starts[to]! * dim);
  const tokenOffsets = starts.slice(from, to + 1).map((t) => t - starts[from]!);
  const common = { doc_id: arrow.vectorFromArray(Array.from({ length: to - from }, (_, i) => `doc-${from + i}`), new arrow.Utf8()), n_tokens: arrow.makeVector(docCounts.slice(from, to)) };
  writeArrowParquet(join(tmp.dir, `flat/part-${s}.parquet`), { ...common, embedding: floatLists(vectors, tokenOffsets.map((t) => t * dim)) });
  writeArrowParquet(join(tmp.dir, `fixed/part-${s}.parquet`), { ...common, embedding: tokenLists(vectors, dim, tokenOffsets) });
}

/** hyparquet's row objects, group by group, every value checked finite: the reader before. */
async function baseline(keys: string[], columns: string[]): Promise<void> {
  for (const key of keys) {
    const size = (await store.head(key))!.size;
    const file = {
      byteLength: size,
      slice: async (a: number, b?: number): Promise<ArrayBuffer> => {
        const r = await store.getRange(key, a, b ?? size);
        return r.buffer.slice(r.byteOffset, r.byteOffset + r.byteLength) as ArrayBuffer;
      },
    };
    const metadata = await parquetMetadataAsync(file);
    let rowStart = 0;
    for (const g of metadata.row_groups) {
      const rowEnd = rowStart + Number(g.num_rows);
      const rows = await parquetReadObjects({ file, metadata, columns, rowStart, rowEnd, compressors, utf8: false });
      for (const r of rows) {
        const emb = r[columns[1]!] as Uint8Array | number[] | number[][];
        const flat = emb instanceof Uint8Array ? new Float32Array(emb.slice().buffer) : (emb as (number | number[])[]).flat();
        for (const x of flat) if (x - x !== 0) throw new Error('not finite');
      }
      rowStart = rowEnd;
    }
  }
}

const layouts: Record<string, unknown> = {};
for (const [layout, columns] of [['blob', { id: 'id', embeddings: 'embeddings' }], ['flat', { id: 'doc_id', embeddings: 'embedding' }], ['fixed', { id: 'doc_id', embeddings: 'embedding' }]] as const) {
  const keys = await listParquet(store, `${layout}/`);
  let bytes = 0;
  for (const k of keys) bytes += (await store.head(k))!.size;
  progress(`${layout}: validateSources over ${keys.length} files, ${(bytes / 1e6).toFixed(0)} MB`);
  let ok = true;
  const t = await timeRuns(async () => {
    const r = await validateSources(store, keys, { columns });
    ok &&= r.ok;
  }, quick ? 1 : 3);
  progress(`${layout}: hyparquet row assembly (baseline, once)`);
  const b = await timeRuns(() => baseline(keys, [columns.id, columns.embeddings]), 1, 0);
  layouts[layout] = {
    files: keys.length,
    mb: round(bytes / 1e6, 1),
    all_ok: ok,
    validate_s: round(t.median_s),
    validate_spread_s: [round(t.min_s), round(t.max_s)],
    validate_mb_s: round(bytes / 1e6 / t.median_s, 1),
    baseline_s: round(b.median_s),
    baseline_mb_s: round(bytes / 1e6 / b.median_s, 1),
    speedup: round(b.median_s / t.median_s, 2),
  };
}
tmp.cleanup();
emit({ bench: 'validate', machine: machineInfo(), dataset: ds.summary, layouts }, values.json ?? false);
