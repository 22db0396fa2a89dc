/** `lemur status [--build V]`: job counts per queue, or one build's (or ingest's) state per stage and shard. */
import { ConfigError } from '../../errors.js';
import { buildProgress } from '../../queue/build-progress.js';
import { queueStatus } from '../../queue/queue-status.js';
import { needRedis, parse, print, type Command } from '../command.js';

export const statusCommand: Command = {
  name: 'status',
  usage: `  status [--build V] [--json]                 job counts per queue, or one build's (or ingest's) state per stage and shard;
                                              needs REDIS_URL`,
  async run(args) {
    const { values } = parse(args, { json: { type: 'boolean', default: false }, build: { type: 'string' } });
    const target = { redisUrl: needRedis('status') };
    if (values.build) {
      const p = await buildProgress(target, values.build);
      if (!p) throw new ConfigError(`no build ${values.build} in the queues`);
      print(p, values.json ?? false);
    } else {
      print(await queueStatus(target), values.json ?? false);
    }
    return 0;
  },
};
