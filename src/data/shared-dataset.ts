/**
 * Reader of the ../shared/data dataset format (raw little-endian arrays + meta.json): documents,
 * queries and, when present, the exact-MaxSim ground truth.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { InputDataError } from '../errors.js';
import type { Corpus } from './synthetic-corpus.js';

export interface SharedDataset extends Corpus {
  meta: Record<string, unknown>;
  /** queries × 100 doc indices, or undefined when generated with --no-gt. */
  groundTruth: Int32Array | undefined;
}

function readTyped<T extends Float32Array | Int32Array>(dir: string, name: string, Ctor: new (n: number) => T): T {
  const path = join(dir, name);
  const bytes = statSync(path).size;
  if (bytes % 4 !== 0) throw new InputDataError(`${path}: ${bytes} bytes is not a whole number of 4-byte values`, { file: path });
  // read in chunks straight into the typed array: readFileSync stops at 2 GiB (medium's vectors are 3.6 GB)
  const out = new Ctor(bytes / 4);
  const view = new Uint8Array(out.buffer);
  const fd = openSync(path, 'r');
  try {
    for (let at = 0; at < bytes; ) {
      const n = readSync(fd, view, at, Math.min(1 << 30, bytes - at), at);
      if (n <= 0) throw new InputDataError(`${path}: file ended after ${at} of ${bytes} bytes`, { file: path });
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

export function readSharedDataset(dir: string): SharedDataset {
  const metaPath = join(dir, 'meta.json');
  if (!existsSync(metaPath)) throw new InputDataError(`${dir}: no meta.json (not a shared dataset folder)`, { file: metaPath });
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
  const dim = Number(meta['dim']);
  const docVectors = readTyped(dir, 'doc_vectors.f32', Float32Array);
  const docCounts = readTyped(dir, 'doc_counts.i32', Int32Array);
  const queryVectors = readTyped(dir, 'query_vectors.f32', Float32Array);
  const queryCounts = readTyped(dir, 'query_counts.i32', Int32Array);
  const querySourceDoc = readTyped(dir, 'query_source_doc.i32', Int32Array);
  const gtPath = join(dir, 'groundtruth_top100.i32');
  const groundTruth = existsSync(gtPath) ? readTyped(dir, 'groundtruth_top100.i32', Int32Array) : undefined;
  let total = 0;
  for (const c of docCounts) total += c;
  if (total * dim !== docVectors.length) {
    throw new InputDataError(`${dir}/doc_vectors.f32: ${docVectors.length} values, expected sum(doc_counts) × dim = ${total * dim}`, { file: join(dir, 'doc_vectors.f32') });
  }
  return { dim, docVectors, docCounts, queryVectors, queryCounts, querySourceDoc, meta, groundTruth };
}
