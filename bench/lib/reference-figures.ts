/**
 * The reference LEMUR's figures (PyTorch + its C++ MaxSim extension built with -march=native,
 * 2 threads, reference defaults), transcribed from ../shared/reference/README.md: one table per
 * CPU kind and dataset. Benchmarks may read ../shared at run time, but its figures are prose
 * tables, so they are kept here as numbers; the README stays the source.
 */

export type CpuKind = 'avx512' | 'avx2';
export type Better = 'higher' | 'lower';

export interface ReferenceFigure {
  /** Key of the figure in compare's output. */
  key: string;
  label: string;
  value: number;
  unit: string;
  better: Better;
  /** The goal as a ratio ours ÷ reference (≥ for higher-is-better, ≤ for lower). */
  goal?: number;
  /** Recall@10 the reference measured with it, where it is a query figure. */
  recall?: number;
  /** Not bound by arithmetic (memory footprint): no per-peak normalisation. */
  notCompute?: boolean;
}

const small = (kind: CpuKind): ReferenceFigure[] => {
  const a = kind === 'avx512';
  const qps = a ? [1635, 1084, 571, 318] : [650, 448, 231, 128];
  const recall = [0.965, 0.981, 0.99, 0.994];
  return [
    { key: 'maxsim_gflops_1t', label: 'MaxSim rerank kernel, random candidates, 1 thread', value: a ? 126 : 53.9, unit: 'GFLOP/s', better: 'higher', goal: 1.5 },
    { key: 'maxsim_gflops_2t', label: 'MaxSim rerank kernel, random candidates, 2 threads', value: a ? 256 : 104.7, unit: 'GFLOP/s', better: 'higher', goal: 1.5 },
    ...[100, 200, 500, 1000].map((k, i) => ({
      key: `qps_bruteforce_k${k}`,
      label: `batched QPS, brute-force candidates, k' = ${k}`,
      value: qps[i]!,
      unit: 'QPS',
      better: 'higher' as const,
      recall: recall[i]!,
    })),
    { key: 'best_qps_at_recall_0_95', label: 'batched QPS of the best setting at recall@10 ≥ 0.95', value: qps[0]!, unit: 'QPS', better: 'higher', goal: 2, recall: 0.965 },
    { key: 'single_query_p50_ms', label: "single query p50, k' = 200", value: a ? 12.5 : 24.5, unit: 'ms', better: 'lower', goal: 0.5 },
    { key: 'features_s_per_1000', label: 'query features for 1 000 queries', value: a ? 0.236 : 0.616, unit: 's', better: 'lower' },
    { key: 'targets_s', label: 'training targets', value: a ? 289 : 551, unit: 's', better: 'lower', goal: 0.2 },
    { key: 'train_s_per_epoch', label: 'ψ training per epoch', value: a ? 42.5 : 104.5, unit: 's', better: 'lower', goal: 0.5 },
    { key: 'fit_s', label: 'whole fit', value: a ? 772 : 1680, unit: 's', better: 'lower', goal: 0.5 },
    { key: 'fit_peak_rss_gb', label: 'fit peak RSS', value: 10.1, unit: 'GB', better: 'lower', goal: 0.5, notCompute: true },
    { key: 'ols_docs_per_s', label: 'OLS weights (SVD amortised)', value: a ? 341 : 136, unit: 'docs/s', better: 'higher', goal: 3 },
    { key: 'hnsw_build_docs_per_s', label: 'HNSW build (M 32, efConstruction 40)', value: a ? 245 : 129, unit: 'docs/s', better: 'higher' },
    { key: 'hnsw_qps_k200_ef200', label: "HNSW k' 200, efSearch 200, search + rerank", value: a ? 233 : 127, unit: 'QPS', better: 'higher', recall: a ? 0.972 : 0.973 },
  ];
};

// `medium` was measured on AVX-512 only.
const mediumAvx512: ReferenceFigure[] = [
  ...[100, 200, 500, 1000].map((k, i) => ({
    key: `qps_bruteforce_k${k}`,
    label: `batched QPS, brute-force candidates, k' = ${k}`,
    value: [597, 497, 333, 221][i]!,
    unit: 'QPS',
    better: 'higher' as const,
    recall: [0.844, 0.925, 0.977, 0.991][i]!,
  })),
  { key: 'best_qps_at_recall_0_95', label: 'batched QPS of the best setting at recall@10 ≥ 0.95', value: 333, unit: 'QPS', better: 'higher', goal: 2, recall: 0.977 },
  { key: 'single_query_p50_ms', label: "single query p50, k' = 200", value: 80.1, unit: 'ms', better: 'lower', goal: 0.5 },
  { key: 'features_s_per_1000', label: 'query features for 1 000 queries', value: 0.269, unit: 's', better: 'lower' },
  { key: 'targets_s', label: 'training targets', value: 230, unit: 's', better: 'lower', goal: 0.2 },
  { key: 'train_s_per_epoch', label: 'ψ training per epoch', value: 45.2, unit: 's', better: 'lower', goal: 0.5 },
  { key: 'fit_s', label: 'whole fit', value: 987, unit: 's', better: 'lower', goal: 0.5 },
  { key: 'fit_peak_rss_gb', label: 'fit peak RSS', value: 13.2, unit: 'GB', better: 'lower', goal: 0.5, notCompute: true },
  { key: 'ols_docs_per_s', label: 'OLS weights (SVD amortised)', value: 327, unit: 'docs/s', better: 'higher', goal: 3 },
  { key: 'hnsw_build_docs_per_s', label: 'HNSW build (M 32, efConstruction 40)', value: 115, unit: 'docs/s', better: 'higher' },
];

/**
 * The single-core fp32 FMA peak of the machine each reference table was measured on
 * (../shared/reference/README.md): AVX-512 Zen 5, 16 zmm chains, 282 GFLOP/s; AVX2 Zen 3, 12 ymm
 * chains, 95–102 GFLOP/s. Machines of one kind differ (a Zen 4 runs 512-bit FMAs at half rate),
 * so compare also reports each ratio per unit of peak.
 */
export const REFERENCE_PEAK_GFLOPS_1T: Record<CpuKind, number> = { avx512: 282, avx2: 98.5 };

/** The reference's figures for a dataset (by its doc count) on a CPU kind, or [] if none were measured. */
export function referenceFigures(kind: CpuKind, docs: number): ReferenceFigure[] {
  if (docs === 10_000) return small(kind);
  if (docs === 100_000 && kind === 'avx512') return mediumAvx512;
  return [];
}
