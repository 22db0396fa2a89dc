/**
 * Error classes of lemur-pipeline: one base with a stable `code`, one subclass per meaning a
 * caller can act on, and the single table that turns a native error into its class.
 */

export type LemurErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INPUT_DATA'
  | 'CORRUPT_FILE'
  | 'IO'
  | 'OUT_OF_MEMORY'
  | 'UNSUPPORTED_CPU'
  | 'INTERNAL'
  | 'CLOSED'
  | 'RESOURCE_BUSY'
  | 'CONFIG'
  | 'FAISS'
  | 'STORE'
  | 'PIPELINE'
  | 'VERSION_CONFLICT'
  | 'NOT_READY'
  | 'OVERLOADED'
  | 'UNAVAILABLE';

export class LemurError extends Error {
  readonly code: LemurErrorCode;
  constructor(code: LemurErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A caller passed a value of the wrong type, shape or range. */
export class InvalidArgumentError extends LemurError {
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** Where in the input a data problem was found. */
export interface InputLocation {
  file?: string;
  row?: number;
  field?: string;
}

/** Bad input data (NaN, an empty document, a duplicate id, a wrong length): names file, row and field. */
export class InputDataError extends LemurError {
  readonly file: string | undefined;
  readonly row: number | undefined;
  readonly field: string | undefined;
  constructor(message: string, where: InputLocation = {}, options?: ErrorOptions) {
    super('INPUT_DATA', message, options);
    this.file = where.file;
    this.row = where.row;
    this.field = where.field;
  }
}

/** A file that is not what it claims: magic, version, size or checksum. */
export class CorruptFileError extends LemurError {
  readonly path: string | undefined;
  constructor(message: string, path?: string, options?: ErrorOptions) {
    super('CORRUPT_FILE', message, options);
    this.path = path;
  }
}

export class IoError extends LemurError {
  constructor(message: string, options?: ErrorOptions) {
    super('IO', message, options);
  }
}

export class NativeOutOfMemoryError extends LemurError {
  constructor(message: string, options?: ErrorOptions) {
    super('OUT_OF_MEMORY', message, options);
  }
}

/** A forced kernel (LEMUR_KERNEL or the `kernel` option) that this CPU cannot run. */
export class UnsupportedCpuError extends LemurError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNSUPPORTED_CPU', message, options);
  }
}

export class InternalError extends LemurError {
  constructor(message: string, options?: ErrorOptions) {
    super('INTERNAL', message, options);
  }
}

/** An exception raised by the Faiss library (message kept). */
export class FaissError extends LemurError {
  constructor(message: string, options?: ErrorOptions) {
    super('FAISS', message, options);
  }
}

/** An object-store operation failed: names the store, the key and whether the object was missing. */
export class StoreError extends LemurError {
  readonly key: string;
  readonly notFound: boolean;
  constructor(message: string, key: string, notFound = false, options?: ErrorOptions) {
    super('STORE', message, options);
    this.key = key;
    this.notFound = notFound;
  }
}

/**
 * An object that does not exist (S3 404 / NoSuchKey, a missing file of a folder store). Permanent
 * in a job: a source key that is not there fails its job once, naming the key.
 */
export class ObjectNotFoundError extends StoreError {
  constructor(store: string, key: string, options?: ErrorOptions) {
    super(`${store}: no object '${key}'`, key, true, options);
  }
}

/**
 * The store refused access to an object (S3 403: AccessDenied, a bad key id or signature).
 * Permanent in a job: retrying with the same credentials fails the same way.
 */
export class StoreAccessDeniedError extends StoreError {
  constructor(store: string, what: string, key: string, detail: string, options?: ErrorOptions) {
    super(`${store}: access denied ${what} '${key}': ${detail}`, key, false, options);
  }
}

/** A build or job that failed in the queue; the message carries the job's failed reason. */
export class PipelineError extends LemurError {
  constructor(message: string, options?: ErrorOptions) {
    super('PIPELINE', message, options);
  }
}

/** One shard a build or ingest could not use, and why (the reason names row and field when the data is at fault). */
export interface ShardFailure {
  source: string;
  reason: string;
}

/**
 * A build or ingest whose shards failed: every bad shard at once, one line each, and nothing was
 * published. Permanent: the same inputs fail the same way, so the job is not retried.
 */
export class ShardFailuresError extends LemurError {
  readonly failures: ShardFailure[];
  readonly shards: number;
  constructor(what: string, failures: ShardFailure[], shards: number) {
    const lines = failures.map((f) => `  ${f.reason.includes(f.source) ? f.reason : `${f.source}: ${f.reason}`}`);
    super('INPUT_DATA', `${what}: ${failures.length} of ${shards} shard${shards === 1 ? '' : 's'} failed, nothing was published:\n${lines.join('\n')}`);
    this.failures = failures;
    this.shards = shards;
  }
}

/**
 * Another writer moved `current` while this one derived a version from it (an ingest, delete,
 * compact or promotion racing another): nothing was lost; run the command again.
 */
export class VersionConflictError extends LemurError {
  readonly expected: string | undefined;
  readonly actual: string | undefined;
  constructor(message: string, expected: string | undefined, actual: string | undefined) {
    super('VERSION_CONFLICT', message);
    this.expected = expected;
    this.actual = actual;
  }
}

/** A method called on a native object after close(). */
export class ClosedError extends LemurError {
  constructor(what: string) {
    super('CLOSED', `${what} is closed`);
  }
}

/** close() while a call on the object is still running. */
export class ResourceBusyError extends LemurError {
  constructor(message: string) {
    super('RESOURCE_BUSY', message);
  }
}

/** An environment variable or flag with an invalid value. */
export class ConfigError extends LemurError {
  constructor(message: string) {
    super('CONFIG', message);
  }
}

interface NativeErrorShape {
  message?: string;
  lemurCode?: string;
  row?: number;
  field?: string;
}

/**
 * Turns an error thrown or rejected by the addon into its LemurError class, message unchanged,
 * with the JS stack captured before the call (the native one says nothing useful).
 * `file` is the path the operation worked on, attached to input and corrupt-file errors.
 */
export function fromNativeError(err: unknown, stack?: string, file?: string): Error {
  if (err instanceof LemurError || typeof err !== 'object' || err === null) return err as Error;
  const e = err as NativeErrorShape;
  const message = e.message ?? String(err);
  let out: LemurError;
  switch (e.lemurCode) {
    case 'INVALID_ARGUMENT': out = new InvalidArgumentError(message); break;
    case 'INPUT_DATA': {
      const where: InputLocation = {};
      if (file !== undefined) where.file = file;
      if (e.row !== undefined) where.row = e.row;
      if (e.field !== undefined) where.field = e.field;
      out = new InputDataError(file ? `${file}: ${message}` : message, where);
      break;
    }
    case 'CORRUPT_FILE': out = new CorruptFileError(message, file); break;
    case 'IO': out = new IoError(message); break;
    case 'OUT_OF_MEMORY': out = new NativeOutOfMemoryError(message); break;
    case 'UNSUPPORTED_CPU': out = new UnsupportedCpuError(message); break;
    case 'RESOURCE_BUSY': out = new ResourceBusyError(message); break;
    case 'INTERNAL': out = new InternalError(message); break;
    case 'FAISS': out = new FaissError(message); break;
    default: return err as Error;
  }
  if (stack) out.stack = `${out.name}: ${out.message}\n${stack.split('\n').slice(1).join('\n')}`;
  return out;
}
