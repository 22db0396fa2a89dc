/** A private redis-server per test file (loopback, free port, own folder, no persistence). */
import { randomUUID } from 'node:crypto';

import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/queue/embedded-redis.js';
import { makeTmpDir } from './tmp-dir.js';

export async function startTestRedis(): Promise<EmbeddedRedis & { prefix: string }> {
  const tmp = makeTmpDir('lemur-redis-');
  const r = await startEmbeddedRedis({ dir: tmp.dir });
  return {
    ...r,
    // a unique BullMQ prefix per run, so nothing from another test can be seen
    prefix: `test-${randomUUID()}`,
    stop: async () => {
      await r.stop();
      tmp.cleanup();
    },
  };
}
