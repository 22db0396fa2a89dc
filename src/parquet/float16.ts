/**
 * IEEE binary16 ("half") ↔ float32 for Parquet sources: the FLOAT16 logical type and float16
 * blobs are widened on read, exactly (every half is a float32); the corpus writer narrows with
 * round to nearest even, bit for bit what native/core/half.h's float_to_half gives. Nothing here
 * decides which bytes are halves: shard-schema.ts and embeddings-dtype.ts do.
 */

/** The float32 of every half bit pattern, built once: a read widens a value with one lookup. */
const HALF_TO_FLOAT = buildTable();

function buildTable(): Float32Array {
  const out = new Float32Array(1 << 16);
  for (let h = 0; h < 1 << 16; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    // every term is exact in float64, and the result fits float32 exactly
    if (exp === 0) out[h] = sign * frac * 2 ** -24;
    else if (exp === 31) out[h] = frac ? NaN : sign * Infinity;
    else out[h] = sign * (1024 + frac) * 2 ** (exp - 25);
  }
  return out;
}

/** The float32 value of half bit pattern `h` (NaN payloads are not kept). */
export function halfToFloat(h: number): number {
  return HALF_TO_FLOAT[h & 0xffff]!;
}

/**
 * Little-endian halves in `bytes` (an even length) widened into `out` from index 0; a new array
 * when `out` is not given. Returns the filled part.
 */
export function decodeHalves(bytes: Uint8Array, out?: Float32Array): Float32Array {
  const n = bytes.byteLength >> 1;
  const dst = out ? out.subarray(0, n) : new Float32Array(n);
  // a Uint16Array view needs 2-byte alignment (host order is little-endian on every target we build for)
  if (bytes.byteOffset % 2 === 0) {
    const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) dst[i] = HALF_TO_FLOAT[src[i]!]!;
  } else {
    for (let i = 0; i < n; i++) dst[i] = HALF_TO_FLOAT[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  }
  return dst;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The half nearest `x` (ties to even; beyond the half range ±Infinity, NaN stays NaN), as native float_to_half. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0);
  if (abs >= 0x477ff000) return sign | 0x7c00; // rounds to 65520 or more: Infinity
  if (abs < 0x38800000) {
    // a subnormal half (or zero): in units of 2^-24
    if (abs < 0x33000000) return sign;
    const e = abs >>> 23;
    const m = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && r & 1)) r++;
    return sign | r;
  }
  let r = (abs >>> 13) - (112 << 10);
  const rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

/** `values` as little-endian halves (round to nearest even). */
export function encodeHalves(values: ArrayLike<number>): Uint8Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]!);
  return new Uint8Array(out.buffer);
}
