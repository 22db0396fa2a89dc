/** `lemur delete <id...> | --file FILE`: tombstones documents by id in a new version (one job on the publish queue). */
import { readFileSync } from 'node:fs';

import { ConfigError } from '../../errors.js';
import type { DeleteOutcome } from '../../pipeline/delete-docs.js';
import { queueDelete } from '../../queue/version-jobs.js';
import { newVersion, parse, printLine, type Command } from '../command.js';
import { versionJob } from './with-queues.js';

/** Ids from the command line, or one per line from a file ('-' = stdin). */
export function readIds(positionals: string[], file: string | undefined): string[] {
  const ids = [...positionals];
  if (file !== undefined) {
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    for (const line of text.split(/\r?\n/)) if (line.trim()) ids.push(line.trim());
  }
  if (ids.length === 0) throw new ConfigError('lemur delete needs ids: `lemur delete ID…` or `lemur delete --file ids.txt`');
  return ids;
}

export async function runDelete(ids: string[], version: string = newVersion(), timeoutS = 3600): Promise<Record<string, unknown>> {
  const r = await versionJob<DeleteOutcome>(`delete ${version}`, (t, store) => queueDelete(t, store, version, ids, timeoutS * 1000));
  return { ...r, notFound: r.notFound.length > 20 ? [...r.notFound.slice(0, 20), `… ${r.notFound.length - 20} more`] : r.notFound };
}

export const deleteCommand: Command = {
  name: 'delete',
  usage: `  delete <id...> | --file FILE [--version V]  tombstone documents by id in a new version (FILE: one id per line)`,
  async run(args) {
    const { values, positionals } = parse(args, { file: { type: 'string' }, version: { type: 'string' } }, true);
    printLine(await runDelete(readIds(positionals, values.file), values.version));
    return 0;
  },
};
