/**
 * `lemur validate <prefix|file>`: checks Parquet shards without building anything: each file's
 * column types from its footer, then every row, row group by row group, and one dim across the
 * files. One line per file and a summary (or one JSON document with --json); exit code 1 when any
 * file is bad. Reads the configured store, or a local ./path; writes nothing.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { ConfigError } from '../../errors.js';
import { validateSources, validationLines, type FileValidation } from '../../parquet/validate-sources.js';
import { listParquet } from '../../store/files.js';
import { checkPrefix } from '../../store/keys.js';
import { LocalStore } from '../../store/local-store.js';
import type { ObjectStore } from '../../store/object-store.js';
import { openStore } from '../../store/open-store.js';
import { COLUMN_FLAGS, COLUMN_USAGE, columnMapping, parse, positiveInt, printLine, type Command } from '../command.js';

interface Target {
  store: ObjectStore;
  keys: string[];
  /** how a file is shown: its key, or its path for a local target */
  name: (f: FileValidation) => string;
}

/** A local path (absolute, ./ or ../): that file or every .parquet below that folder; otherwise a key or prefix of the store. */
async function resolveTarget(target: string): Promise<Target> {
  if (target.startsWith('/') || target.startsWith('./') || target.startsWith('../')) {
    if (!existsSync(target)) throw new ConfigError(`no such file or folder: ${target}`);
    if (statSync(target).isDirectory()) {
      const store = new LocalStore(resolve(target));
      return { store, keys: await listParquet(store, ''), name: (f) => join(target, f.key) };
    }
    return { store: new LocalStore(resolve(dirname(target))), keys: [basename(target)], name: () => target };
  }
  checkPrefix(target);
  const store = openStore();
  const exact = target.toLowerCase().endsWith('.parquet') && (await store.head(target)) !== undefined;
  return { store, keys: exact ? [target] : await listParquet(store, target), name: (f) => f.key };
}

export const validateCommand: Command = {
  name: 'validate',
  usage: `  validate <prefix|file> [--json] [--max-problems N] ${COLUMN_USAGE}
                                              check every .parquet under <prefix> of the store (or one key, or a
                                              local ./path) without building: column types, every row, one dim;
                                              exit code 1 when a file is bad`,
  async run(args) {
    const { values, positionals } = parse(args, { json: { type: 'boolean', default: false }, 'max-problems': { type: 'string' }, ...COLUMN_FLAGS }, true);
    if (positionals.length !== 1) throw new ConfigError('lemur validate takes one store prefix, key or local path, e.g. `lemur validate sources/`');
    const options = { ...columnMapping(values), maxProblems: positiveInt('max-problems', values['max-problems'], 10) };
    const { store, keys, name } = await resolveTarget(positionals[0]!);
    if (keys.length === 0) throw new ConfigError(`no .parquet objects under '${positionals[0]}' in ${store.url}`);
    // progress on a terminal only: stdout stays the report
    const tty = process.stderr.isTTY;
    const report = await validateSources(store, keys, {
      ...options,
      onFile: (f, done, total) => {
        if (tty) process.stderr.write(`\rvalidated ${done}/${total} files (${f.ok ? 'ok' : 'bad'}: ${name(f)})\x1b[K`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    if (values.json) printLine(report);
    else process.stdout.write(`${validationLines(report, name).join('\n')}\n`);
    return report.ok ? 0 : 1;
  },
};
