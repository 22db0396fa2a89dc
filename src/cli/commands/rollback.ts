/** `lemur rollback [version]`: moves `current` back (to the version before, or the one named). */
import { config } from '../../config.js';
import { announceCurrent } from '../../queue/current-channel.js';
import { openStore } from '../../store/open-store.js';
import { rollback } from '../../versions/publish.js';
import { parse, printLine, type Command } from '../command.js';

export const rollbackCommand: Command = {
  name: 'rollback',
  usage: `  rollback [version]                          move 'current' to a version (default: the one before)`,
  async run(args) {
    const { positionals } = parse(args, {}, true);
    const store = openStore();
    const current = await rollback(store, positionals[0]);
    // search servers following this store swap at once (they also poll, without REDIS_URL)
    const redisUrl = config().redisUrl;
    if (redisUrl) await announceCurrent(redisUrl, store.url, current);
    printLine({ current });
    return 0;
  },
};
