/**
 * The one pass over a corpus shard that reading (readShard), loading (writeShardTokens) and
 * validating (validateSources) share: the footer, the column types, then row group by row group
 * (the next group's bytes fetched while this one decodes) every row checked. A good row goes to
 * the visitor's `row`, each problem to its `problem`, which either throws (read, load: the first
 * problem fails the shard) or collects and lets the scan go on (validation); `groupDone` is
 * awaited after each group (the load writes the group's rows there). It keeps one or two row
 * groups in memory and, of the rows before, only their ids (for duplicates).
 */
import { parquetMetadataAsync, parquetSchema, type ColumnMetaData, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

import { InputDataError, InvalidArgumentError } from '../errors.js';
import { objectBuffer } from '../store/files.js';
import type { ObjectStore } from '../store/object-store.js';
import { decodeColumnChunk, type ChunkData } from './column-chunk.js';
import { blobShape, listShape, RowScratch, walkLists, type ListRows, type RowShape } from './embedding-rows.js';
import { checkBlobDType, resolveBlobDType, type BlobDType, type DTypeSource, type EmbeddingsDType, type ResolvedDType } from './embeddings-dtype.js';
import { checkShardSchema, type LeafColumn, type ShardColumns, type ShardSchema } from './shard-schema.js';

export interface ReadShardOptions {
  columns?: Partial<ShardColumns>;
  /** Expected dim; inferred (and then required to agree across rows) when absent. */
  dim?: number;
  /**
   * Element type of blob embeddings, for files whose footer does not declare it
   * (`lemur.embeddings.dtype`); a footer that says otherwise is a problem. List layouts carry
   * their type in the schema and ignore this. @defaultValue 'float32' when the footer is silent too
   */
  embeddingsDtype?: BlobDType;
}

/** Rows [from, to) of a file: one shard of a file split by --shard-docs (source-ref.ts). */
export interface RowRange {
  from: number;
  to: number;
}

/** One thing wrong with a shard. */
export interface ShardProblem {
  /** The row (0-based, in file order) where it is, when it is in a row or page. */
  row?: number;
  /** The column concerned, when one is. */
  field?: string;
  /** What and where, without the file: "row 17, field `id`: duplicate id 5 (first at row 3)". */
  message: string;
}

export interface ShardVisitor {
  /** A row that passed every check; `values` (tokens × dim float32) is only valid during the call. */
  row?(id: bigint | string, tokens: number, values: Float32Array): void;
  /**
   * After each row group's rows, awaited before the scan goes on: where a caller
   * writes out the group's rows, so it never holds more than a group (the streaming load).
   */
  groupDone?(scan: ShardScan): Promise<void> | void;
  /** A problem; the scan goes on after it (as far as it can) unless this throws. */
  problem(p: ShardProblem): void;
}

export interface ShardScan {
  /** store URL + key, as named in errors */
  source: string;
  /** object size in bytes (0 when missing) */
  bytes: number;
  etag: string;
  rowGroups: number;
  /** rows the footer announces (for a range of the file: the range's rows) */
  rows: number;
  /** rows that passed every check, and their tokens */
  docs: number;
  tokens: number;
  idKind: 'int' | 'string' | undefined;
  /** the given dim, else the one the first good row showed */
  dim: number | undefined;
  /** what the embeddings were read as (a list leaf's type, a blob's declared one), once the footer is read */
  dtype: EmbeddingsDType | undefined;
  /** where `dtype` came from */
  dtypeFrom: DTypeSource | undefined;
}

/** How a shard is named in messages: the store's URL and the key. */
export function shardSource(store: ObjectStore, key: string): string {
  return `${store.url}/${key}`;
}

/** A problem as the error readShard throws (and a build reports). */
export function problemError(source: string, p: ShardProblem): InputDataError {
  return new InputDataError(`shard ${source}: ${p.message}`, { file: source, row: p.row, field: p.field });
}

/** The footer is read from this many bytes at the end (more when it is longer): hyparquet's 512 KiB would read much of a small file twice. */
const FOOTER_READ = 1 << 16;

/** Gaps up to this size between the column chunks a row group needs are read rather than split into more requests. */
const MAX_READ_GAP = 1 << 20;

function chunkRange(meta: ColumnMetaData): [number, number] {
  // as hyparquet: the dictionary page (when there is one) comes first
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
  return [start, start + Number(meta.total_compressed_size)];
}

/** The first index whose value is NaN or ±Infinity, or -1. */
function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    if (x - x !== 0) return i;
  }
  return -1;
}

