/** `lemur versions`: the published versions, oldest first, `current` marked. */
import { openStore } from '../../store/open-store.js';
import { listVersions } from '../../versions/manifest.js';
import { parse, print, type Command } from '../command.js';

export const versionsCommand: Command = {
  name: 'versions',
  usage: `  versions [--json]                           published versions, oldest first`,
  async run(args) {
    const { values } = parse(args, { json: { type: 'boolean', default: false } });
    print(await listVersions(openStore()), values.json ?? false);
    return 0;
  },
};
