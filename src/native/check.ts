/**
 * Argument validators shared by every wrapper of the native boundary. Each throws one uniform
 * InvalidArgumentError naming the argument and the value received.
 */
import { InputDataError, InvalidArgumentError } from '../errors.js';

function describe(v: unknown): string {
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  return String(v);
}

export function assertInt(name: string, v: unknown, range: { min?: number; max?: number } = {}): asserts v is number {
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`Expected integer in [${min}, ${max}] for ${name} but received ${describe(v)}`);
  }
}

export function assertFloat32Array(name: string, v: unknown): asserts v is Float32Array {
  if (!(v instanceof Float32Array)) throw new InvalidArgumentError(`Expected Float32Array for ${name} but received ${describe(v)}`);
}

export function assertInt32Array(name: string, v: unknown): asserts v is Int32Array {
  if (!(v instanceof Int32Array)) throw new InvalidArgumentError(`Expected Int32Array for ${name} but received ${describe(v)}`);
}

export function assertBigInt64Array(name: string, v: unknown): asserts v is BigInt64Array {
  if (!(v instanceof BigInt64Array)) throw new InvalidArgumentError(`Expected BigInt64Array for ${name} but received ${describe(v)}`);
}

/** Every value finite; otherwise an InputDataError naming the row (of `rowLength` values) and field. */
export function assertFinite(name: string, values: Float32Array, rowLength: number): void {
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x - x !== 0) {
      const row = Math.floor(i / rowLength);
      throw new InputDataError(`${name}: row ${row}, component ${i % rowLength}: value ${x} is not finite`, { row, field: name });
    }
  }
}

/**
 * Token counts per item (query or document): each >= 1, summing to values.length / dim.
 * Returns the total.
 */
export function assertCounts(name: string, counts: Int32Array, valuesName: string, values: Float32Array, dim: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c < 1) throw new InputDataError(`${name}[${i}] = ${c}: every item needs at least 1 token`, { row: i, field: name });
    total += c;
  }
  if (total * dim !== values.length) {
    throw new InvalidArgumentError(
      `Expected ${valuesName}.length = sum(${name}) * dim = ${total} * ${dim} = ${total * dim} but received ${values.length}`,
    );
  }
  return total;
}

/** Candidate doc positions in [0, nDocs) or -1 (none). */
export function assertPositions(name: string, v: BigInt64Array, nDocs: number, allowNone: boolean): void {
  const n = BigInt(nDocs);
  for (let i = 0; i < v.length; i++) {
    const p = v[i]!;
    if ((p === -1n && allowNone) || (p >= 0n && p < n)) continue;
    throw new InvalidArgumentError(`Expected ${name}[${i}] in [0, ${nDocs})${allowNone ? ' or -1' : ''} but received ${p}`);
  }
}
