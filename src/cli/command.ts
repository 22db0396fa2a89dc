/**
 * What every `lemur <verb>` is: a name, its usage lines and a run over its own arguments
 * (src/cli/commands/<verb>.ts), plus the helpers they share for flags and output. main.ts is
 * only the table of commands and the mapping of errors to exit codes.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { config } from '../config.js';
import { ConfigError } from '../errors.js';
import { ENCODING_DEFAULTS, FIT_DEFAULTS, type ArtifactEncoding } from '../fit-defaults.js';
import type { ReadShardOptions } from '../parquet/read-shard.js';
import { DEFAULT_SHARD_DOCS } from '../parquet/source-ref.js';

export interface Command {
  name: string;
  /** Its lines of `lemur help`, already indented as the usage text shows them. */
  usage: string;
  /** Runs with the arguments after the verb; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** Flags the command line does not accept (exit code 2, with the usage). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** node:util parseArgs, strict; its own errors (code ERR_PARSE_ARGS_*) become UsageError. */
export function parse<O extends Options>(args: string[], options: O, allowPositionals = false): Parsed<O> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true }) as Parsed<O>;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((err as Error).message, { cause: err });
    throw err;
  }
}

export function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`Expected --${name} to be a positive integer but received '${v}'`);
  return n;
}

export function intList(name: string, v: string): number[] {
  return v.split(',').map((x) => positiveInt(name, x.trim(), 1));
}

export function needRedis(command: string): string {
  const url = config().redisUrl;
  if (!url) throw new ConfigError(`lemur ${command} talks to shared queues: set REDIS_URL`);
  return url;
}

/** A result on stdout: one JSON line with --json, indented JSON otherwise. */
export function print(value: unknown, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${JSON.stringify(value, null, 2)}\n`);
}

/** A result on stdout as one JSON line. */
export function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A new version's name: the time, key-safe. */
export function newVersion(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

/** Resolves on SIGINT or SIGTERM (long-running commands: worker, dashboard). */
export function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** The fit flags of build and schedule set. */
export const FIT_FLAGS = {
  epochs: { type: 'string' },
  'm-prime': { type: 'string' },
  'n-learn': { type: 'string' },
  hidden: { type: 'string' },
} as const;

/** --epochs / --m-prime / --n-learn / --hidden as fit options (only those given). */
export function fitOptions(values: { epochs?: string | undefined; 'm-prime'?: string | undefined; 'n-learn'?: string | undefined; hidden?: string | undefined }): Record<string, number> {
  const fit: Record<string, number> = {};
  if (values.epochs !== undefined) {
    const e = Number(values.epochs);
    if (!Number.isInteger(e) || e < 0) throw new ConfigError(`Expected --epochs to be an integer >= 0 but received '${values.epochs}'`);
    fit['epochs'] = e;
  }
  if (values['m-prime'] !== undefined) fit['mPrime'] = positiveInt('m-prime', values['m-prime'], FIT_DEFAULTS.mPrime);
  if (values['n-learn'] !== undefined) fit['nLearn'] = positiveInt('n-learn', values['n-learn'], FIT_DEFAULTS.nLearn);
  if (values.hidden !== undefined) fit['hidden'] = positiveInt('hidden', values.hidden, FIT_DEFAULTS.hidden);
  return fit;
}

/** The column-mapping flags of every command that reads embeddings from Parquet (build, ingest, validate, eval, query). */
export const COLUMN_FLAGS = {
  'id-column': { type: 'string' },
  'embeddings-column': { type: 'string' },
  'tokens-column': { type: 'string' },
  dim: { type: 'string' },
  'embeddings-dtype': { type: 'string' },
} as const;

export const COLUMN_USAGE = '[--id-column C] [--embeddings-column C] [--tokens-column C] [--dim D] [--embeddings-dtype float16|float32]';

/** --id-column / --embeddings-column / --tokens-column / --dim / --embeddings-dtype as reader options (only those given). */
export function columnMapping(values: { 'id-column'?: string | undefined; 'embeddings-column'?: string | undefined; 'tokens-column'?: string | undefined; dim?: string | undefined; 'embeddings-dtype'?: string | undefined }): ReadShardOptions {
  const columns: NonNullable<ReadShardOptions['columns']> = {};
  const name = (flag: string, v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    if (v.trim() === '') throw new ConfigError(`Expected --${flag} to name a column but received an empty string`);
    return v;
  };
  const id = name('id-column', values['id-column']);
  const embeddings = name('embeddings-column', values['embeddings-column']);
  const nTokens = name('tokens-column', values['tokens-column']);
  if (id !== undefined) columns.id = id;
  if (embeddings !== undefined) columns.embeddings = embeddings;
  if (nTokens !== undefined) columns.nTokens = nTokens;
  const out: ReadShardOptions = {};
  if (Object.keys(columns).length > 0) out.columns = columns;
  if (values.dim !== undefined) out.dim = positiveInt('dim', values.dim, 1);
  const dtype = values['embeddings-dtype'];
  if (dtype !== undefined) {
    // the element type of blob embeddings whose footer does not declare it (lemur.embeddings.dtype)
    if (dtype !== 'float16' && dtype !== 'float32') throw new ConfigError(`Expected --embeddings-dtype float16 or float32 but received '${dtype}'`);
    out.embeddingsDtype = dtype;
  }
  return out;
}

/** How a build stores what it publishes (see ENCODING_DEFAULTS). */
/** How many documents a shard holds at most: a larger Parquet file is split into row ranges (src/parquet/source-ref.ts). */
export const SHARD_FLAGS = {
  'shard-docs': { type: 'string' },
} as const;

export const SHARD_USAGE = '[--shard-docs N]';

/** --shard-docs: 0 keeps one shard per file. @defaultValue DEFAULT_SHARD_DOCS */
export function shardDocsOf(values: { 'shard-docs'?: string | undefined }): number {
  const v = values['shard-docs'];
  if (v === undefined) return DEFAULT_SHARD_DOCS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`Expected --shard-docs to be an integer >= 0 (0: one shard per file) but received '${v}'`);
  return n;
}

export const ENCODING_FLAGS = {
  'token-dtype': { type: 'string' },
  'index-storage': { type: 'string' },
} as const;

export function encodingOf(values: { 'token-dtype'?: string | undefined; 'index-storage'?: string | undefined }): ArtifactEncoding {
  const tokens = values['token-dtype'] ?? ENCODING_DEFAULTS.tokens;
  const index = values['index-storage'] ?? ENCODING_DEFAULTS.index;
  if (tokens !== 'float16' && tokens !== 'float32') throw new ConfigError(`Expected --token-dtype float16 or float32 but received '${tokens}'`);
  if (index !== 'fp16' && index !== 'sq8' && index !== 'fp32') throw new ConfigError(`Expected --index-storage fp16, sq8 or fp32 but received '${index}'`);
  return { tokens, index };
}
