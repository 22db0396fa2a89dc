/**
 * `lemur query <source>`: queries the published version. The source is a folder in the
 * ../shared/data format (query_vectors.f32 + query_counts.i32) or a Parquet file of queries
 * (same layouts as corpus shards, ids optional). Prints, per query, the top-k external ids and
 * exact MaxSim scores.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';

import { readSharedDataset } from '../../data/shared-dataset.js';
import { ConfigError } from '../../errors.js';
import { checkQueryDim, type QuerySet } from '../../eval/query-set.js';
import { readShard, type ReadShardOptions } from '../../parquet/read-shard.js';
import { openVersion } from '../../query/open-version.js';
import { LocalStore } from '../../store/local-store.js';
import { openStore } from '../../store/open-store.js';
import { currentVersion } from '../../versions/current.js';
import { readManifest } from '../../versions/manifest.js';
import { checkName } from '../../store/keys.js';
import { COLUMN_FLAGS, COLUMN_USAGE, columnMapping, parse, positiveInt, print, type Command } from '../command.js';

export interface QueryOptions {
  source: string;
  k: number;
  kPrime: number;
  efSearch?: number;
  version?: string;
  /** Column names and dim of a Parquet query file. */
  mapping?: ReadShardOptions;
}

export async function readQueries(source: string, mapping: ReadShardOptions = {}): Promise<QuerySet> {
  if (!existsSync(source)) throw new ConfigError(`no such file or folder: ${source}`);
  if (statSync(source).isDirectory()) {
    const d = readSharedDataset(source);
    return { dim: d.dim, vectors: d.queryVectors, counts: d.queryCounts, ids: Array.from(d.queryCounts, (_, i) => String(i)) };
  }
  const data = await readShard(new LocalStore(dirname(source)), basename(source), mapping);
  return { dim: data.dim, vectors: data.vectors, counts: data.counts, ids: Array.from(data.ids as ArrayLike<bigint | string>, String) };
}

export async function runQuery(o: QueryOptions): Promise<{ version: string; results: { query: string; ids: (string | null)[]; scores: number[] }[] }> {
  if (o.version !== undefined) checkName('version', o.version);
  const q = await readQueries(o.source, o.mapping);
  const store = openStore();
  // the dim is checked against the manifest before the version's artifacts are opened
  const version = o.version ?? (await currentVersion(store));
  if (!version) throw new ConfigError(`no published version in ${store.url}`);
  checkQueryDim(q, o.source, version, Number((await readManifest(store, version)).config['dim']));
  const opened = await openVersion(store, version);
  try {
    const r = await opened.engine.search(q.vectors, q.counts, { k: o.k, kPrime: o.kPrime, ...(o.efSearch ? { efSearch: o.efSearch } : {}) });
    return {
      version: opened.version,
      results: q.ids.map((id, i) => {
        const row = r.row(i);
        return { query: id, ids: row.ids.map((x) => (x === null ? null : String(x))), scores: Array.from(row.scores) };
      }),
    };
  } finally {
    opened.close();
  }
}

export const queryCommand: Command = {
  name: 'query',
  usage: `  query <source> [--k N] [--k-prime N] [--ef-search N] [--version V] [--json] ${COLUMN_USAGE}
                                              top-k ids and exact MaxSim scores from the published version;
                                              <source>: a ../shared/data folder or a Parquet file of queries`,
  async run(args) {
    const { values, positionals } = parse(args, { k: { type: 'string' }, 'k-prime': { type: 'string' }, 'ef-search': { type: 'string' }, version: { type: 'string' }, json: { type: 'boolean', default: false }, ...COLUMN_FLAGS }, true);
    if (positionals.length !== 1) throw new ConfigError('lemur query takes one source: a ../shared/data folder or a Parquet file of queries');
    const r = await runQuery({
      source: positionals[0]!,
      k: positiveInt('k', values.k, 10),
      kPrime: positiveInt('k-prime', values['k-prime'], 100),
      ...(values['ef-search'] ? { efSearch: positiveInt('ef-search', values['ef-search'], 200) } : {}),
      ...(values.version ? { version: values.version } : {}),
      mapping: columnMapping(values),
    });
    print(r, values.json ?? false);
    return 0;
  },
};
