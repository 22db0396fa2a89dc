/**
 * Writes a CorpusStream as Parquet source shards into a folder, one row group per block, with
 * hyparquet-writer's incremental writer: a million documents are written with one block in memory.
 * Layout: id STRING (`doc-<n>`), embeddings BYTE_ARRAY (float32 or float16 little-endian,
 * n_tokens × dim, declared in the footer), n_tokens INT32. Embeddings are written uncompressed
 * and PLAIN (token vectors do not compress; a dictionary over unique blobs only costs time).
 */
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';

import { ParquetWriter, fileWriter, schemaFromColumnData } from 'hyparquet-writer/src/node.js';
import type { ColumnSource } from 'hyparquet-writer/src/types.js';

import type { CorpusStream, DocBlock } from './corpus-stream.js';
import { DTYPE_KEY } from '../parquet/embeddings-dtype.js';
import { encodeHalves } from '../parquet/float16.js';

export type SourceDType = 'float32' | 'float16';


function columns(block: DocBlock, dim: number, dtype: SourceDType): ColumnSource[] {
  const ids: string[] = [];
  const blobs: Uint8Array[] = [];
  let at = 0;
  for (let d = 0; d < block.counts.length; d++) {
    ids.push(`doc-${block.first + d}`);
    const v = block.vectors.subarray(at * dim, (at + block.counts[d]!) * dim);
    blobs.push(dtype === 'float16' ? encodeHalves(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    at += block.counts[d]!;
  }
  return [
    { name: 'id', data: ids, type: 'STRING' },
    { name: 'embeddings', data: blobs, type: 'BYTE_ARRAY', codec: 'UNCOMPRESSED', encoding: 'PLAIN', statistics: false },
    { name: 'n_tokens', data: Array.from(block.counts), type: 'INT32' },
  ];
}

export interface WrittenSources {
  /** Store keys of the shards, relative to the folder. */
  keys: string[];
  tokens: number;
}

/**
 * Shards of `shardDocs` documents (a multiple of the stream's block size) under
 * `<dir>/<prefix>part-NNNN.parquet`, written as `.tmp` and renamed when complete.
 */
export function writeStreamSources(stream: CorpusStream, dir: string, prefix: string, shardDocs: number, dtype: SourceDType, onShard?: (done: number, total: number) => void): WrittenSources {
  const blocksPerShard = Math.max(1, Math.round(shardDocs / stream.blockDocs));
  const shards = Math.ceil(stream.blocks / blocksPerShard);
  mkdirSync(join(dir, prefix), { recursive: true });
  const keys: string[] = [];
  let tokens = 0;
  for (let s = 0; s < shards; s++) {
    const key = `${prefix}part-${String(s).padStart(4, '0')}.parquet`;
    const path = join(dir, key);
    let writer: ParquetWriter | undefined;
    for (let b = s * blocksPerShard; b < Math.min(stream.blocks, (s + 1) * blocksPerShard); b++) {
      const block = stream.block(b);
      const columnData = columns(block, stream.dim, dtype);
      writer ??= new ParquetWriter({
        writer: fileWriter(`${path}.tmp`),
        schema: schemaFromColumnData({ columnData }),
        statistics: false,
        kvMetadata: [{ key: DTYPE_KEY, value: dtype }],
      });
      void writer.write({ columnData, rowGroupSize: block.counts.length });
      tokens += block.vectors.length / stream.dim;
    }
    void writer!.finish();
    renameSync(`${path}.tmp`, path);
    keys.push(key);
    onShard?.(s + 1, shards);
  }
  return { keys, tokens };
}