/** Per row of a non-repeated column: its value, undefined where null. */
function perRow(c: ChunkData, leaf: LeafColumn): ArrayLike<unknown> {
  if (!c.def) return c.values;
  const out = new Array<unknown>(c.entries);
  for (let i = 0, v = 0; i < c.entries; i++) out[i] = c.def[i] === leaf.maxDef ? c.values[v++] : undefined;
  return out;
}

/** Row group `g`'s column chunks (id, embeddings, n_tokens), read in as few ranged reads as gaps allow. */
async function fetchGroup(store: ObjectStore, key: string, metas: ColumnMetaData[]): Promise<Uint8Array[]> {
  const ranges = metas.map(chunkRange);
  const order = ranges.map((_, i) => i).sort((a, b) => ranges[a]![0] - ranges[b]![0]);
  const out = new Array<Uint8Array>(metas.length);
  for (let i = 0; i < order.length; ) {
    let j = i + 1;
    let end = ranges[order[i]!]![1];
    while (j < order.length && ranges[order[j]!]![0] - end <= MAX_READ_GAP) end = Math.max(end, ranges[order[j++]!]![1]);
    const start = ranges[order[i]!]![0];
    const buf = await store.getRange(key, start, end);
    for (; i < j; i++) {
      const [s, e] = ranges[order[i]!]!;
      out[order[i]!] = buf.subarray(s - start, Math.min(e - start, buf.length));
    }
  }
  return out;
}

/**
 * Reads and checks `key` in one pass (see the file comment). Problems go to `visitor.problem`;
 * missing objects and unreadable footers are problems too, transient store failures are thrown.
 * @throws InvalidArgumentError for a dim that is not a positive integer; StoreError from the store;
 *   whatever `visitor.problem` throws
 */
