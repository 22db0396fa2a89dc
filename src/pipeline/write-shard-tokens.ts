/**
 * One Parquet shard into a local token store file, row group by row group: scanShard's checks
 * (the same as readShard's, with the same messages), each group's good rows appended to a
 * TokenStoreWriter and forgotten, so memory holds a row group or two (the one decoded and the
 * one being fetched), never the shard. The first problem fails the whole shard and leaves no
 * file. It neither uploads nor records anything: load-shard.ts does.
 */
import { TokenStoreWriter } from '../native/token-store-writer.js';
import type { StoreDType } from '../native/token-store.js';
import { DocRows } from '../parquet/doc-rows.js';
import { problemError, scanShard, shardSource, type ReadShardOptions, type RowRange, type ShardScan } from '../parquet/scan-shard.js';
import type { ObjectStore } from '../store/object-store.js';

/**
 * Writes the token store of `key` (or of its rows `options.rows`) at `path` (atomically, at the end).
 * @returns the scan: docs, tokens, dim, etag of what was read
 * @throws InputDataError at the first problem, naming file, row and field (a value float16
 *   cannot hold names the local file and the document position, as TokenStore.write does);
 *   InvalidArgumentError, StoreError, IoError
 */
export async function writeShardTokens(store: ObjectStore, key: string, path: string, options: ReadShardOptions & { dtype: StoreDType; rows?: RowRange }): Promise<ShardScan> {
  const source = shardSource(store, key);
  const rows = new DocRows();
  let writer: TokenStoreWriter | undefined;
  try {
    const scan = await scanShard(store, key, options, {
      row: (id, tokens, values) => rows.add(id, tokens, values),
      async groupDone(s) {
        if (rows.docs === 0) return;
        // opened at the first good rows: dim may only be known from them; the footer's row count
        // is the store's document count, since any bad row fails the shard
        writer ??= await TokenStoreWriter.open(path, { dim: s.dim!, nDocs: s.rows, idKind: s.idKind === 'int' ? 'int64' : 'string', dtype: options.dtype });
        await writer.append(rows.vectors(false), rows.counts(), rows.ids(s.idKind));
        rows.clear();
      },
      problem(p) {
        throw problemError(source, p);
      },
    });
    // a shard without rows is a problem above, so the writer exists here
    await writer!.finish();
    return scan;
  } finally {
    writer?.abort();
  }
}
