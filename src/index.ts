/** Public API of lemur-pipeline. */
export { config, loadConfig, type LemurConfig, type KernelName } from './config.js';
export * from './errors.js';
export { log, setLogLevel, type Logger } from './log.js';
export { kernelInfo, fmaPeak, type KernelInfo, type FmaPeak } from './native/cpu.js';
export { TokenStore, type TokenStoreWriteInput, type TokenStoreOpenOptions, type StoreDType } from './native/token-store.js';
export { maxsimRerank, maxsimExactTopK, maxsimTargets, SearchResult, type MaxsimOptions, type TargetsOptions } from './native/maxsim.js';
