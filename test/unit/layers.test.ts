/**
 * The layers of src/ and workers/ (docs/architecture.md): a module imports only from its own
 * layer or those below it, and no chain of imports (types included) leads back to where it
 * started. Reads the TypeScript sources, so it needs no build of what it checks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Lowest first; a module's layer is the first whose prefix its path starts with. */
export const LAYERS: { name: string; paths: string[] }[] = [
  { name: 'base', paths: ['src/errors.ts', 'src/config.ts', 'src/log.ts', 'src/metrics.ts', 'src/html-escape.ts', 'src/fit-defaults.ts'] },
  { name: 'native', paths: ['src/native/'] },
  { name: 'store', paths: ['src/store/'] },
  { name: 'parquet, data', paths: ['src/parquet/', 'src/data/'] },
  { name: 'model', paths: ['src/model/'] },
  { name: 'versions', paths: ['src/versions/'] },
  { name: 'query', paths: ['src/query/'] },
  { name: 'pipeline', paths: ['src/pipeline/'] },
  { name: 'queue', paths: ['src/queue/'] },
  { name: 'eval', paths: ['src/eval/'] },
  { name: 'dashboard', paths: ['src/dashboard/'] },
  { name: 'serve', paths: ['src/serve/'] },
  { name: 'workers', paths: ['workers/'] },
  { name: 'cli', paths: ['src/cli/'] },
  { name: 'api', paths: ['src/index.ts'] },
];

function layerOf(file: string): number {
  const i = LAYERS.findIndex((l) => l.paths.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)));
  assert.ok(i >= 0, `${file} is in no layer: add it to LAYERS (and docs/architecture.md)`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    if (statSync(join(root, rel)).isDirectory()) return sources(rel);
    return rel.endsWith('.ts') && !rel.endsWith('.d.ts') ? [rel] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;

/** Relative imports of a file, as repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.')) continue;
    out.push(relative(root, resolve(dirname(join(root, file)), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

const files = [...sources('src'), ...sources('workers')];
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('layers', () => {
  it('every import of src/ and workers/ points to its own layer or one below', () => {
    const bad: string[] = [];
    for (const [file, imports] of graph) {
      for (const target of imports) {
        if (!target.startsWith('src/') && !target.startsWith('workers/')) {
          bad.push(`${file} imports ${target}, outside src/ and workers/`);
          continue;
        }
        const from = layerOf(file);
        const to = layerOf(target);
        if (to > from) bad.push(`${file} (${LAYERS[from]!.name}) imports ${target} (${LAYERS[to]!.name}, a layer above)`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const t of graph.get(f) ?? []) {
        if (!graph.has(t)) continue;
        if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].join(' → '));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    assert.deepEqual(cycles, []);
  });

  it('sees the imports it checks', () => {
    assert.ok(graph.size > 80, `only ${graph.size} modules found under ${root}`);
    assert.ok(graph.get('src/cli/main.ts')!.includes('src/cli/commands/build.ts'));
  });
});
