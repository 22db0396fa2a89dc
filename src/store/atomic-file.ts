/**
 * Streaming a byte source into a local file atomically: written under a temporary name beside
 * the target, checked against the expected size, fsynced, then renamed over the target, so a
 * reader sees the old file or the complete new one and a failure leaves neither a partial file
 * nor a temporary one. Holds one chunk at a time, never the whole content.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Chunk size of file reads while copying or uploading (Node's default is 64 KiB). */
export const COPY_CHUNK_BYTES = 1 << 20;

/** The temporary name a write to `path` uses until it is complete (LocalStore.list skips these). */
export function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Matches the names tempPath makes. */
export const TEMP_NAME = /\.tmp-\d+-[0-9a-f]{8}$/;

/**
 * A pass-through that counts bytes, reports progress, and fails the stream when the source
 * yields more or fewer bytes than expected (a file truncated or grown while read, a connection
 * cut before Content-Length): better an error than a short artifact under a good name.
 */
export class ByteMeter extends Transform {
  bytes = 0;
  readonly #expected: number | undefined;
  readonly #onProgress: ((done: number, total: number) => void) | undefined;
  readonly #what: string;

  constructor(what: string, expected?: number, onProgress?: (done: number, total: number) => void) {
    super();
    this.#what = what;
    this.#expected = expected;
    this.#onProgress = onProgress;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.#expected !== undefined && this.bytes > this.#expected) {
      cb(new Error(`${this.#what}: more than the expected ${this.#expected} bytes (changed while read?)`));
      return;
    }
    try {
      this.#onProgress?.(this.bytes, this.#expected ?? this.bytes);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.#expected !== undefined && this.bytes !== this.#expected) {
      cb(new Error(`${this.#what}: ended after ${this.bytes} of ${this.#expected} bytes`));
      return;
    }
    cb();
  }
}

export interface WriteFileAtomicOptions {
  /** Fail unless the source yields exactly this many bytes. */
  expectedBytes?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Streams `source` into `path` (parent folders created) through a temporary file, fsynced and
 * renamed into place. Returns the bytes written. The source is destroyed on failure.
 */
export async function writeFileAtomic(source: Readable, path: string, options: WriteFileAtomicOptions = {}): Promise<number> {
  const tmp = tempPath(path);
  const meter = new ByteMeter(path, options.expectedBytes, options.onProgress);
  try {
    await mkdir(dirname(path), { recursive: true });
    await pipeline(source, meter, createWriteStream(tmp, { flags: 'wx' }));
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    return meter.bytes;
  } catch (err) {
    source.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
