/**
 * The element type of a shard's embeddings. A list's leaf type says it (float, double, FLOAT16);
 * a binary blob carries no type, so a blob's is declared: by the footer's key-value metadata
 * entry `lemur.embeddings.dtype` (written with the file) or by the reader's `embeddingsDtype`
 * option (`--embeddings-dtype`), and float32 when neither says (what every blob shard was before).
 * It resolves the declaration and words it for messages; it decodes nothing.
 */
import type { KeyValue } from 'hyparquet';

import { InvalidArgumentError } from '../errors.js';

/** The footer key-value metadata key that declares a blob's element type. */
export const DTYPE_KEY = 'lemur.embeddings.dtype';

/** What a blob's elements can be declared as. */
export type BlobDType = 'float32' | 'float16';

/** What a shard's embeddings were read as: a blob's declared type, or a list leaf's. */
export type EmbeddingsDType = BlobDType | 'float64';

/** Where the element type came from: the list's Parquet type, the footer, the reader's option, or nothing (float32 assumed). */
export type DTypeSource = 'schema' | 'footer' | 'option' | 'default';

export interface ResolvedDType {
  dtype: BlobDType;
  from: Exclude<DTypeSource, 'schema'>;
}

const BLOB_DTYPES: readonly string[] = ['float32', 'float16'];

/** Bytes per element of a blob dtype. */
export function blobElementBytes(dtype: BlobDType): number {
  return dtype === 'float16' ? 2 : 4;
}

/**
 * Checks the reader's option (undefined is fine).
 * @throws InvalidArgumentError for anything but 'float32' or 'float16'
 */
export function checkBlobDType(option: unknown): asserts option is BlobDType | undefined {
  if (option !== undefined && !BLOB_DTYPES.includes(option as string)) throw new InvalidArgumentError(`Expected embeddingsDtype 'float32' or 'float16' but received '${String(option)}'`);
}

/**
 * A blob's element type from the footer entry and the option: the one that is given, float32
 * when neither is. A footer and an option that disagree are refused rather than one silently
 * winning: the footer was written with the bytes, the option is what the user believes of them.
 * Returns the type, or why it cannot be decided.
 */
export function resolveBlobDType(kv: KeyValue[] | undefined, option: BlobDType | undefined): ResolvedDType | { problem: string } {
  const entry = kv?.find((e) => e.key === DTYPE_KEY);
  if (entry !== undefined) {
    const declared = (entry.value ?? '').trim().toLowerCase();
    if (!BLOB_DTYPES.includes(declared)) return { problem: `the footer's ${DTYPE_KEY} is '${entry.value ?? ''}', expected float32 or float16` };
    if (option !== undefined && option !== declared) return { problem: `the footer's ${DTYPE_KEY} says ${declared}, --embeddings-dtype says ${option}: drop the option or fix the file` };
    return { dtype: declared as BlobDType, from: 'footer' };
  }
  return option !== undefined ? { dtype: option, from: 'option' } : { dtype: 'float32', from: 'default' };
}

/** How a blob's element type was decided, for messages about a blob's length. */
export function dtypeNote(d: ResolvedDType): string {
  switch (d.from) {
    case 'footer': return `${d.dtype} as the footer's ${DTYPE_KEY} says`;
    case 'option': return `${d.dtype} as --embeddings-dtype says`;
    case 'default': return `${d.dtype} assumed: no ${DTYPE_KEY} in the footer and no --embeddings-dtype`;
  }
}
