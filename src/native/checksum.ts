/** XXH64 checksums of binary data (native, off the event loop). */
import { binding, callNative } from './binding.js';

/** XXH64 (seed 0) of an array's bytes, as 16 hex digits. */
export async function checksum(data: ArrayBufferView): Promise<string> {
  return callNative(() => binding.xxh64(data));
}
