/** `lemur rollback [version]`: moves `current` back (to the version before, or the one named). */
import { openStore } from '../../store/open-store.js';
import { rollback } from '../../versions/publish.js';
import { parse, printLine, type Command } from '../command.js';

export const rollbackCommand: Command = {
  name: 'rollback',
  usage: `  rollback [version]                          move 'current' to a version (default: the one before)`,
  async run(args) {
    const { positionals } = parse(args, {}, true);
    printLine({ current: await rollback(openStore(), positionals[0]) });
    return 0;
  },
};