export async function scanShard(store: ObjectStore, key: string, options: ReadShardOptions & { rows?: RowRange }, visitor: ShardVisitor): Promise<ShardScan> {
  if (options.dim !== undefined && (!Number.isInteger(options.dim) || options.dim < 1)) throw new InvalidArgumentError(`Expected dim >= 1 but received ${options.dim}`);
  checkBlobDType(options.embeddingsDtype);
  const source = shardSource(store, key);
  const scan: ShardScan = { source, bytes: 0, etag: '', rowGroups: 0, rows: 0, docs: 0, tokens: 0, idKind: undefined, dim: options.dim, dtype: undefined, dtypeFrom: undefined };
  const info = await store.head(key);
  if (!info) {
    visitor.problem({ message: 'object does not exist' });
    return scan;
  }
  scan.bytes = info.size;
  scan.etag = info.etag;
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(objectBuffer(store, key, info.size), { initialFetchSize: FOOTER_READ });
  } catch (err) {
    const why = info.size < 12 ? `${info.size} bytes is too short for Parquet` : /PAR1/.test((err as Error).message) ? 'it does not end with the PAR1 magic (a truncated file, or not Parquet)' : (err as Error).message;
    visitor.problem({ message: `not a readable Parquet file: ${why}` });
    return scan;
  }
  scan.rowGroups = metadata.row_groups.length;
  scan.rows = Number(metadata.num_rows);
  const check = checkShardSchema(parquetSchema(metadata), options.columns);
  if (!check.ok) {
    visitor.problem({ field: check.field, message: check.message });
    return scan;
  }
  const schema = check.schema;
  scan.idKind = schema.id.kind;
  let blob: ResolvedDType | undefined;
  if (schema.embeddings.layout === 'blob') {
    const d = resolveBlobDType(metadata.key_value_metadata, options.embeddingsDtype);
    if ('problem' in d) {
      visitor.problem({ field: schema.embeddings.name, message: d.problem });
      return scan;
    }
    blob = d;
    [scan.dtype, scan.dtypeFrom] = [d.dtype, d.from];
  } else {
    [scan.dtype, scan.dtypeFrom] = [schema.embeddings.dtype, 'schema'];
  }
  if (scan.rows === 0) {
    visitor.problem({ message: 'no rows' });
    return scan;
  }
  const leaves = [schema.id, schema.embeddings, ...(schema.nTokens ? [schema.nTokens] : [])];
  const groupStarts: number[] = [];
  let inGroups = 0;
  for (const group of metadata.row_groups) {
    groupStarts.push(inGroups);
    inGroups += Number(group.num_rows);
  }
  if (inGroups !== scan.rows) {
    // the streaming load opens its token store for the footer's row count: one the row groups do not add up to is corrupt
    visitor.problem({ message: `corrupt footer: it says ${scan.rows} rows, its row groups hold ${inGroups}` });
    return scan;
  }
  // a part of the file: only the row groups it overlaps are fetched, only its rows checked and
  // visited (row numbers stay the file's); `rows` becomes the part's row count
  const range = options.rows ?? { from: 0, to: scan.rows };
  if (!(Number.isInteger(range.from) && Number.isInteger(range.to) && range.from >= 0 && range.to > range.from && range.to <= scan.rows)) {
    visitor.problem({ message: `rows ${range.from}-${range.to - 1} asked for, the file has rows 0-${scan.rows - 1} (was it rewritten since the build was planned?)` });
    return scan;
  }
  scan.rows = range.to - range.from;
  const overlaps = (g: number): boolean => groupStarts[g]! < range.to && groupStarts[g]! + Number(metadata.row_groups[g]!.num_rows) > range.from;
  const groupWhere = (g: number): string => `row group ${g} (rows ${groupStarts[g]}-${groupStarts[g]! + Number(metadata.row_groups[g]!.num_rows) - 1})`;

  // each group's chunks, or why they cannot be read, decided from the footer alone
  const plan = metadata.row_groups.map((group, g): ColumnMetaData[] | ShardProblem => {
    const first = groupStarts[g]!;
    const where = groupWhere(g);
    const metas: ColumnMetaData[] = [];
    for (const leaf of leaves) {
      const meta = group.columns.find((c) => c.meta_data?.path_in_schema.join('.') === leaf.path.join('.'))?.meta_data;
      if (!meta) return { row: first, field: leaf.name, message: `${where}: no column chunk for \`${leaf.name}\`` };
      const [, end] = chunkRange(meta);
      if (end > info.size) return { row: first, field: leaf.name, message: `${where}, column \`${leaf.name}\`: the column chunk ends at byte ${end}, past the end of the file (${info.size} bytes): truncated` };
      metas.push(meta);
    }
    return metas;
  });
  const fetchAt = (g: number): Promise<Uint8Array[]> | undefined => {
    const p = plan[g];
    if (g < plan.length && !overlaps(g)) return undefined;
    if (!Array.isArray(p)) return undefined;
    const pending = fetchGroup(store, key, p);
    pending.catch(() => undefined); // awaited below; a scan stopped by a problem must not leave it unhandled
    return pending;
  };

  const seen = new Map<bigint | string, number>();
  const firstGroup = groupStarts.findIndex((_, g) => overlaps(g));
  let next = fetchAt(firstGroup);
  for (let g = firstGroup; g < metadata.row_groups.length && overlaps(g); g++) {
    const p = plan[g]!;
    const pending = next;
    next = fetchAt(g + 1);
    if (!Array.isArray(p)) {
      visitor.problem(p);
      continue;
    }
    const bytes = await pending!;
    const first = groupStarts[g]!;
    const rows = Number(metadata.row_groups[g]!.num_rows);
    const where = groupWhere(g);
    const chunks: ChunkData[] = [];
    let broken: ShardProblem | undefined;
    for (let c = 0; c < leaves.length && !broken; c++) {
      const leaf = leaves[c]!;
      const meta = p[c]!;
      const [start, end] = chunkRange(meta);
      if (bytes[c]!.length !== end - start) {
        broken = { row: first, field: leaf.name, message: `${where}, column \`${leaf.name}\`: read ${bytes[c]!.length} of the column chunk's ${end - start} bytes: truncated` };
        break;
      }
      const r = decodeColumnChunk(bytes[c]!, meta, leaf, compressors);
      if (!r.ok) {
        const row = first + r.rowsBefore;
        broken = { row, field: leaf.name, message: `${where}, column \`${leaf.name}\`: corrupt page ${r.page} (from row ${row}): ${r.reason}` };
        break;
      }
      if (leaf.maxRep === 0 && r.data.entries !== rows) {
        broken = { row: first, field: leaf.name, message: `${where}, column \`${leaf.name}\`: corrupt column chunk: ${r.data.entries} values for ${rows} rows` };
        break;
      }
      chunks.push(r.data);
    }
    const part = { from: Math.max(0, range.from - first), to: Math.min(rows, range.to - first) };
    if (!broken) broken = checkGroup(schema, blob, scan, chunks, first, rows, part, where, seen, visitor);
    if (broken) visitor.problem(broken);
    await visitor.groupDone?.(scan);
  }
  return scan;
}

