/** The dataset a benchmark runs on: a ../shared/data folder (--data) or a generated corpus. */
import { readSharedDataset } from '../../src/data/shared-dataset.js';
import { generateCorpus, type Corpus, type SyntheticCorpusOptions } from '../../src/data/synthetic-corpus.js';
import { progress } from './report.js';

export interface BenchDataset {
  corpus: Corpus;
  groundTruth: Int32Array | undefined;
  /** meta.json's summary, or "generated" with its parameters (../shared/conventions.md). */
  summary: Record<string, unknown> | { generated: SyntheticCorpusOptions };
}

export function loadBenchDataset(dir: string | undefined, generated: SyntheticCorpusOptions): BenchDataset {
  if (dir) {
    progress(`reading dataset ${dir}`);
    const d = readSharedDataset(dir);
    const { meta } = d;
    const summary: Record<string, unknown> = { path: dir };
    for (const key of ['dim', 'docs', 'queries', 'tokens', 'query_tokens', 'seed', 'generator']) {
      if (key in meta) summary[key] = meta[key];
    }
    return { corpus: d, groundTruth: d.groundTruth, summary };
  }
  progress(`generating a corpus: ${JSON.stringify(generated)}`);
  return { corpus: generateCorpus(generated), groundTruth: undefined, summary: { generated } };
}
