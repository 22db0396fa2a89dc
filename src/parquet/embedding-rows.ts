/**
 * One row's embeddings, from a decoded row group to token vectors: the rows of a list chunk
 * walked from its Dremel levels, and each row's shape checked (tokens, dim, the n_tokens column)
 * as a list or as a blob of float32 or float16 values, with the message a bad one gets. It reads
 * no pages and keeps nothing across row groups; scan-shard.ts owns the ids and the order of checks.
 */
import type { ChunkData } from './column-chunk.js';
import { blobElementBytes, dtypeNote, type BlobDType, type ResolvedDType } from './embeddings-dtype.js';
import { decodeHalves } from './float16.js';
import type { LeafColumn, RepeatedLevel } from './shard-schema.js';

/** The rows of a list<float> or list<list<float>> chunk, walked once from its levels. */
export interface ListRows {
  /** row r's values are [valueStart[r], valueStart[r + 1]) */
  valueStart: Int32Array;
  /** list<list<float>>: row r's tokens are [tokenStart[r], tokenStart[r + 1]); token t's values start at tokenValues[t] (one more entry ends the last) */
  tokenStart: Int32Array;
  tokenValues: Int32Array;
  /** the first null or empty document, token or value of a row (its token lengths then mean nothing) */
  problems: Map<number, string>;
}

/** Dremel levels → rows; a string when the levels cannot be a chunk of `rows` rows. */
export function walkLists(c: ChunkData, leaf: LeafColumn, rows: number): ListRows | string {
  const nested = leaf.repeated.length === 2;
  const rep = c.rep!;
  const def = c.def;
  const maxDef = leaf.maxDef;
  const valueStart = new Int32Array(rows + 1);
  const tokenStart = new Int32Array(nested ? rows + 1 : 0);
  let tokenValues = new Int32Array(nested ? rows * 8 + 1 : 0);
  const problems = new Map<number, string>();
  const outerSelf = leaf.repeated[0]!.self;
  let row = -1;
  let tok = -1;
  let v = 0;
  // entry indices where the current row and token began (to say which value is null)
  let rowEntry = 0;
  let tokEntry = 0;
  if (c.entries > 0 && rep[0] !== 0) return 'its first value continues a row';
  if (!nested && !def) {
    // every entry a value (the usual list<float>): rows start where the repetition level is 0
    let i = 0;
    for (let r = 0; r < rows; r++) {
      if (i >= c.entries) return `its levels hold ${r} rows, the row group ${rows}`;
      valueStart[r] = i;
      const next = rep.indexOf(0, i + 1);
      i = next < 0 ? c.entries : next;
    }
    if (i !== c.entries) return `its levels hold more rows than the row group's ${rows}`;
    valueStart[rows] = c.entries;
    return { valueStart, tokenStart, tokenValues, problems };
  }
  for (let i = 0; i < c.entries; i++) {
    const r = rep[i]!;
    const d = def ? def[i]! : maxDef;
    if (r === 0) {
      if (++row >= rows) return `its levels hold more rows than the row group's ${rows}`;
      valueStart[row] = v;
      if (nested) tokenStart[row] = tok + 1;
      rowEntry = i;
    }
    if (nested && r <= 1 && d >= outerSelf) {
      if (++tok + 1 >= tokenValues.length) {
        const grown = new Int32Array(tokenValues.length * 2);
        grown.set(tokenValues);
        tokenValues = grown;
      }
      tokenValues[tok] = v;
      tokEntry = i;
    }
    if (d === maxDef) v++;
    else if (!problems.has(row)) problems.set(row, nullEntry(leaf, d, nested ? tok - tokenStart[row]! : 0, i - (nested ? tokEntry : rowEntry)));
  }
  if (row + 1 !== rows) return `its levels hold ${row + 1} rows, the row group ${rows}`;
  valueStart[rows] = v;
  if (nested) {
    tokenStart[rows] = tok + 1;
    tokenValues[tok + 1] = v;
  }
  return { valueStart, tokenStart, tokenValues, problems };
}

/** What an entry below the maximum definition level is: a null or empty document or token, or a null value (token t, position k). */
function nullEntry(leaf: LeafColumn, d: number, t: number, k: number): string {
  const [outer, inner] = leaf.repeated as [RepeatedLevel, RepeatedLevel | undefined];
  if (d < outer.parent) return 'no embeddings (null)';
  if (d < outer.self) return 'empty document (no token vectors)';
  if (!inner) return `value ${k} of the list is null`;
  if (d < inner.parent) return `token ${t} is null`;
  if (d < inner.self) return `token ${t} is empty`;
  return `token ${t}, component ${k}: value null is not a finite number`;
}

/**
 * A row's token vectors and shape, or what is wrong with them: the field blamed ('count': the
 * n_tokens column) and the message; `dim` when the row showed one before failing (the first row
 * fixes a file's dim either way).
 */
export type RowShape =
  | { values: Float32Array; valueBase: number; tokens: number; dim: number }
  | { field: 'embeddings' | 'count'; message: string; dim?: number };

