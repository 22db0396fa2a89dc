/**
 * The one logger: JSON lines on stderr (stdout is reserved for CLI results and benchmark JSON).
 * Child loggers carry context fields. Never log arrays, payload bodies or credentials.
 */

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

let minLevel: Level = 'info';

/** Sets the minimum level written (the CLI's --quiet/--verbose). */
export function setLogLevel(level: Level): void {
  minLevel = level;
}

function make(context: Record<string, unknown>): Logger {
  const write = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const line = { time: new Date().toISOString(), level, msg, ...context, ...fields };
    process.stderr.write(
      `${JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? { name: v.name, message: v.message } : v))}\n`,
    );
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => make({ ...context, ...fields }),
  };
}

export const log: Logger = make({});
