/**
 * `lemur eval <queries>`: a queued bulk evaluation. The queries are split into batches on the
 * eval queue; eval workers search them under every version × setting and compute exact
 * ground truth for a sample; a report job writes JSON + HTML (recall against QPS, latency
 * percentiles) to the store. Without REDIS_URL the queues and workers run in this process.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { ConfigError, PipelineError } from '../../errors.js';
import type { EvalSetting } from '../../eval/plan.js';
import { submitEval, evalJobIds } from '../../eval/submit-eval.js';
import { currentVersion } from '../../versions/current.js';
import type { CandidateSource } from '../../query/query-engine.js';
import { waitForJob } from '../../queue/queue-status.js';
import { QUEUES } from '../../queue/queues.js';
import { checkName, keys } from '../../store/keys.js';
import { readManifest } from '../../versions/manifest.js';
import { checkQueryDim } from '../../eval/query-set.js';
import type { ReadShardOptions } from '../../parquet/read-shard.js';
import { LocalStore } from '../../store/local-store.js';
import { openStore } from '../../store/open-store.js';
import { COLUMN_FLAGS, COLUMN_USAGE, columnMapping, intList, newVersion, parse, positiveInt, print, type Command } from '../command.js';
import { readQueries } from './query.js';
import { withQueues } from './with-queues.js';

export interface EvalOptions {
  source: string;
  versions?: string[];
  k: number;
  kPrimes: number[];
  efSearch?: number[];
  candidates: CandidateSource[];
  groundtruth?: string;
  exactSample?: number;
  batchSize: number;
  out?: string;
  timeoutS: number;
  /** Column names and dim of a Parquet query file. */
  mapping?: ReadShardOptions;
}

/** Every (k', efSearch, candidate source) combination; efSearch only varies for HNSW. */
export function expandSettings(kPrimes: number[], efSearch: number[] | undefined, candidates: CandidateSource[]): EvalSetting[] {
  const out: EvalSetting[] = [];
  for (const c of candidates) {
    for (const kPrime of kPrimes) {
      const efs = c === 'hnsw' ? (efSearch ?? [2 * kPrime]) : [kPrime];
      for (const ef of efs) out.push({ kPrime, efSearch: Math.max(ef, kPrime), candidates: c });
    }
  }
  return out;
}

/** Ground truth as JSON lines: {"query": "<query id>", "ids": ["doc id", …]} (best first). */
function readGroundTruth(path: string, queryIds: string[]): Record<string, string[]> {
  const index = new Map(queryIds.map((id, i) => [id, i]));
  const rows: Record<string, string[]> = {};
  readFileSync(path, 'utf8').split(/\r?\n/).forEach((line, n) => {
    if (!line.trim()) return;
    let o: { query?: unknown; ids?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      throw new ConfigError(`${path}: line ${n + 1} is not JSON`);
    }
    if (!Array.isArray(o.ids)) throw new ConfigError(`${path}: line ${n + 1}, field \`ids\`: expected an array of document ids`);
    const qi = index.get(String(o.query));
    if (qi === undefined) throw new ConfigError(`${path}: line ${n + 1}, field \`query\`: no query with id '${String(o.query)}'`);
    rows[String(qi)] = o.ids.map(String);
  });
  return rows;
}

