/**
 * What a search request can run into, as typed errors the HTTP layer maps to a status: 400 for
 * the request's own fault (naming the field), 429 when the queue is full, 503 while no version is
 * loaded or a shard group cannot answer. Each carries what a client needs to act.
 */
import { InvalidArgumentError, LemurError } from '../errors.js';

/** A request field that is missing, of the wrong shape, or outside the limits (400). */
export class RequestError extends InvalidArgumentError {
  /** The field, as a path into the body: `queries[2][5]`, `tensor.shape`, `k`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** A request pinned a version this server does not hold (400). */
export class UnknownVersionError extends RequestError {
  readonly version: string;
  constructor(version: string, loaded: string[]) {
    super('version', `${version} is not loaded here (loaded: ${loaded.join(', ') || 'none'})`);
    this.version = version;
  }
}

/** No version is loaded yet, or the server is shutting down (503). */
export class NotReadyError extends LemurError {
  constructor(message: string) {
    super('NOT_READY', message);
  }
}

/** The search queue is full (429 with Retry-After): the server sheds load instead of growing memory. */
export class OverloadedError extends LemurError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('OVERLOADED', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A shard group did not answer in time or answered with an error (503 from a router). */
export class GroupUnavailableError extends LemurError {
  readonly groups: number[];
  constructor(message: string, groups: number[]) {
    super('UNAVAILABLE', message);
    this.groups = groups;
  }
}

/**
 * Shard groups no longer (or not yet) hold the version a router request pinned: a swap moved
 * them on. The router refreshes and retries once; if that does not help, it is a 503 like any
 * group that cannot answer.
 */
export class GroupVersionMissingError extends GroupUnavailableError {
  readonly version: string;
  constructor(version: string, groups: number[], detail: string) {
    super(`shard group${groups.length > 1 ? 's' : ''} ${groups.join(', ')} do${groups.length > 1 ? '' : 'es'} not hold version ${version}: ${detail}`, groups);
    this.version = version;
  }
}
