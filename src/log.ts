/**
 * The one logger, on pino: JSON lines on stderr (stdout is reserved for CLI results and
 * benchmark JSON), human-readable lines when stderr is a terminal (LEMUR_LOG_FORMAT=json|pretty
 * overrides). Every line carries the job context of the code that logs it (job id, queue,
 * version, shard: set per job by the worker through AsyncLocalStorage, so stages deep inside a
 * job need not pass it). Credentials never reach a line: URL user-info passwords, presigned-URL
 * signatures and credentials, and fields named like secrets are scrubbed from every string.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';

import { pino, type Logger as Pino } from 'pino';

import { loadServiceConfig } from './config.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const SECRET_FIELD = /pass(word)?|secret|token|authorization|credential|access[_-]?key|api[_-]?key|cookie/i;
const SECRET_TEXT: [RegExp, string][] = [
  // scheme://user:password@host → scheme://user:***@host (redis://, s3 endpoints, http basic)
  [/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^@\s/]+@/gi, '$1:***@'],
  // presigned URLs (SigV4 and SigV2 query parameters)
  [/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"']+/gi, '$1***'],
  [/([?&](?:Signature|AWSAccessKeyId|sig)=)[^&\s"']+/gi, '$1***'],
  // Authorization headers and AWS access key ids
  [/(Authorization:?\s*(?:Basic|Bearer|AWS4-HMAC-SHA256)\s+)[^\s"']+/gi, '$1***'],
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, '$1****************'],
];

/** A string with credentials replaced by ***. */
export function scrub(text: string): string {
  let out = text;
  for (const [re, by] of SECRET_TEXT) out = out.replace(re, by);
  return out;
}

/** A JSON-safe copy of a log field: bigints as strings, errors as name + message, secrets scrubbed. */
function clean(value: unknown, key = '', depth = 0): unknown {
  if (key && SECRET_FIELD.test(key) && value !== undefined && value !== null && typeof value !== 'boolean' && typeof value !== 'number') return '[redacted]';
  if (typeof value === 'string') return scrub(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: scrub(value.message) };
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => clean(v, '', depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = clean(v, k, depth + 1);
  return out;
}

const jobContext = new AsyncLocalStorage<Record<string, unknown>>();

/** Runs `fn` with fields every log line inside it carries (a worker sets job id, queue, version, shard). */
export function withLogContext<T>(fields: Record<string, unknown>, fn: () => T): T {
  return jobContext.run({ ...jobContext.getStore(), ...fields }, fn);
}

const COLORS: Record<string, string> = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' };

/** One pino JSON line as `12:00:01 INFO  msg  key=value …` (colored for a terminal). */
function formatLine(line: string, color = true): string {
  try {
    const { time, level, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const t = typeof time === 'string' ? time.slice(11, 19) : '';
    const lv = String(level);
    const kv = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    if (!color) return `${t} ${lv.toUpperCase().padEnd(5)} ${String(msg)}${kv ? `  ${kv}` : ''}`;
    return `${t} ${COLORS[lv] ?? ''}${lv.toUpperCase().padEnd(5)}\x1b[0m ${String(msg)}${kv ? `  \x1b[90m${kv}\x1b[0m` : ''}`;
  } catch {
    return line;
  }
}

function usePretty(): boolean {
  const f = loadServiceConfig().logFormat;
  if (f === 'json') return false;
  if (f === 'pretty') return true;
  return process.stderr.isTTY === true;
}

const LEVELS: Record<string, number> = { debug: 20, info: 30, warn: 40, error: 50 };

/** Where each JSON line goes: stderr (pretty on a terminal) unless routeLogs() says otherwise. */
type Sink = (line: string, level: string) => void;
const pretty = usePretty();
const stderrSink: Sink = (line) => {
  process.stderr.write(`${pretty ? formatLine(line) : line}\n`);
};
let sink: Sink = stderrSink;

// pino writes each line here synchronously; the line is handed to the current sink
const router = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      const level = /"level":"([a-z]+)"/.exec(line)?.[1] ?? 'info';
      sink(line, level);
    }
    done();
  },
});

const root: Pino = pino(
  {
    level: 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: () => jobContext.getStore() ?? {},
  },
  router,
);

/**
 * Sends every log line to a file (JSON lines) and only lines at `echoLevel` and above to `echo`
 * as readable text — for a terminal that shows progress bars instead of worker chatter. Returns
 * the function that puts stderr back.
 */
export function routeLogs(file: string, echo: (text: string) => void, echoLevel: Level = 'warn'): () => void {
  const fd = openSync(file, 'a');
  const min = LEVELS[echoLevel]!;
  sink = (line, level) => {
    writeSync(fd, `${line}\n`);
    if ((LEVELS[level] ?? 30) >= min) echo(formatLine(line, false));
  };
  return () => {
    sink = stderrSink;
    closeSync(fd);
  };
}

/** Sets the minimum level written (the CLI's --quiet/--verbose). */
export function setLogLevel(level: Level): void {
  root.level = level;
}

function make(p: Pino): Logger {
  const write = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (!p.isLevelEnabled(level)) return;
    p[level](fields ? (clean(fields) as Record<string, unknown>) : {}, scrub(msg));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => make(p.child(clean(fields) as Record<string, unknown>)),
  };
}

export const log: Logger = make(root);
