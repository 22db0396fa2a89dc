/**
 * The LEMUR model file (".lemur"), version 1.0: a fixed 32-byte header, a JSON header, then raw
 * little-endian float32 arrays, each on a 64-byte boundary with its own XXH64.
 *
 *   offset  size  field
 *        0     8  magic "LEMURMDL"
 *        8     2  major version (1); readers reject other majors
 *       10     2  minor version (0)
 *       12     4  reserved (0)
 *       16     8  JSON header length in bytes (uint64)
 *       24     8  XXH64 of the JSON header bytes (uint64)
 *       32     …  JSON header (UTF-8): { format, version, meta, arrays: [{ name, shape, offset, bytes, xxh64 }] }
 *  aligned      …  arrays, at the offsets the JSON names
 *
 * Written atomically (temp file + rename); read back bit for bit.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';

import { CorruptFileError, InvalidArgumentError } from '../errors.js';
import { checksum } from '../native/checksum.js';

const MAGIC = Buffer.from('LEMURMDL', 'latin1');
const MAJOR = 1;
const MINOR = 0;
const FIXED = 32;

export interface ArtifactArrayEntry {
  name: string;
  shape: number[];
  offset: number;
  bytes: number;
  xxh64: string;
}

export interface Artifact {
  meta: Record<string, unknown>;
  arrays: Map<string, Float32Array>;
}

function align64(x: number): number {
  return Math.ceil(x / 64) * 64;
}

/** Writes meta + named float32 arrays (with shapes) atomically to `path`. */
export async function writeArtifact(path: string, meta: Record<string, unknown>, arrays: { name: string; shape: number[]; data: Float32Array }[]): Promise<void> {
  const entries: ArtifactArrayEntry[] = [];
  for (const a of arrays) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (n !== a.data.length) throw new InvalidArgumentError(`array ${a.name}: shape ${JSON.stringify(a.shape)} does not match ${a.data.length} values`);
    entries.push({ name: a.name, shape: a.shape, offset: 0, bytes: a.data.byteLength, xxh64: await checksum(a.data) });
  }
  // Offsets depend on the JSON length, which depends on the offsets: iterate until stable.
  let json = '';
  for (let pass = 0; pass < 4; pass++) {
    let at = align64(FIXED + Buffer.byteLength(json));
    for (const e of entries) {
      e.offset = at;
      at = align64(at + e.bytes);
    }
    const next = JSON.stringify({ format: 'lemur-model', version: `${MAJOR}.${MINOR}`, meta, arrays: entries });
    if (next === json) break;
    json = next;
  }
  const jsonBytes = Buffer.from(json, 'utf8');
  const header = Buffer.alloc(FIXED);
  MAGIC.copy(header, 0);
  header.writeUInt16LE(MAJOR, 8);
  header.writeUInt16LE(MINOR, 10);
  header.writeBigUInt64LE(BigInt(jsonBytes.length), 16);
  header.writeBigUInt64LE(BigInt(`0x${await checksum(jsonBytes)}`), 24);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(header, 0, FIXED, 0);
    await fh.write(jsonBytes, 0, jsonBytes.length, FIXED);
    for (let i = 0; i < arrays.length; i++) {
      const d = arrays[i]!.data;
      await fh.write(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), 0, d.byteLength, entries[i]!.offset);
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Reads and verifies an artifact. @throws CorruptFileError naming the path and the problem */
export async function readArtifact(path: string): Promise<Artifact> {
  const buf = await readFile(path);
  const bad = (what: string): CorruptFileError => new CorruptFileError(`model ${path}: ${what}`, path);
  if (buf.length < FIXED) throw bad(`file is ${buf.length} bytes, shorter than the ${FIXED}-byte header`);
  if (!buf.subarray(0, 8).equals(MAGIC)) throw bad('bad magic (not a LEMUR model)');
  const major = buf.readUInt16LE(8);
  if (major !== MAJOR) throw bad(`version ${major}.${buf.readUInt16LE(10)} is not readable by this reader (${MAJOR}.x)`);
  const jsonLen = Number(buf.readBigUInt64LE(16));
  if (FIXED + jsonLen > buf.length) throw bad('JSON header is truncated');
  const jsonBytes = buf.subarray(FIXED, FIXED + jsonLen);
  if (BigInt(`0x${await checksum(jsonBytes)}`) !== buf.readBigUInt64LE(24)) throw bad('JSON header checksum mismatch');
  const header = JSON.parse(jsonBytes.toString('utf8')) as { format: string; meta: Record<string, unknown>; arrays: ArtifactArrayEntry[] };
  if (header.format !== 'lemur-model') throw bad(`format is '${header.format}', expected 'lemur-model'`);
  const arrays = new Map<string, Float32Array>();
  for (const e of header.arrays) {
    if (e.offset + e.bytes > buf.length) throw bad(`array ${e.name} is truncated (needs bytes up to ${e.offset + e.bytes}, file has ${buf.length})`);
    // copy: the file buffer's alignment is not guaranteed to suit a Float32Array view
    const data = new Float32Array(e.bytes / 4);
    new Uint8Array(data.buffer).set(buf.subarray(e.offset, e.offset + e.bytes));
    if ((await checksum(data)) !== e.xxh64) throw bad(`array ${e.name} checksum mismatch`);
    arrays.set(e.name, data);
  }
  return { meta: header.meta, arrays };
}
