/** The `lemur` command line in a child process, the way a user runs it. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** `lemur …` on a store folder with embedded defaults (no REDIS_URL: a private Redis per command). */
export function cliRunner(storeDir: string): (...args: string[]) => SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, LEMUR_STORE: storeDir };
  delete env['REDIS_URL'];
  return (...args) => spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 180_000 });
}
