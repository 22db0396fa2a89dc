/**
 * A queued evaluation: which versions and search settings are compared on which queries, and
 * the job payloads it splits into. The queries live in the store (payloads never carry
 * embeddings); results and ground truth go back to the store, one object per batch.
 */
import type { CandidateSource } from '../query/query-engine.js';

export interface EvalSetting {
  kPrime: number;
  efSearch: number;
  candidates: CandidateSource;
}

export function settingLabel(s: EvalSetting): string {
  return s.candidates === 'hnsw' ? `hnsw k'=${s.kPrime} ef=${s.efSearch}` : `${s.candidates} k'=${s.kPrime}`;
}

export interface EvalPlan {
  evalId: string;
  versions: string[];
  settings: EvalSetting[];
  k: number;
  nQueries: number;
  batchSize: number;
  /** Queries per batch also run one at a time, for latency percentiles. */
  latencySample: number;
  /** Where ground truth comes from: a given file, exact MaxSim on a sample, or none. */
  truth: 'given' | 'exact' | 'none';
  /** 'exact': the sampled query indices. */
  exactSample?: number[];
  createdAt: string;
}

export interface EvalBatchPayload {
  evalId: string;
  batch: number;
  from: number;
  to: number;
}

export interface ExactBatchPayload {
  evalId: string;
  batch: number;
  /** Query indices (a slice of plan.exactSample). */
  queries: number[];
}

export interface EvalReportPayload {
  evalId: string;
}

/** What one eval-batch job measured, per version and setting. */
export interface BatchTiming {
  version: string;
  setting: string;
  nq: number;
  /** Wall seconds of the batched search. */
  seconds: number;
  /** One-query-at-a-time latencies, ms. */
  latenciesMs: number[];
}

export interface EvalBatchResult {
  batch: number;
  resultsKey: string;
  timings: BatchTiming[];
}

/** Ground truth rows: per version, query index → ids (best first). */
export type TruthRows = Record<string, Record<string, string[]>>;
