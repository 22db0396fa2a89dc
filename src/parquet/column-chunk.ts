/**
 * Decodes one column chunk (one column of one row group) page by page into flat arrays: a
 * definition and a repetition level per entry and the values, floats in one typed array. It builds
 * no nested JS arrays per row (hyparquet's row assembly boxed every float into a list of lists:
 * most of the reading time) and checks what a broken page would otherwise turn into undefined
 * values further on, or into a JS array grown until V8 aborts the process (a corrupt run length):
 * the page header, the decompression, the runs of levels and dictionary indices (decoded here into
 * arrays of a known size), and every count (values against levels, entries against the footer).
 * hyparquet still parses page headers, decompresses, and decodes plain and delta values.
 */
import type { ColumnMetaData, Compressors, DataPageHeader, DecodedArray, Encoding } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { DEFAULT_PARSERS, convert } from 'hyparquet/src/convert.js';
import { decompressPage, readDataPage } from 'hyparquet/src/datapage.js';
import { readPlain } from 'hyparquet/src/plain.js';
import type { ColumnDecoder } from 'hyparquet/src/types.js';

import { decodeHalves } from './float16.js';
import type { LeafColumn } from './shard-schema.js';

export interface ChunkData {
  /** level entries: values, nulls and empty lists */
  entries: number;
  /** definition level per entry, or undefined when every entry holds a value */
  def: Uint8Array | undefined;
  /** repetition level per entry (0 starts a row), or undefined for a column that is not repeated */
  rep: Uint8Array | undefined;
  /** the entries at the maximum definition level: Float32Array (FLOAT, and FLOAT16 widened exactly), Float64Array (DOUBLE), an array otherwise */
  values: Float32Array | Float64Array | unknown[];
}

/** Where a chunk stopped decoding: the page's index in the chunk, the rows decoded before it, why. */
export interface CorruptPage {
  page: number;
  rowsBefore: number;
  reason: string;
}

export type ChunkResult = { ok: true; data: ChunkData } | ({ ok: false } & CorruptPage);

/** Value encodings hyparquet decodes into arrays of the count it is given (the dictionary ones are decoded here). */
const BOUNDED_ENCODINGS: Encoding[] = ['PLAIN', 'BYTE_STREAM_SPLIT', 'DELTA_BINARY_PACKED', 'DELTA_LENGTH_BYTE_ARRAY', 'DELTA_BYTE_ARRAY'];

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function bitWidth(max: number): number {
  return 32 - Math.clz32(max);
}

/**
 * Runs of the RLE/bit-packed hybrid encoding (Parquet's Encodings.md) in src[p, end), `width`
 * bits per value, decoded into `out` until it is full (never past it, whatever a run claims).
 * Returns the highest value and how many equal `target`, counted as they are decoded.
 * @throws Error naming `what` when the runs end before `out` is full or run past `end`
 */
function readHybrid(what: string, src: Uint8Array, p: number, end: number, width: number, out: Uint8Array | Uint32Array, target: number): { max: number; at: number } {
  const n = out.length;
  const valueBytes = (width + 7) >> 3;
  let seen = 0;
  let max = 0;
  let at = 0;
  while (seen < n) {
    let header = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= end || shift > 28) throw new Error(`${what} end after ${seen} of ${n} values`);
      const b = src[p++]!;
      header += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    if (header % 2 === 1) {
      // bit-packed: (header >> 1) groups of 8 values, `width` bytes per group, least significant bit first
      const groups = Math.floor(header / 2);
      if (p + groups * width > end) throw new Error(`${what}: a bit-packed run of ${groups * 8} values runs past their end`);
      const count = Math.min(groups * 8, n - seen);
      for (let k = 0; k < count; k++) {
        const x = bitsAt(src, p, k * width, width);
        out[seen++] = x;
        if (x > max) max = x;
        if (x === target) at++;
      }
      p += groups * width;
    } else {
      // run-length: (header >> 1) copies of one value of ceil(width / 8) bytes
      if (p + valueBytes > end) throw new Error(`${what} end after ${seen} of ${n} values`);
      let x = 0;
      for (let k = 0; k < valueBytes; k++) x += src[p++]! * 2 ** (8 * k);
      const count = Math.min(header / 2, n - seen);
      out.fill(x, seen, seen + count);
      seen += count;
      if (count > 0 && x > max) max = x;
      if (x === target) at += count;
    }
  }
  return { max, at };
}

