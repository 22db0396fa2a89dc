/** Public API of lemur-pipeline. */
export { config, loadConfig, type LemurConfig, type KernelName } from './config.js';
export * from './errors.js';
export { log, setLogLevel, type Logger } from './log.js';
export { kernelInfo, fmaPeak, type KernelInfo, type FmaPeak } from './native/cpu.js';
export { TokenStore, type TokenStoreWriteInput, type TokenStoreOpenOptions, type StoreDType } from './native/token-store.js';
export { maxsimRerank, maxsimExactTopK, maxsimTargets, SearchResult, type MaxsimOptions, type TargetsOptions } from './native/maxsim.js';
export { trainPsi, psiForward, psiQueryFeatures, PsiHandle, type PsiWeights, type EpochStats, type BatchProgress, type TrainPsiOptions, type TrainPsiResult } from './native/psi.js';
export { olsBasis, olsWeights, standardizeTargets, innerProductTopK, gatherTokens, type OlsWeightsInput, type OlsWeightsOptions } from './native/ols.js';
export { checksum } from './native/checksum.js';
export { IpIndex, IP_STORAGES, type IpIndexKind, type IpIndexOptions, type IpStorage, type IpSearchOptions, type IpScanOptions, type IpReconstructOptions, type IpAddOptions } from './native/ip-index.js';
export type { ProgressCallback } from './native/progress.js';
export { LemurModel, type LemurModelConfig, type LemurModelInfo } from './model/lemur-model.js';
export { fitLemur, type FitLemurOptions, type FitProgress, type FitTimings } from './model/fit-lemur.js';
export { QueryEngine, EngineResult, DEFAULT_FLAT_BELOW, type EngineShard, type EngineSearchOptions, type EngineBuildOptions, type CandidateSource, type DocId } from './query/query-engine.js';
export { generateCorpus, type Corpus, type SyntheticCorpusOptions } from './data/synthetic-corpus.js';
export { readSharedDataset, type SharedDataset } from './data/shared-dataset.js';