export async function runEval(o: EvalOptions): Promise<Record<string, unknown>> {
  const store = openStore();
  for (const v of o.versions ?? []) checkName('version', v);
  const queries = await readQueries(o.source, o.mapping);
  const versions = o.versions ?? [(await currentVersion(store)) ?? ''];
  if (!versions[0]) throw new ConfigError(`no published version in ${store.url}`);
  // fail here, not in every worker's retries
  for (const v of versions) {
    if (!(await store.head(keys.manifest(v)))) throw new ConfigError(`version ${v} is not published in ${store.url} (lemur versions lists them)`);
    checkQueryDim(queries, o.source, v, Number((await readManifest(store, v)).config['dim']));
  }
  const evalId = `eval-${newVersion()}`;
  const truth = o.groundtruth ? { given: readGroundTruth(o.groundtruth, queries.ids) } : { exactSample: o.exactSample ?? Math.min(200, queries.counts.length) };
  const t0 = performance.now();
  return withQueues(store, async (target) => {
    await submitEval(target, store, { evalId, versions, settings: expandSettings(o.kPrimes, o.efSearch, o.candidates), k: o.k, queries, batchSize: o.batchSize, truth });
    let r: Record<string, unknown>;
    try {
      r = (await waitForJob(target, QUEUES.eval, evalJobIds.report(evalId), o.timeoutS * 1000)) as Record<string, unknown>;
    } catch (err) {
      throw new PipelineError(`evaluation ${evalId} failed: ${(err as Error).message}`, { cause: err });
    }
    const out: Record<string, unknown> = { ...r, eval_s: Math.round((performance.now() - t0) / 100) / 10 };
    if (store instanceof LocalStore) out['html_path'] = join(store.root, keys.evalReport(evalId, 'html'));
    if (o.out) {
      mkdirSync(o.out, { recursive: true });
      writeFileSync(join(o.out, `${evalId}.json`), await store.get(keys.evalReport(evalId, 'json')));
      writeFileSync(join(o.out, `${evalId}.html`), await store.get(keys.evalReport(evalId, 'html')));
      out['html_path'] = join(o.out, `${evalId}.html`);
    }
    return out;
  });
}

export const evalCommand: Command = {
  name: 'eval',
  usage: `  eval <queries> [--groundtruth FILE | --exact-sample N] [--k 10] [--kprime 100,200] [--ef-search 200,400]
       [--candidates hnsw,bruteforce] [--version V,W] [--batch N] [--out DIR] [--json] ${COLUMN_USAGE}
                                              queued bulk evaluation: recall against exact MaxSim, QPS, latency;
                                              JSON + HTML report in the store (FILE: JSON lines {"query","ids"})`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      {
        groundtruth: { type: 'string' },
        'exact-sample': { type: 'string' },
        k: { type: 'string' },
        kprime: { type: 'string' },
        'ef-search': { type: 'string' },
        candidates: { type: 'string' },
        version: { type: 'string' },
        batch: { type: 'string' },
        out: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean', default: false },
        ...COLUMN_FLAGS,
      },
      true,
    );
    if (positionals.length !== 1) throw new ConfigError('lemur eval takes one query source: a ../shared/data folder or a Parquet file of queries');
    if (values.groundtruth && values['exact-sample']) throw new ConfigError('give --groundtruth or --exact-sample, not both');
    const candidates = (values.candidates ?? 'hnsw').split(',');
    // published versions carry HNSW indexes; 'bruteforce' is the exact sgemm scan over W (Faiss flat would give the same candidates)
    for (const c of candidates) if (!['hnsw', 'bruteforce'].includes(c)) throw new ConfigError(`Expected --candidates from hnsw, bruteforce but received '${c}'`);
    const r = await runEval({
      source: positionals[0]!,
      ...(values.version ? { versions: values.version.split(',') } : {}),
      k: positiveInt('k', values.k, 10),
      kPrimes: intList('kprime', values.kprime ?? '100,200'),
      ...(values['ef-search'] ? { efSearch: intList('ef-search', values['ef-search']) } : {}),
      candidates: candidates as CandidateSource[],
      ...(values.groundtruth ? { groundtruth: values.groundtruth } : {}),
      ...(values['exact-sample'] ? { exactSample: positiveInt('exact-sample', values['exact-sample'], 200) } : {}),
      batchSize: positiveInt('batch', values.batch, 256),
      ...(values.out ? { out: values.out } : {}),
      timeoutS: positiveInt('timeout', values.timeout, 24 * 3600),
      mapping: columnMapping(values),
    });
    print(r, values.json ?? false);
    return 0;
  },
};
