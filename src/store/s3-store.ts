/**
 * S3Store: an S3-compatible bucket (AWS, MinIO, R2, Ceph, s3rver) as the object store, under a
 * key prefix. Credentials come from the standard AWS chain; LEMUR_S3_ENDPOINT and
 * LEMUR_S3_FORCE_PATH_STYLE point it elsewhere. Uploads go through lib-storage: one PUT for a
 * small body, multipart above one part (the object appears only when the upload completes, and a
 * failed upload is aborted). Downloads stream the response body (getFile, getStream); GETs take
 * byte ranges. Memory held by a transfer: about queueSize × partSize for an upload, one socket
 * buffer for a download, whatever the object's size.
 */
import {
  PutObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';

import { loadServiceConfig } from '../config.js';
import { InvalidArgumentError, StoreError } from '../errors.js';
import { ByteMeter, COPY_CHUNK_BYTES, writeFileAtomic } from './atomic-file.js';
import { checkKey, type ObjectInfo, type ObjectStore, type PutFileOptions, type TransferOptions } from './object-store.js';

/** S3's smallest part (all but the last) and most parts of a multipart upload. */
const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or ending without '/'). */
  prefix?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Default region when the AWS chain names none. @defaultValue 'us-east-1' */
  region?: string;
  /**
   * Bytes per part of a multipart upload, at least 5 MiB (S3's minimum); raised for a file that
   * would need more than 10 000 parts. @defaultValue 8 MiB (the AWS CLI's)
   */
  partSize?: number;
  /** Parts uploaded at once (each held in memory while it is sent). @defaultValue 4 */
  queueSize?: number;
}

function notFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export class S3Store implements ObjectStore {
  readonly url: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;

  constructor(o: S3StoreOptions) {
    this.#partSize = o.partSize ?? 8 * 1024 * 1024;
    this.#queueSize = o.queueSize ?? 4;
    if (!Number.isInteger(this.#partSize) || this.#partSize < MIN_PART_BYTES) throw new InvalidArgumentError(`Expected partSize to be an integer ≥ ${MIN_PART_BYTES} (5 MiB, S3's minimum part) but received ${o.partSize}`);
    if (!Number.isInteger(this.#queueSize) || this.#queueSize < 1) throw new InvalidArgumentError(`Expected queueSize to be an integer ≥ 1 but received ${o.queueSize}`);
    this.#bucket = o.bucket;
    this.#prefix = (o.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.url = `s3://${o.bucket}${this.#prefix ? `/${this.#prefix}` : ''}`;
    const cfg: S3ClientConfig = {
      region: loadServiceConfig().awsRegion ?? o.region ?? 'us-east-1',
      forcePathStyle: o.forcePathStyle ?? false,
      // Only checksum when an operation requires it: S3-compatible servers (s3rver, older MinIO)
      // store the aws-chunked framing of streamed PUTs as object bytes otherwise.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (o.endpoint) cfg.endpoint = o.endpoint;
    this.#client = new S3Client(cfg);
  }

  #key(key: string): string {
    checkKey(key);
    return this.#prefix ? `${this.#prefix}/${key}` : key;
  }

  #fail(what: string, key: string, err: unknown): StoreError {
    const missing = notFound(err);
    return new StoreError(`${this.url}: ${missing ? `no object '${key}'` : `${what} '${key}' failed: ${(err as Error)?.message ?? String(err)}`}`, key, missing, { cause: err });
  }

  /** A lib-storage upload with this store's part and queue sizes (raised to fit `size` in 10 000 parts). */
  #upload(full: string, body: Uint8Array | Readable, size?: number): Upload {
    const partSize = Math.max(this.#partSize, Math.ceil((size ?? 0) / MAX_PARTS));
    return new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: full, Body: body, ...(size !== undefined ? { ContentLength: size } : {}) },
      partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    });
  }

  async put(key: string, body: Uint8Array | Readable): Promise<void> {
    const full = this.#key(key);
    try {
      await this.#upload(full, body).done();
    } catch (err) {
      throw this.#fail('writing', key, err);
    }
  }

  async putFile(key: string, path: string, options: PutFileOptions = {}): Promise<void> {
    const full = this.#key(key);
    // the first failure of the file's side (read error, size changed), which an aborted upload's
    // own error would otherwise hide
    let sourceError: Error | undefined;
    try {
      const fh = await open(path, 'r');
      const size = await fh.stat().then((st) => st.size, async (err: unknown) => {
        await fh.close();
        throw err;
      });
      const meter = new ByteMeter(path, size);
      const body = pipeline(fh.createReadStream({ highWaterMark: COPY_CHUNK_BYTES }), meter, (err) => {
        if (err) sourceError ??= err;
      });
      const up = this.#upload(full, body, size);
      const onProgress = options.onProgress;
      if (onProgress) {
        up.on('httpUploadProgress', (p) => {
          try {
            onProgress(p.loaded ?? 0, size);
          } catch (err) {
            sourceError ??= err as Error;
            void up.abort();
          }
        });
      }
      try {
        await up.done();
      } finally {
        body.destroy();
      }
      if (sourceError) throw sourceError; // a callback that threw after the last part
      if (options.move) await rm(path, { force: true });
    } catch (err) {
      const cause = sourceError ?? err;
      throw new StoreError(`${this.url}: writing '${key}' from ${path} failed: ${(cause as Error)?.message ?? String(cause)}`, key, false, { cause });
    }
  }

  async #read(key: string, range?: string): Promise<Buffer> {
    const full = this.#key(key);
    try {
      const r = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: full, ...(range ? { Range: range } : {}) }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (err) {
      throw this.#fail('reading', key, err);
    }
  }

  async get(key: string): Promise<Buffer> {
    return this.#read(key);
  }

  async #body(key: string): Promise<{ body: Readable; size: number; etag: string }> {
    const full = this.#key(key);
    try {
      const r = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: full }));
      // in Node the SDK's body is the http response (an IncomingMessage, so a Readable)
      return { body: r.Body as Readable, size: Number(r.ContentLength ?? 0), etag: String(r.ETag ?? '') };
    } catch (err) {
      throw this.#fail('reading', key, err);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const { body, size } = await this.#body(key);
    // a connection cut before Content-Length fails the stream instead of ending it early
    return pipeline(body, new ByteMeter(`${this.url}/${key}`, size), () => undefined);
  }

  async getFile(key: string, path: string, options: TransferOptions = {}): Promise<ObjectInfo> {
    const { body, size, etag } = await this.#body(key);
    try {
      await writeFileAtomic(body, path, { expectedBytes: size, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    } catch (err) {
      throw new StoreError(`${this.url}: downloading '${key}' to ${path} failed: ${(err as Error).message}`, key, false, { cause: err });
    }
    return { key, size, etag };
  }

  /**
   * Compare-and-swap with S3 conditional writes: the object's bytes are compared, then the PUT
   * carries If-Match of the ETag read (If-None-Match: * when it must not exist), so a writer
   * that got in between makes it fail with 412 instead of being overwritten.
   */
  async swap(key: string, expected: Uint8Array | undefined, body: Uint8Array): Promise<boolean> {
    const full = this.#key(key);
    let etag: string | undefined;
    try {
      const r = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: full }));
      const now = Buffer.from(await r.Body!.transformToByteArray());
      if (expected === undefined || Buffer.compare(now, expected) !== 0) return false;
      etag = r.ETag;
    } catch (err) {
      if (!notFound(err)) throw this.#fail('reading', key, err);
      if (expected !== undefined) return false;
    }
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: full, Body: body, ...(etag ? { IfMatch: etag } : { IfNoneMatch: '*' }) }));
      return true;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || status === 409) return false;
      throw this.#fail('writing', key, err);
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    return this.#read(key, `bytes=${start}-${end - 1}`);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const full = this.#key(key);
    try {
      const r = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: full }));
      return { key, size: Number(r.ContentLength ?? 0), etag: String(r.ETag ?? '') };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw this.#fail('stat', key, err);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const base = this.#prefix ? `${this.#prefix}/` : '';
    let token: string | undefined;
    try {
      do {
        const r = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: base + prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of r.Contents ?? []) {
          if (o.Key) out.push({ key: o.Key.slice(base.length), size: Number(o.Size ?? 0), etag: String(o.ETag ?? '') });
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.#fail('listing', prefix, err);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const full = this.#key(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: full }));
    } catch (err) {
      if (!notFound(err)) throw this.#fail('deleting', key, err);
    }
  }

  /** Closes the client's sockets. */
  destroy(): void {
    this.#client.destroy();
  }
}