/** `width` bits at bit offset `bit` from byte `p`, least significant first. */
function bitsAt(src: Uint8Array, p: number, bit: number, width: number): number {
  let byte = p + (bit >> 3);
  const shift = bit & 7;
  if (width + shift <= 24) {
    // the usual case (levels, dictionaries under 2^17 entries): three bytes cover it
    const word = src[byte]! | ((src[byte + 1] ?? 0) << 8) | ((src[byte + 2] ?? 0) << 16);
    return (word >>> shift) & ((1 << width) - 1);
  }
  let x = 0;
  for (let k = 0, s = shift; k < width; byte++, s = 0) {
    const take = Math.min(8 - s, width - k);
    x += ((src[byte]! >> s) & ((1 << take) - 1)) * 2 ** k;
    k += take;
  }
  return x;
}

/** The float columns decoded into a typed array: FLOAT16 is FIXED_LEN_BYTE_ARRAY(2) annotated FLOAT16, kept as float32. */
type FloatKind = 'FLOAT' | 'DOUBLE' | 'FLOAT16';

function floatKind(meta: ColumnMetaData, leaf: LeafColumn): FloatKind | undefined {
  if (meta.type === 'FLOAT' || meta.type === 'DOUBLE') return meta.type;
  if (meta.type === 'FIXED_LEN_BYTE_ARRAY' && leaf.element.type_length === 2 && leaf.element.logical_type?.type === 'FLOAT16') return 'FLOAT16';
  return undefined;
}

/** Bytes per PLAIN value of each float kind. */
const PLAIN_BYTES: Record<FloatKind, number> = { FLOAT: 4, DOUBLE: 8, FLOAT16: 2 };

/** Float values of a chunk, appended page by page into one growing typed array. */
class FloatValues {
  #buf: Float32Array | Float64Array;
  length = 0;
  constructor(
    readonly kind: FloatKind,
    expected: number,
  ) {
    // the footer's count, capped: a corrupt footer must not allocate gigabytes up front
    this.#buf = this.#alloc(Math.min(Math.max(expected, 1024), 1 << 24));
  }
  #alloc(n: number): Float32Array | Float64Array {
    return this.kind === 'DOUBLE' ? new Float64Array(n) : new Float32Array(n);
  }
  reserve(n: number): Float32Array | Float64Array {
    if (this.length + n > this.#buf.length) {
      let cap = this.#buf.length;
      while (cap < this.length + n) cap *= 2;
      const next = this.#alloc(cap);
      next.set(this.#buf.subarray(0, this.length));
      this.#buf = next;
    }
    const view = this.#buf.subarray(this.length, this.length + n);
    this.length += n;
    return view;
  }
  result(): Float32Array | Float64Array {
    return this.#buf.subarray(0, this.length);
  }
}

/**
 * The pages of `bytes` (the chunk's range of the file, dictionary page first) as flat arrays, or
 * the first page that cannot be read and why.
 */
