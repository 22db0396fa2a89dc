/**
 * A shard's source: a Parquet object, or a range of its rows. A source larger than a build's
 * --shard-docs becomes several shards, each `key#rows=from-to` (file row numbers, half-open),
 * loaded by its own job that decodes only the row groups it overlaps: a shard's memory and
 * work stay bounded whatever one file holds. The ref is the shard's `sourceKey` everywhere
 * (job ids, shard ids, manifests), so an ingest of the same file with the same --shard-docs
 * finds the same shards. Row numbers in messages stay the file's.
 */
import { parquetMetadataAsync } from 'hyparquet';

import { InvalidArgumentError, StoreError } from '../errors.js';
import { objectBuffer } from '../store/files.js';
import type { ObjectStore } from '../store/object-store.js';

export interface SourceRef {
  key: string;
  /** Rows [from, to) of the file; the whole file when absent. */
  rows?: { from: number; to: number };
}

const ROWS = /^(.*)#rows=(\d+)-(\d+)$/;

export function formatSourceRef(ref: SourceRef): string {
  return ref.rows ? `${ref.key}#rows=${ref.rows.from}-${ref.rows.to}` : ref.key;
}

/** @throws InvalidArgumentError for a row range that is empty or backwards */
export function parseSourceRef(ref: string): SourceRef {
  const m = ROWS.exec(ref);
  if (!m) return { key: ref };
  const from = Number(m[2]);
  const to = Number(m[3]);
  if (!(to > from)) throw new InvalidArgumentError(`source '${ref}': row range ${from}-${to} is empty`);
  return { key: m[1]!, rows: { from, to } };
}

/** How a ref is named in messages: "rows 0-99999 of <source>" for a part. */
export function describeRef(ref: SourceRef, source: string): string {
  return ref.rows ? `${source} rows ${ref.rows.from}-${ref.rows.to - 1}` : source;
}

/** Documents per shard when a build does not say (`--shard-docs`): see README "A million documents". */
export const DEFAULT_SHARD_DOCS = 100_000;

/**
 * The shards of `keys` at `shardDocs` documents each: a file with more rows is split into equal
 * row ranges (rows counted from its footer, one small ranged read per file); 0 keeps one shard
 * per file. Footers that cannot be read are left whole: the load reports them.
 * @throws InvalidArgumentError (shardDocs not a non-negative integer); StoreError from the store
 */
export async function planShards(store: ObjectStore, keys: string[], shardDocs: number): Promise<string[]> {
  if (!Number.isInteger(shardDocs) || shardDocs < 0) throw new InvalidArgumentError(`Expected shard docs to be an integer >= 0 but received ${shardDocs}`);
  if (shardDocs === 0) return keys;
  const out: string[] = [];
  for (const key of keys) {
    const info = await store.head(key);
    let rows = 0;
    if (info) {
      try {
        rows = Number((await parquetMetadataAsync(objectBuffer(store, key, info.size), { initialFetchSize: 1 << 16 })).num_rows);
      } catch (err) {
        if (err instanceof StoreError) throw err;
      }
    }
    if (rows <= shardDocs) {
      out.push(key);
      continue;
    }
    const parts = Math.ceil(rows / shardDocs);
    for (let p = 0; p < parts; p++) {
      out.push(formatSourceRef({ key, rows: { from: Math.floor((p * rows) / parts), to: Math.floor(((p + 1) * rows) / parts) } }));
    }
  }
  return out;
}