/**
 * The row checks of one decoded row group, in the order a row is read: id (missing,
 * duplicate), n_tokens, the embeddings' shape and dim, n_tokens against the embeddings, finite
 * values, for the group's rows `part` (group-relative; all of them unless the shard is a range of
 * the file). `blob` is the element type of blob embeddings. Returns a problem that spoils the whole
 * group (levels that do not make rows).
 */
function checkGroup(schema: ShardSchema, blob: ResolvedDType | undefined, scan: ShardScan, chunks: ChunkData[], first: number, rows: number, part: RowRange, where: string, seen: Map<bigint | string, number>, visitor: ShardVisitor): ShardProblem | undefined {
  const { id: idLeaf, embeddings: embLeaf, nTokens: countLeaf } = schema;
  const ids = perRow(chunks[0]!, idLeaf);
  const counts = countLeaf ? perRow(chunks[2]!, countLeaf) : undefined;
  const emb = chunks[1]!;
  const layout = embLeaf.layout;
  const blobs = layout === 'blob' ? perRow(emb, embLeaf) : undefined;
  let lists: ListRows | undefined;
  let floats: Float32Array | undefined;
  if (layout !== 'blob') {
    const walked = walkLists(emb, embLeaf, rows);
    if (typeof walked === 'string') return { row: first, field: embLeaf.name, message: `${where}, column \`${embLeaf.name}\`: corrupt column chunk: ${walked}` };
    lists = walked;
    floats = emb.values instanceof Float32Array ? emb.values : new Float32Array(emb.values as Float64Array);
  }
  const wide = emb.values instanceof Float64Array ? emb.values : undefined;
  const scratch = new RowScratch();

  for (let r = part.from; r < part.to; r++) {
    const row = first + r;
    const fail = (field: string, what: string): void => visitor.problem({ row, field, message: `row ${row}, field \`${field}\`: ${what}` });
    // id
    const raw = ids[r];
    if (raw === undefined || raw === null) {
      fail(idLeaf.name, 'missing id');
      continue;
    }
    const id = typeof raw === 'string' ? raw : BigInt(raw as number | bigint);
    if (typeof id === 'bigint' && BigInt.asIntN(64, id) !== id) {
      fail(idLeaf.name, `id ${id} does not fit a signed 64-bit integer`);
      continue;
    }
    const firstAt = seen.get(id);
    if (firstAt !== undefined) {
      fail(idLeaf.name, `duplicate id ${id} (first at row ${firstAt})`);
      continue;
    }
    seen.set(id, row);
    // declared token count
    let declared: number | undefined;
    if (counts) {
      const c = counts[r];
      declared = c === undefined || c === null ? NaN : Number(c);
      if (!Number.isInteger(declared) || declared < 1) {
        fail(countLeaf!.name, `${c === undefined || c === null ? 'null' : String(c)} is not a positive token count`);
        continue;
      }
    }
    // embeddings: the row's values, its token count, dim
    let shape: RowShape;
    if (blobs) {
      const b = blobs[r] as Uint8Array | undefined;
      if (b === undefined || b === null) {
        fail(embLeaf.name, 'no embeddings (null)');
        continue;
      }
      shape = blobShape(b, blob!, declared, scan.dim, scratch);
    } else {
      shape = listShape(lists!, r, layout === 'nested', floats!, declared, scan.dim);
    }
    scan.dim ??= shape.dim;
    if ('message' in shape) {
      fail(shape.field === 'count' ? countLeaf!.name : embLeaf.name, shape.message);
      continue;
    }
    const { values, valueBase, tokens: ntok } = shape;
    const bad = firstNonFinite(values);
    if (bad >= 0) {
      const x = wide ? wide[valueBase + bad]! : values[bad]!;
      const what = Number.isFinite(x) ? `value ${x} is outside the float32 range` : `value ${x} is not a finite number`;
      fail(embLeaf.name, `token ${Math.floor(bad / scan.dim!)}, component ${bad % scan.dim!}: ${what}`);
      continue;
    }
    scan.docs++;
    scan.tokens += ntok;
    visitor.row?.(id, ntok, values);
  }
  return undefined;
}