/**
 * Row `r` of a list chunk (`floats`: the chunk's values as float32), checked against the row's
 * declared token count and the dim known so far.
 */
export function listShape(lists: ListRows, r: number, nested: boolean, floats: Float32Array, declared: number | undefined, dim: number | undefined): RowShape {
  const problem = lists.problems.get(r);
  if (problem) return { field: 'embeddings', message: problem };
  const valueBase = lists.valueStart[r]!;
  const values = floats.subarray(valueBase, lists.valueStart[r + 1]!);
  let d: number;
  let tokens: number;
  if (nested) {
    const { tokenStart, tokenValues } = lists;
    const t0 = tokenStart[r]!;
    tokens = tokenStart[r + 1]! - t0;
    d = dim ?? tokenValues[t0 + 1]! - tokenValues[t0]!;
    for (let t = t0; t < t0 + tokens; t++) {
      const len = tokenValues[t + 1]! - tokenValues[t]!;
      if (len !== d) return { field: 'embeddings', message: `token ${t - t0} has ${len} values, expected ${d}`, dim: d };
    }
  } else {
    const guess = dim ?? (declared !== undefined ? values.length / declared : undefined);
    if (guess === undefined) return { field: 'embeddings', message: 'cannot infer dim from a flat list: give dim or an n_tokens column' };
    if (!Number.isInteger(guess) || values.length % guess !== 0) return { field: 'embeddings', message: `${values.length} values, expected a multiple of ${guess}` };
    d = guess;
    tokens = values.length / d;
  }
  if (declared !== undefined && tokens !== declared) return { field: 'count', message: `says ${declared} tokens, the embeddings hold ${tokens}`, dim: d };
  return { values, valueBase, tokens, dim: d };
}

/**
 * Growable float32 scratch for a blob row that is not a view of its page: halves widened, or
 * float32 bytes at an offset a Float32Array cannot view. One buffer per row group instead of an
 * allocation per row (a row's values are only valid during visitor.row).
 */
export class RowScratch {
  #buf = new Float32Array(0);
  take(n: number): Float32Array {
    if (this.#buf.length < n) this.#buf = new Float32Array(Math.max(n, this.#buf.length * 2));
    return this.#buf.subarray(0, n);
  }
}

/**
 * A blob row of `d.dtype` values (little-endian) checked against the row's declared token count
 * and the dim known so far (one of them is needed). A length that does not fit says the dtype and
 * how it was decided, and whether the other dtype would have fitted: halves read as float32 (or
 * the reverse) is the likely mistake, and nothing else in the bytes shows it. float16 values are
 * widened into `scratch`; float32 ones are a view of the page when aligned, copied into `scratch`
 * otherwise.
 */
export function blobShape(b: Uint8Array, d: ResolvedDType, declared: number | undefined, dim: number | undefined, scratch: RowScratch): RowShape {
  if (dim === undefined && declared === undefined) return { field: 'embeddings', message: 'cannot infer dim from a binary blob: give dim or an n_tokens column' };
  const bytes = b.byteLength;
  /** the dim `values` elements make with the declared count and the known dim, or undefined */
  const fits = (values: number): number | undefined => {
    if (!Number.isInteger(values) || values === 0) return undefined;
    const g = dim ?? values / declared!;
    return Number.isInteger(g) && values % g === 0 && (declared === undefined || values === declared * g) ? g : undefined;
  };
  const n = bytes / blobElementBytes(d.dtype);
  const got = fits(n);
  if (got === undefined) {
    const other: BlobDType = d.dtype === 'float16' ? 'float32' : 'float16';
    const why = `(${dtypeNote(d)})${fits(bytes / blobElementBytes(other)) !== undefined ? `; as ${other} it would fit` : ''}`;
    if (!Number.isInteger(n) || n === 0) return { field: 'embeddings', message: `${bytes} bytes is not a non-empty whole number of ${d.dtype} values ${why}` };
    if (dim === undefined) return { field: 'embeddings', message: `${n} ${d.dtype} values do not make ${declared} tokens of one dim ${why}` };
    if (declared === undefined) return { field: 'embeddings', message: `${n} ${d.dtype} values, expected a multiple of ${dim} ${why}` };
    if (n % dim === 0) return { field: 'count', message: `says ${declared} tokens, the embeddings hold ${n / dim} ${why}` };
    return { field: 'embeddings', message: `${bytes} bytes are ${n} ${d.dtype} values, not ${declared} tokens × dim ${dim} = ${declared * dim} ${why}` };
  }
  let values: Float32Array;
  if (d.dtype === 'float16') values = decodeHalves(b, scratch.take(n));
  else if (b.byteOffset % 4 === 0) values = new Float32Array(b.buffer, b.byteOffset, n);
  else {
    values = scratch.take(n);
    new Uint8Array(values.buffer, values.byteOffset, bytes).set(b);
  }
  return { values, valueBase: 0, tokens: n / got, dim: got };
}
