/**
 * S3Store: an S3-compatible bucket (AWS, MinIO, R2, Ceph, s3rver) as the object store, under a
 * key prefix. Credentials come from the standard AWS chain; LEMUR_S3_ENDPOINT and
 * LEMUR_S3_FORCE_PATH_STYLE point it elsewhere. Uploads go through lib-storage: one PUT for a
 * small body, multipart above one part (the object appears only when the upload completes, and a
 * failed upload is aborted). Downloads stream the response body (getFile, getStream); GETs take
 * byte ranges. Memory held by a transfer: about queueSize × partSize for an upload, one socket
 * buffer for a download, whatever the object's size.
 *
 * Retries: every request goes through the AWS SDK's own retry (mode and attempts configured:
 * LEMUR_S3_RETRY_MODE, LEMUR_S3_MAX_ATTEMPTS), which covers errors seen before a response is
 * returned (5xx, SlowDown, resets, socket timeouts). A body cut after its response began is
 * outside the SDK's reach: downloads then resume with a ranged GET of the rest (If-Match the
 * first ETag, so two versions are never spliced), small reads are re-issued, and an upload whose
 * completion answer was lost is re-sent once — each paced by the client's own retry strategy
 * (same backoff, same attempt limit, same quota), not a second policy. 403 and 404 are never
 * retried and become StoreAccessDeniedError / ObjectNotFoundError naming the key.
 */
import {
  PutObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type GetObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { open, rm } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';

import { loadServiceConfig } from '../config.js';
import { InvalidArgumentError, ObjectNotFoundError, StoreAccessDeniedError, StoreError } from '../errors.js';
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
  /** Tries per request, the first included (LEMUR_S3_MAX_ATTEMPTS). @defaultValue 5 */
  maxAttempts?: number;
  /** The SDK's retry mode (LEMUR_S3_RETRY_MODE). @defaultValue 'standard' */
  retryMode?: 'standard' | 'adaptive';
  /** A request whose socket is silent this long fails and is retried (LEMUR_S3_SOCKET_TIMEOUT_MS). @defaultValue 60000 */
  socketTimeoutMs?: number;
}

type SdkError = { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };

/** The object is missing (not the bucket, not a multipart upload: those 404s name something else). */
function notFound(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || (e?.$metadata?.httpStatusCode === 404 && e?.name !== 'NoSuchBucket' && e?.name !== 'NoSuchUpload');
}

/** 403 answers (HEAD has no body, so no code: its status is the only sign). */
function accessDenied(err: unknown): boolean {
  const e = err as SdkError;
  return e?.$metadata?.httpStatusCode === 403 || e?.name === 'AccessDenied' || e?.name === 'InvalidAccessKeyId' || e?.name === 'SignatureDoesNotMatch';
}

/** The subset of the SDK's retry strategy (standard and adaptive alike) that paces a re-issued transfer. */
interface RetryStrategy {
  acquireInitialRetryToken(scope: string): Promise<RetryToken>;
  refreshRetryTokenForRetry(token: RetryToken, info: { errorType: 'TRANSIENT' }): Promise<RetryToken>;
  recordSuccess(token: RetryToken): void;
}
type RetryToken = { getRetryCount(): number };

/** A response that broke off after it began (a body cut short, an answer lost): the failures a re-issue is for. */
class BodyCut extends Error {}

/**
 * A multipart upload whose CompleteMultipartUpload succeeded but whose answer was lost: the SDK's
 * retry of the completion then finds the upload gone (404 NoSuchUpload). Sending the whole object
 * again is safe: a PUT of the same bytes to the same key.
 */
