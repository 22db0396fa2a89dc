/**
 * Validation of corpus shards without building anything: each file read once, row group by row
 * group (scanShard, the checks readShard makes), every problem counted and the first few of each
 * file kept, no token data kept; then the dim every file must share. `lemur validate` prints the
 * report; a build can call the same function to report every bad shard at once.
 */
import type { ObjectStore } from '../store/object-store.js';
import type { DTypeSource, EmbeddingsDType } from './embeddings-dtype.js';
import { scanShard, type ReadShardOptions, type ShardProblem } from './scan-shard.js';
import { DEFAULT_COLUMNS } from './shard-schema.js';

export interface ValidateOptions extends ReadShardOptions {
  /** Problems listed per file; later ones are only counted. @defaultValue 10 */
  maxProblems?: number;
  /** Called as each file is done (progress), with how many are done of how many. */
  onFile?: (file: FileValidation, done: number, total: number) => void;
}

/** One file's validation. */
export interface FileValidation {
  key: string;
  /** store URL + key, as errors name it */
  source: string;
  ok: boolean;
  bytes: number;
  rowGroups: number;
  /** rows in the footer */
  rows: number;
  /** rows that passed every check, and their tokens */
  docs: number;
  tokens: number;
  /** the file's dim (given, or shown by its first good row); undefined when no row showed one */
  dim: number | undefined;
  /** what the embeddings were read as, and where that came from (undefined when the footer or the columns could not be read) */
  dtype: EmbeddingsDType | undefined;
  dtypeFrom: DTypeSource | undefined;
  seconds: number;
  /** the first problems, in file order (a dim that disagrees with the other files' first) */
  problems: ShardProblem[];
  /** problems past `maxProblems`, counted only */
  moreProblems: number;
}

export interface ValidationReport {
  ok: boolean;
  files: FileValidation[];
  filesOk: number;
  filesBad: number;
  /** rows in the footers; docs and tokens: those of the rows that passed every check */
  rows: number;
  docs: number;
  tokens: number;
  bytes: number;
  seconds: number;
  /** the dim of the files: the given one, else the one most files have */
  dim: number | undefined;
}

/**
 * Checks one shard: footer, column types, every row (see readShard for the checks), keeping the
 * first `maxProblems` problems and counting the rest.
 * @throws InvalidArgumentError for a dim that is not a positive integer; StoreError when the store fails
 */
export async function validateShard(store: ObjectStore, key: string, options: ValidateOptions = {}): Promise<FileValidation> {
  const maxProblems = options.maxProblems ?? 10;
  const problems: ShardProblem[] = [];
  let moreProblems = 0;
  const t0 = performance.now();
  const scan = await scanShard(store, key, options, {
    problem(p) {
      if (problems.length < maxProblems) problems.push(p);
      else moreProblems++;
    },
  });
  return {
    key,
    source: scan.source,
    ok: problems.length === 0,
    bytes: scan.bytes,
    rowGroups: scan.rowGroups,
    rows: scan.rows,
    docs: scan.docs,
    tokens: scan.tokens,
    dim: scan.dim,
    dtype: scan.dtype,
    dtypeFrom: scan.dtypeFrom,
    seconds: (performance.now() - t0) / 1000,
    problems,
    moreProblems,
  };
}

/** The value most entries have; on a tie, the one that comes first (a deterministic choice in file order). */
export function mostCommon(values: number[]): number | undefined {
  const count = new Map<number, number>();
  for (const v of values) count.set(v, (count.get(v) ?? 0) + 1);
  let best: number | undefined;
  for (const v of values) if (best === undefined || count.get(v)! > count.get(best)!) best = v;
  return best;
}

/**
 * Validates every shard in `keys` one after the other (each read once, row group by row group),
 * then checks that they share one dim: a file whose dim differs from the given `dim`, or else from
 * the dim most files have, is bad with both dims named.
 * @throws InvalidArgumentError for a dim that is not a positive integer; StoreError when the store fails
 * @example
 * const report = await validateSources(store, await listParquet(store, 'sources/'), { columns: { id: 'doc_id' } });
 * if (!report.ok) for (const line of validationLines(report)) console.error(line);
 */