export function decodeColumnChunk(bytes: Uint8Array, meta: ColumnMetaData, leaf: LeafColumn, compressors: Compressors): ChunkResult {
  const decoder: ColumnDecoder = {
    pathInSchema: meta.path_in_schema,
    type: meta.type,
    element: leaf.element,
    schemaPath: leaf.schemaPath,
    codec: meta.codec,
    parsers: DEFAULT_PARSERS,
    compressors,
    // only UTF8/STRING columns become strings; a blob stays bytes
    utf8: false,
  };
  // the same leaf without levels: hyparquet decodes a page's values once its levels are read here
  const valuesDecoder: ColumnDecoder = { ...decoder, schemaPath: [leaf.schemaPath[0]!, { ...leaf.schemaPath.at(-1)!, element: { ...leaf.element, repetition_type: 'REQUIRED' } }] };
  const codec = meta.codec.toLowerCase();
  const kind = floatKind(meta, leaf);
  const floats = kind ? new FloatValues(kind, Number(meta.num_values)) : undefined;
  const floatBytes = kind ? PLAIN_BYTES[kind] : 0;
  const others: unknown[] = [];
  const declared = Number(meta.num_values);
  const maxPageBytes = Number(meta.total_uncompressed_size);
  // per data page: its levels (undefined: none, or every entry at the maximum) and its entries
  const reps: (Uint8Array | undefined)[] = [];
  const defs: (Uint8Array | undefined)[] = [];
  const sizes: number[] = [];
  let dictionary: DecodedArray | undefined;
  let entries = 0;
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };

  const decompress = (body: Uint8Array, size: number): Uint8Array => decompressPage(body, size, meta.codec, compressors);

  /** The `present` values of a data page starting at raw[offset], appended; a reason when they are broken. */
  const readValues = (raw: Uint8Array, offset: number, encoding: Encoding, present: number): string | undefined => {
    if (present === 0) return undefined;
    if (floats && encoding === 'PLAIN') {
      // little-endian floats: one copy from the page into the chunk's array, aligned or not; halves widened on the way
      const length = present * floatBytes;
      if (offset + length > raw.byteLength) return `page holds ${raw.byteLength - offset} bytes of values, its levels say ${present} values (${length} bytes)`;
      const out = floats.reserve(present);
      if (floats.kind === 'FLOAT16') decodeHalves(raw.subarray(offset, offset + length), out as Float32Array);
      else new Uint8Array(out.buffer, out.byteOffset, length).set(raw.subarray(offset, offset + length));
      return undefined;
    }
    if (encoding === 'RLE_DICTIONARY' || encoding === 'PLAIN_DICTIONARY') {
      if (!dictionary) return 'dictionary-encoded page without a dictionary page';
      if (offset >= raw.byteLength) return 'page ends before its values';
      const width = raw[offset]!;
      if (width > 32) return `dictionary indices of ${width} bits`;
      const index = new Uint32Array(present);
      if (readHybrid('dictionary indices', raw, offset + 1, raw.byteLength, width, index, -1).max >= dictionary.length) return `dictionary index out of range (${dictionary.length} entries)`;
      if (floats) {
        const out = floats.reserve(present);
        for (let i = 0; i < present; i++) out[i] = dictionary[index[i]!] as number;
      } else {
        for (let i = 0; i < present; i++) others.push(dictionary[index[i]!]);
      }
      return undefined;
    }
    if (!BOUNDED_ENCODINGS.includes(encoding)) return `values of encoding ${String(encoding)} in a ${meta.type} column`;
    const header: DataPageHeader = { num_values: present, encoding, definition_level_encoding: 'RLE', repetition_level_encoding: 'RLE' };
    const values = convert(readDataPage(raw.subarray(offset), header, valuesDecoder).dataPage, decoder);
    if (values.length !== present) return `page decodes ${values.length} values, its levels say ${present}`;
    if (floats) floats.reserve(present).set(values as ArrayLike<number>);
    else for (let i = 0; i < present; i++) others.push(values[i]);
    return undefined;
  };

  for (let index = 0; reader.offset < bytes.byteLength; index++) {
    const fail = (reason: string): ChunkResult => ({ ok: false, page: index, rowsBefore: rowsIn(reps, entries), reason });
    let header;
    try {
      header = parquetHeader(reader);
    } catch (err) {
      return fail(`page header does not decode: ${message(err)}`);
    }
    const size = header.compressed_page_size;
    if (!Number.isInteger(size) || size < 0 || reader.offset + size > bytes.byteLength) {
      return fail(`page of ${size} bytes runs past the end of the column chunk (${bytes.byteLength - reader.offset} bytes left)`);
    }
    const plainSize = Number(header.uncompressed_page_size);
    if (!Number.isInteger(plainSize) || plainSize < 0 || plainSize > maxPageBytes) return fail(`page header says ${plainSize} bytes uncompressed, the column chunk ${maxPageBytes}`);
    const body = bytes.subarray(reader.offset, reader.offset + size);
    reader.offset += size;
    if (header.type === 'INDEX_PAGE') continue;

    let n: number;
    let rep: Uint8Array | undefined;
    let def: Uint8Array | undefined;
    let present: number;
    try {
      if (header.type === 'DICTIONARY_PAGE' && header.dictionary_page_header) {
        let raw: Uint8Array;
        try {
          raw = decompress(body, plainSize);
        } catch (err) {
          return fail(`${codec} dictionary page does not decompress: ${message(err)}`);
        }
        const count = header.dictionary_page_header.num_values;
        const plain = readPlain({ view: new DataView(raw.buffer, raw.byteOffset, raw.byteLength), offset: 0 }, meta.type, count, leaf.element.type_length);
        if (plain.length !== count) return fail(`dictionary page decodes ${plain.length} values, its header says ${count}`);
        dictionary = convert(plain, decoder);
        continue;
      } else if (header.type === 'DATA_PAGE' && header.data_page_header) {
        // V1: repetition then definition levels, each after its 4-byte length, then the values; all compressed
        const h = header.data_page_header;
        n = h.num_values;
        if (!(Number.isInteger(n) && n >= 0 && entries + n <= declared)) return fail(`page header says ${n} values, past the column chunk's ${declared}`);
        let raw: Uint8Array;
        try {
          raw = decompress(body, plainSize);
        } catch (err) {
          return fail(`${codec} page does not decompress: ${message(err)}`);
        }
        let offset = 0;
        const levels = (what: string, max: number, out: Uint8Array, target: number): { max: number; at: number } => {
          if (offset + 4 > raw.byteLength) throw new Error(`${what} start past the end of the page`);
          const length = raw[offset]! + raw[offset + 1]! * 2 ** 8 + raw[offset + 2]! * 2 ** 16 + raw[offset + 3]! * 2 ** 24;
          const start = offset + 4;
          offset = start + length;
          if (offset > raw.byteLength) throw new Error(`${what} of ${length} bytes run past the end of the page`);
          return readHybrid(what, raw, start, offset, bitWidth(max), out, target);
        };
        if (leaf.maxRep > 0) {
          const r = levels('repetition levels', leaf.maxRep, (rep = new Uint8Array(n)), 0);
          if (r.max > leaf.maxRep) return fail(`repetition level ${r.max} above the column's maximum ${leaf.maxRep}`);
        }
        const d = leaf.maxDef > 0 ? levels('definition levels', leaf.maxDef, (def = new Uint8Array(n)), leaf.maxDef) : { max: 0, at: n };
        if (d.max > leaf.maxDef) return fail(`definition level ${d.max} above the column's maximum ${leaf.maxDef}`);
        present = d.at;
        const broken = readValues(raw, offset, h.encoding, present);
        if (broken) return fail(broken);
      } else if (header.type === 'DATA_PAGE_V2' && header.data_page_header_v2) {
        // V2: the levels uncompressed with their lengths in the header, then the values (compressed unless said otherwise)
        const h = header.data_page_header_v2;
        n = h.num_values;
        if (!(Number.isInteger(n) && n >= 0 && entries + n <= declared)) return fail(`page header says ${n} values, past the column chunk's ${declared}`);
        const repEnd = h.repetition_levels_byte_length;
        const defEnd = repEnd + h.definition_levels_byte_length;
        if (!(repEnd >= 0 && defEnd >= repEnd && defEnd <= body.byteLength)) return fail(`page levels of ${defEnd} bytes run past the end of the page`);
        if (leaf.maxRep > 0) {
          const r = readHybrid('repetition levels', body, 0, repEnd, bitWidth(leaf.maxRep), (rep = new Uint8Array(n)), 0);
          if (r.max > leaf.maxRep) return fail(`repetition level ${r.max} above the column's maximum ${leaf.maxRep}`);
        }
        const d = leaf.maxDef > 0 ? readHybrid('definition levels', body, repEnd, defEnd, bitWidth(leaf.maxDef), (def = new Uint8Array(n)), leaf.maxDef) : { max: 0, at: n };
        if (d.max > leaf.maxDef) return fail(`definition level ${d.max} above the column's maximum ${leaf.maxDef}`);
        present = d.at;
        if (present !== n - h.num_nulls) return fail(`page levels hold ${present} values, its header says ${n - h.num_nulls}`);
        let raw = body.subarray(defEnd);
        if (h.is_compressed !== false) {
          try {
            raw = decompress(raw, plainSize - defEnd);
          } catch (err) {
            return fail(`${codec} page does not decompress: ${message(err)}`);
          }
        }
        const broken = readValues(raw, 0, h.encoding, present);
        if (broken) return fail(broken);
      } else {
        return fail(`page of type ${String(header.type)} without its header`);
      }
    } catch (err) {
      return fail(`page does not decode: ${message(err)}`);
    }
    reps.push(rep);
    defs.push(present === n ? undefined : def);
    sizes.push(n);
    entries += n;
  }
  if (entries !== declared) return { ok: false, page: sizes.length, rowsBefore: rowsIn(reps, entries), reason: `column chunk ends after ${entries} values, the footer says ${declared} (pages missing)` };
  return {
    ok: true,
    data: {
      entries,
      def: defs.some((d) => d !== undefined) ? concatLevels(defs, sizes, entries, leaf.maxDef) : undefined,
      rep: leaf.maxRep > 0 ? concatLevels(reps, sizes, entries, 0) : undefined,
      values: floats ? floats.result() : others,
    },
  };
}

/** Rows the pages decoded so far hold (for messages): repetition levels at 0, or one per entry. */
function rowsIn(reps: (Uint8Array | undefined)[], entries: number): number {
  if (!reps.some((r) => r)) return entries;
  let rows = 0;
  for (const r of reps) if (r) for (let i = 0; i < r.length; i++) if (r[i] === 0) rows++;
  return rows;
}

/** One level array for the chunk; a page without its levels is at `fill` throughout. */
function concatLevels(levels: (Uint8Array | undefined)[], sizes: number[], entries: number, fill: number): Uint8Array {
  const out = new Uint8Array(entries);
  let at = 0;
  levels.forEach((l, i) => {
    if (l) out.set(l, at);
    else out.fill(fill, at, at + sizes[i]!);
    at += sizes[i]!;
  });
  return out;
}
