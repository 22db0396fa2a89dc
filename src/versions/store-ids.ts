/**
 * The external ids of a token store read with ranged reads: the 64-byte header, then the ids
 * section only (docs/token-store.md), so finding ids (upserts, deletes) does not download or
 * checksum every shard's vectors. The header is checked (magic, major version, XXH64) and the
 * section bounds against the file size; the whole artifact's integrity is the version manifest's
 * sha256 (`verifyVersion`).
 */
import { CorruptFileError } from '../errors.js';
import { checksum } from '../native/checksum.js';
import type { ObjectStore } from '../store/object-store.js';

const HEADER = 64;
const align = (n: number): number => Math.ceil(n / 64) * 64;

export async function readStoreIds(store: ObjectStore, key: string): Promise<string[]> {
  const where = `${store.url}/${key}`;
  const bad = (why: string): CorruptFileError => new CorruptFileError(`${where}: ${why}`, where);
  const h = await store.getRange(key, 0, HEADER);
  if (h.length < HEADER || h.toString('latin1', 0, 8) !== 'LEMURTS\0') throw bad('not a token store (bad magic)');
  if (h.readUInt16LE(8) !== 1) throw bad(`unsupported major version ${h.readUInt16LE(8)}`);
  const sum = await checksum(h.subarray(0, 56));
  if (sum !== h.readBigUInt64LE(56).toString(16).padStart(16, '0')) throw bad('header checksum mismatch');
  const dtypeBytes = h[12] === 1 ? 4 : h[12] === 2 ? 2 : 0;
  const idKind = h[13];
  if (!dtypeBytes || (idKind !== 1 && idKind !== 2)) throw bad('unknown dtype or id kind');
  const dim = h.readUInt32LE(16);
  const nDocs = Number(h.readBigUInt64LE(24));
  const nTokens = Number(h.readBigUInt64LE(32));
  const size = Number(h.readBigUInt64LE(40));
  const idsAt = HEADER + align(8 * (nDocs + 1)) + align(nTokens * dim * dtypeBytes);
  if (idKind === 1) {
    if (idsAt + 8 * nDocs > size) throw bad('ids section beyond the end of the file');
    const raw = await store.getRange(key, idsAt, idsAt + 8 * nDocs);
    return Array.from({ length: nDocs }, (_, i) => raw.readBigInt64LE(i * 8).toString());
  }
  const offBytes = 8 * (nDocs + 1);
  if (idsAt + offBytes > size) throw bad('ids section beyond the end of the file');
  const offs = await store.getRange(key, idsAt, idsAt + offBytes);
  const total = Number(offs.readBigUInt64LE(nDocs * 8));
  if (idsAt + offBytes + total > size) throw bad('id bytes beyond the end of the file');
  const bytes = await store.getRange(key, idsAt + offBytes, idsAt + offBytes + total);
  return Array.from({ length: nDocs }, (_, i) => bytes.toString('utf8', Number(offs.readBigUInt64LE(i * 8)), Number(offs.readBigUInt64LE((i + 1) * 8))));
}