export async function validateSources(store: ObjectStore, keys: string[], options: ValidateOptions = {}): Promise<ValidationReport> {
  const t0 = performance.now();
  const files: FileValidation[] = [];
  for (const key of keys) {
    const file = await validateShard(store, key, options);
    files.push(file);
    options.onFile?.(file, files.length, keys.length);
  }
  const dim = options.dim ?? mostCommon(files.flatMap((f) => (f.dim === undefined ? [] : [f.dim])));
  const example = files.find((f) => f.dim === dim)?.key;
  const field = options.columns?.embeddings ?? DEFAULT_COLUMNS.embeddings;
  for (const f of files) {
    if (f.dim === undefined || f.dim === dim) continue;
    f.problems.unshift({ field, message: `dim ${f.dim} differs from the other files' dim ${dim}${example ? ` (e.g. ${example})` : ''}` });
    if (f.problems.length > (options.maxProblems ?? 10)) {
      f.problems.pop();
      f.moreProblems++;
    }
    f.ok = false;
  }
  const sum = (pick: (f: FileValidation) => number): number => files.reduce((s, f) => s + pick(f), 0);
  const filesBad = files.filter((f) => !f.ok).length;
  return {
    ok: filesBad === 0,
    files,
    filesOk: files.length - filesBad,
    filesBad,
    rows: sum((f) => f.rows),
    docs: sum((f) => f.docs),
    tokens: sum((f) => f.tokens),
    bytes: sum((f) => f.bytes),
    seconds: (performance.now() - t0) / 1000,
    dim,
  };
}

/** Megabytes (10^6 bytes) with three significant digits or more. */
function mb(bytes: number): string {
  const m = bytes / 1e6;
  return m.toFixed(m < 0.1 ? 3 : m < 10 ? 2 : 1);
}

/** A file's element type as the report shows it: `float16`, or `float32(assumed)` for a blob nothing declared, `float16(footer)` / `float16(option)` for a declared one. */
function dtypeText(f: FileValidation): string {
  if (f.dtype === undefined) return '-';
  if (f.dtypeFrom === 'schema' || f.dtypeFrom === undefined) return f.dtype;
  return `${f.dtype}(${f.dtypeFrom === 'default' ? 'assumed' : f.dtypeFrom})`;
}

/**
 * The report as text: per file `ok  <file>  docs=… tokens=… dim=… dtype=… <MB> MB <s> s`, or one
 * `bad <file>: <problem>` line per listed problem (and one for those only counted), then a summary.
 * `name` shows a file (default: its key).
 */
export function validationLines(report: ValidationReport, name: (f: FileValidation) => string = (f) => f.key): string[] {
  const lines: string[] = [];
  for (const f of report.files) {
    if (f.ok) {
      lines.push(`ok   ${name(f)}  docs=${f.docs} tokens=${f.tokens} dim=${f.dim ?? '-'} dtype=${dtypeText(f)} ${mb(f.bytes)} MB ${f.seconds.toFixed(2)} s`);
      continue;
    }
    for (const p of f.problems) lines.push(`bad  ${name(f)}: ${p.message}`);
    if (f.moreProblems > 0) lines.push(`bad  ${name(f)}: and ${f.moreProblems} more problem${f.moreProblems === 1 ? '' : 's'}`);
  }
  const rate = report.seconds > 0 ? report.bytes / 1e6 / report.seconds : 0;
  lines.push(
    `${report.files.length} file${report.files.length === 1 ? '' : 's'}: ${report.filesOk} ok, ${report.filesBad} bad; ` +
      `docs=${report.docs}${report.docs === report.rows ? '' : ` (of ${report.rows} rows)`} tokens=${report.tokens} dim=${report.dim ?? '-'}; ` +
      `${mb(report.bytes)} MB in ${report.seconds.toFixed(2)} s (${rate.toFixed(1)} MB/s)`,
  );
  return lines;
}
