/**
 * S3Store: an S3-compatible bucket (AWS, MinIO, R2, Ceph, s3rver) as the object store, under a
 * key prefix. Credentials come from the standard AWS chain; LEMUR_S3_ENDPOINT and
 * LEMUR_S3_FORCE_PATH_STYLE point it elsewhere. PUTs are single objects (atomic by S3's own
 * semantics; multipart via lib-storage for streams), GETs take byte ranges.
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
import type { Readable } from 'node:stream';

import { loadServiceConfig } from '../config.js';
import { StoreError } from '../errors.js';
import { checkKey, type ObjectInfo, type ObjectStore } from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or ending without '/'). */
  prefix?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Default region when the AWS chain names none. @defaultValue 'us-east-1' */
  region?: string;
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

  constructor(o: S3StoreOptions) {
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

  async put(key: string, body: Uint8Array | Readable): Promise<void> {
    const full = this.#key(key);
    try {
      const up = new Upload({ client: this.#client, params: { Bucket: this.#bucket, Key: full, Body: body } });
      await up.done();
    } catch (err) {
      throw this.#fail('writing', key, err);
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
