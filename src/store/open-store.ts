/** The object store named by LEMUR_STORE (or an explicit URL): a folder, file://… or s3://bucket/prefix. */
import { fileURLToPath } from 'node:url';

import { config } from '../config.js';
import { ConfigError } from '../errors.js';
import { LocalStore } from './local-store.js';
import type { ObjectStore } from './object-store.js';
import { S3Store } from './s3-store.js';

export function openStore(url: string = config().store): ObjectStore {
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    if (!bucket) throw new ConfigError(`Expected s3://bucket[/prefix] but received '${url}'`);
    const c = config();
    return new S3Store({
      bucket,
      prefix: slash < 0 ? '' : rest.slice(slash + 1),
      ...(c.s3Endpoint ? { endpoint: c.s3Endpoint } : {}),
      forcePathStyle: c.s3ForcePathStyle,
      maxAttempts: c.s3MaxAttempts,
      retryMode: c.s3RetryMode,
      socketTimeoutMs: c.s3SocketTimeoutMs,
    });
  }
  if (url.startsWith('file://')) return new LocalStore(fileURLToPath(url));
  return new LocalStore(url);
}
