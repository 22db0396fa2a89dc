/** `lemur compact`: a new version whose shards no longer hold deleted documents, small shards merged (one job on the publish queue). */
import { queueCompact } from '../../queue/version-jobs.js';
import { newVersion, parse, positiveInt, printLine, type Command } from '../command.js';
import { versionJob } from './with-queues.js';

export async function runCompact(version: string = newVersion(), mergeBelow?: number, timeoutS = 24 * 3600): Promise<Record<string, unknown>> {
  return versionJob(`compact ${version}`, (t) => queueCompact(t, version, mergeBelow, timeoutS * 1000));
}

export const compactCommand: Command = {
  name: 'compact',
  usage: `  compact [--version V] [--merge-below N]     a new version whose shards no longer hold deleted documents, with
                                              shards under N live docs (default 10000; 0 = never) merged into one`,
  async run(args) {
    const { values } = parse(args, { version: { type: 'string' }, 'merge-below': { type: 'string' } });
    const mergeBelow = values['merge-below'] === undefined ? undefined : values['merge-below'] === '0' ? 0 : positiveInt('merge-below', values['merge-below'], 10_000);
    printLine(await runCompact(values.version, mergeBelow));
    return 0;
  },
};
