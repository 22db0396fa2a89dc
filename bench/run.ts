/**
 * `npm run bench -- <name> [--data DIR] [--json] [--quick]`: runs one benchmark in a fresh child
 * process (no JIT, heap or thread-pool state shared between benchmarks).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES: Record<string, string> = {
  maxsim: 'maxsim-kernel.js',
  lemur: 'lemur.js',
  query: 'query-engine.js',
  pipeline: 'pipeline.js',
  incremental: 'incremental.js',
  ols: 'ols.js',
  compare: 'compare.js',
  'store-memory': 'store-memory.js',
  validate: 'validate.js',
  'compact-w': 'compact-w.js',
  'mmap-search': 'mmap-search.js',
  scale: 'scale.js',
  serve: 'serve.js',
  faults: 'faults.js',
};

const [name, ...rest] = process.argv.slice(2);
if (!name || !(name in BENCHES)) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--data DIR] [--json] [--quick]\n`);
  process.exit(2);
}
const file = fileURLToPath(new URL(BENCHES[name]!, import.meta.url));
const r = spawnSync(process.execPath, [file, ...rest], { stdio: 'inherit' });
process.exit(r.status ?? 1);