function lostCompletion(err: unknown): boolean {
  return (err as SdkError)?.name === 'NoSuchUpload';
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
      maxAttempts: o.maxAttempts ?? 5,
      retryMode: o.retryMode ?? 'standard',
      requestHandler: { socketTimeout: o.socketTimeoutMs ?? 60_000 },
    };
    if (o.endpoint) cfg.endpoint = o.endpoint;
    this.#client = new S3Client(cfg);
  }

  #key(key: string): string {
    checkKey(key);
    return this.#prefix ? `${this.#prefix}/${key}` : key;
  }

  #fail(what: string, key: string, err: unknown): StoreError {
    if (notFound(err)) return new ObjectNotFoundError(this.url, key, { cause: err });
    const message = (err as Error)?.message || (err as SdkError)?.name || String(err);
    if (accessDenied(err)) return new StoreAccessDeniedError(this.url, what, key, message, { cause: err });
    return new StoreError(`${this.url}: ${what} '${key}' failed: ${message}`, key, false, { cause: err });
  }

  /**
   * Paces re-issued transfers with the client's own retry strategy: `retry` waits its backoff,
   * or throws the final StoreError once LEMUR_S3_MAX_ATTEMPTS tries (or its quota) are spent.
   */
  async #pacer(what: string, key: string): Promise<{ retry: (reason: string, cause: unknown) => Promise<void>; done: () => void }> {
    const strategy = (await this.#client.config.retryStrategy()) as unknown as RetryStrategy;
    let token = await strategy.acquireInitialRetryToken('lemur-transfer');
    return {
      retry: async (reason, cause) => {
        try {
          token = await strategy.refreshRetryTokenForRetry(token, { errorType: 'TRANSIENT' });
        } catch {
          throw new StoreError(`${this.url}: ${what} '${key}' failed after ${token.getRetryCount() + 1} tries: ${reason}`, key, false, { cause });
        }
      },
      done: () => strategy.recordSuccess(token),
    };
  }

  /** Runs `attempt` again while it fails with a BodyCut; other errors pass through (the SDK retried those already). */
  async #reissue<T>(what: string, key: string, attempt: () => Promise<T>): Promise<T> {
    const pacer = await this.#pacer(what, key);
    for (;;) {
      try {
        const out = await attempt();
        pacer.done();
        return out;
      } catch (err) {
        if (!(err instanceof BodyCut)) throw err;
        await pacer.retry(err.message, err.cause);
      }
    }
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
    // a stream is consumed by the first try; bytes can be sent again
    const again = body instanceof Uint8Array;
    await this.#reissue('writing', key, async () => {
      try {
        await this.#upload(full, body).done();
      } catch (err) {
        if (again && lostCompletion(err)) throw new BodyCut(`the answer to completing the upload was lost: ${(err as Error).message}`, { cause: err });
        throw this.#fail('writing', key, err);
      }
    });
  }

  async putFile(key: string, path: string, options: PutFileOptions = {}): Promise<void> {
    const full = this.#key(key);
    // the file can be read again: an upload whose completion answer was lost is sent again
    await this.#reissue(`writing from ${path}`, key, () => this.#putFileOnce(full, key, path, options));
    if (options.move) await rm(path, { force: true });
  }

  async #putFileOnce(full: string, key: string, path: string, options: PutFileOptions): Promise<void> {
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
    } catch (err) {
      if (!sourceError && lostCompletion(err)) throw new BodyCut(`the answer to completing the upload was lost: ${(err as Error).message}`, { cause: err });
      const cause = sourceError ?? err;
      if (!sourceError && accessDenied(err)) throw this.#fail('writing', key, err);
      throw new StoreError(`${this.url}: writing '${key}' from ${path} failed: ${(cause as Error)?.message ?? String(cause)}`, key, false, { cause });
    }
  }

  /** One GET (of `range`, or whole) read into memory; a body cut short is read again. */
  async #read(key: string, range?: string): Promise<{ bytes: Buffer; etag: string | undefined }> {
    return this.#reissue('reading', key, async () => {
      const r = await this.#get(key, range ? { Range: range } : {});
      let bytes: Buffer;
      try {
        bytes = Buffer.from(await r.Body!.transformToByteArray());
      } catch (err) {
        throw new BodyCut((err as Error).message, { cause: err });
      }
      // a body that ends early without an error is cut all the same
      if (r.ContentLength !== undefined && bytes.length !== r.ContentLength) throw new BodyCut(`the body ended after ${bytes.length} of ${r.ContentLength} bytes`);
      return { bytes, etag: r.ETag };
    });
  }

  async #get(key: string, extra: { Range?: string; IfMatch?: string }): Promise<GetObjectCommandOutput> {
    try {
      return await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(key), ...extra }));
    } catch (err) {
      throw this.#fail('reading', key, err);
    }
  }

  async get(key: string): Promise<Buffer> {
    return (await this.#read(key)).bytes;
  }

  /**
   * The object's bytes as they arrive. A body cut part way resumes with a GET of the rest
   * (If-Match the first ETag: an object replaced meanwhile fails with 412 rather than splicing two
   * versions), at most LEMUR_S3_MAX_ATTEMPTS - 1 times, paced by the client's retry strategy.
   */
  async *#chunks(key: string, first: GetObjectCommandOutput, size: number): AsyncGenerator<Buffer> {
    const pacer = await this.#pacer('reading', key);
    // in Node the SDK's body is the http response (an IncomingMessage, so a Readable)
    let body = first.Body as Readable;
    let at = 0;
    try {
      for (;;) {
        let cut: unknown;
        try {
          for await (const chunk of body) {
            at += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
        } catch (err) {
          cut = err;
        }
        // more than declared is not a cut (ByteMeter downstream names it); all bytes is success
        if (at >= size) {
          pacer.done();
          return;
        }
        await pacer.retry(`cut at byte ${at} of ${size}: ${cut ? ((cut as Error).message ?? String(cut)) : 'the body ended early'}`, cut);
        body.destroy();
        const next = await this.#get(key, { Range: `bytes=${at}-`, ...(first.ETag ? { IfMatch: first.ETag } : {}) });
        body = next.Body as Readable;
      }
    } finally {
      body.destroy();
    }
  }

  async #body(key: string): Promise<{ body: Readable; size: number; etag: string }> {
    const r = await this.#get(key, {});
    const size = Number(r.ContentLength ?? 0);
    return { body: Readable.from(this.#chunks(key, r, size), { objectMode: false }), size, etag: String(r.ETag ?? '') };
  }

  async getStream(key: string): Promise<Readable> {
    const { body, size } = await this.#body(key);
    // a connection cut for good before Content-Length fails the stream instead of ending it early
    return pipeline(body, new ByteMeter(`${this.url}/${key}`, size), () => undefined);
  }

  async getFile(key: string, path: string, options: TransferOptions = {}): Promise<ObjectInfo> {
    const { body, size, etag } = await this.#body(key);
    try {
      await writeFileAtomic(body, path, { expectedBytes: size, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    } catch (err) {
      if (err instanceof StoreError) throw err;
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
      const now = await this.#read(key);
      if (expected === undefined || Buffer.compare(now.bytes, expected) !== 0) return false;
      etag = now.etag;
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
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
    return (await this.#read(key, `bytes=${start}-${end - 1}`)).bytes;
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
