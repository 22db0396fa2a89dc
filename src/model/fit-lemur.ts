/**
 * fitLemur: learns a LEMUR model from a token store. Samples m' target documents and n learn
 * vectors, builds the n × m' MaxSim targets natively, standardises them, trains ψ, then pins
 * an OLS sample and its pseudo-inverse. Document weights are a separate, shardable step
 * (LemurModel.weights).
 */
import { config } from '../config.js';
import { Random } from '../data/random.js';
import { InvalidArgumentError } from '../errors.js';
import { FIT_DEFAULTS, withDefaults } from '../fit-defaults.js';
import { log } from '../log.js';
import { maxsimTargets } from '../native/maxsim.js';
import { gatherTokens, olsBasis, standardizeTargets } from '../native/ols.js';
import type { ProgressCallback } from '../native/progress.js';
import { psiForward, trainPsi, type BatchProgress, type TrainPsiOptions } from '../native/psi.js';
import type { TokenStore } from '../native/token-store.js';
import { LemurModel, type LemurModelConfig } from './lemur-model.js';

/**
 * Where a fit is, for a person watching it (a progress bar, BullMQ's job.updateProgress). Each
 * phase's events come in order and its counts never go back; a phase that completes ends with
 * done === total (train: batch === batches of the last epoch).
 */
export type FitProgress =
  /** The MaxSim targets Y: done/total count entries of Y (learn vectors × target documents), over all stores. */
  | { phase: 'targets'; done: number; total: number }
  /** ψ's training, a few times a second at most and at the end of each epoch (with valLoss when a validation split is kept). */
  | ({ phase: 'train'; valLoss?: number } & BatchProgress)
  /**
   * The OLS basis, in steps: 0 of 2 when it starts, 1 after ψ of the sample, 2 after pinv(ψ(sample)) by SVD (one LAPACK
   * call that cannot report: ~8 s at the defaults on 2 cores, nearly the whole phase).
   */
  | { phase: 'ols'; done: number; total: number };

/** ψ's training options (hidden, numLayers, epochs, batch, lr, clip, valFraction, seed, threads, onEpoch, onBatch) plus the sampling sizes. */
export interface FitLemurOptions extends TrainPsiOptions {
  /** Target documents. @defaultValue FIT_DEFAULTS.mPrime (capped at the corpus size, with a warning) */
  mPrime?: number;
  /** Learn vectors (proxy queries). @defaultValue FIT_DEFAULTS.nLearn */
  nLearn?: number;
  /** Query-distribution sample to draw learn vectors from (rows × dim); default: corpus tokens. */
  learnPool?: Float32Array;
  /** OLS sample size s. @defaultValue FIT_DEFAULTS.olsSamples */
  olsSamples?: number;
  /** Progress of the long phases (FitProgress), on the JS thread. What it throws fails the fit. */
  onProgress?: (p: FitProgress) => void;
}

export interface FitTimings {
  sample_s: number;
  targets_s: number;
  train_s: number;
  ols_basis_s: number;
  total_s: number;
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Token rows drawn uniformly from all stores' tokens (seeded), rows × dim, in draw order. */
async function sampleCorpusTokens(stores: TokenStore[], rows: number, rng: Random): Promise<Float32Array> {
  const total = stores.reduce((a, s) => a + s.nTokens, 0);
  const dim = stores[0]!.dim;
  const perStore: number[][] = stores.map(() => []); // local token index per draw
  const slot: number[][] = stores.map(() => []); // output row per draw
  for (let i = 0; i < rows; i++) {
    let t = Math.floor(rng.next() * total);
    let s = 0;
    while (t >= stores[s]!.nTokens) t -= stores[s++]!.nTokens;
    perStore[s]!.push(t);
    slot[s]!.push(i);
  }
  if (stores.length === 1) {
    const got = await gatherTokens(stores[0]!, BigInt64Array.from(perStore[0]!, (v) => BigInt(v)));
    stores[0]!.releasePages();
    return got;
  }
  const out = new Float32Array(rows * dim);
  for (const [s, store] of stores.entries()) {
    if (perStore[s]!.length === 0) continue;
    const got = await gatherTokens(store, BigInt64Array.from(perStore[s]!, (v) => BigInt(v)));
    store.releasePages(); // the sampled pages' neighbours, mapped by fault-around (TokenStore.releasePages)
    slot[s]!.forEach((row, j) => out.set(got.subarray(j * dim, (j + 1) * dim), row * dim));
  }
  return out;
}

/** The scratch block of a store's targets when several stores are fitted on (see buildTargets). */
const TARGET_BLOCK_BYTES = 256 * 2 ** 20;

/**
 * Y (n × m') for target documents spread over several stores: each store's columns are built
 * natively, then placed side by side (columns grouped by store, in sampled order within a store).
 * onProgress counts entries of Y over all stores: a store's rows count ms entries each.
 * Exported for its test (blockBytes: the scratch block's size).
 */
export async function buildTargets(
  learn: Float32Array,
  stores: TokenStore[],
  targets: { store: number; pos: number }[],
  threads: number,
  onProgress?: ProgressCallback,
  blockBytes = TARGET_BLOCK_BYTES,
): Promise<Float32Array> {
  const byStore = stores.map((_, s) => targets.filter((t) => t.store === s).map((t) => BigInt(t.pos)));
  const n = learn.length / stores[0]!.dim;
  const m = targets.length;
  let before = 0; // entries of the stores already done
  if (stores.length === 1) {
    const Y = await maxsimTargets(learn, stores[0]!, BigInt64Array.from(byStore[0]!), { threads, ...(onProgress ? { onProgress: (rows: number) => onProgress(rows * m, n * m) } : {}) });
    stores[0]!.releasePages();
    return Y;
  }
  const Y = new Float32Array(n * m);
  let col = 0;
  for (const [s, store] of stores.entries()) {
    const ms = byStore[s]!.length;
    if (ms === 0) continue;
    const docs = BigInt64Array.from(byStore[s]!);
    // a store's columns in blocks of learn rows through one small buffer: a whole n × ms block
    // beside Y would double the fit's largest allocation (each entry is computed alone, so
    // blocking changes no bit)
    const rows = Math.max(1, Math.min(n, Math.floor(blockBytes / (4 * ms))));
    const block = new Float32Array(rows * ms);
    for (let r0 = 0; r0 < n; r0 += rows) {
      const r1 = Math.min(n, r0 + rows);
      const out = r1 - r0 === rows ? block : block.subarray(0, (r1 - r0) * ms);
      const rowsBefore = before + r0 * ms;
      await maxsimTargets(learn.subarray(r0 * store.dim, r1 * store.dim), store, docs, {
        threads,
        out,
        ...(onProgress ? { onProgress: (done: number) => onProgress(rowsBefore + done * ms, n * m) } : {}),
      });
      for (let i = r0; i < r1; i++) Y.set(out.subarray((i - r0) * ms, (i - r0 + 1) * ms), i * m + col);
    }
    store.releasePages();
    col += ms;
    before += n * ms;
  }
  return Y;
}

/**
 * Fits on one token store or several (the shards of a corpus; documents and tokens are sampled
 * over all of them as one corpus).
 * @throws InvalidArgumentError (empty store, bad options, stores of different dims), InputDataError (non-finite data, a
 *   training loss that becomes NaN — no model is returned then); whatever onProgress, onEpoch or onBatch throws
 * @example
 * const { model } = await fitLemur(stores, {
 *   onProgress: (p) => void job.updateProgress(p.phase === 'train' ? { ...p } : { phase: p.phase, done: p.done, total: p.total }),
 * });
 */
export async function fitLemur(storeOrStores: TokenStore | TokenStore[], options: FitLemurOptions = {}): Promise<{ model: LemurModel; timings: FitTimings }> {
  const t0 = performance.now();
  const stores = Array.isArray(storeOrStores) ? storeOrStores : [storeOrStores];
  if (stores.length === 0) throw new InvalidArgumentError('Expected at least one token store');
  const store = stores[0]!;
  for (const s of stores) {
    if (s.dim !== store.dim) throw new InvalidArgumentError(`token store ${s.path} has dim ${s.dim}, ${store.path} has ${store.dim}`);
  }
  const nDocs = stores.reduce((a, s) => a + s.nDocs, 0);
  if (nDocs === 0) throw new InvalidArgumentError(`token store${stores.length > 1 ? 's' : ''} ${stores.map((s) => s.path).join(', ')} ${stores.length > 1 ? 'are' : 'is'} empty: nothing to fit`);
  const threads = options.threads ?? config().threads;
  const d = withDefaults(FIT_DEFAULTS, options);
  const seed = d.seed;
  let mPrime = d.mPrime;
  if (mPrime > nDocs) {
    log.warn('m\' capped at the corpus size', { requested: mPrime, docs: nDocs });
    mPrime = nDocs;
  }
  const nLearn = d.nLearn;
  const cfg: LemurModelConfig = {
    dim: store.dim,
    hidden: d.hidden,
    numLayers: d.numLayers,
    mPrime,
    nLearn,
    olsSamples: d.olsSamples,
    epochs: d.epochs,
    batch: d.batch,
    lr: d.lr,
    clip: d.clip,
    valFraction: d.valFraction,
    seed,
    queryDivisor: 32,
  };
  if (cfg.olsSamples < cfg.hidden) throw new InvalidArgumentError(`olsSamples (${cfg.olsSamples}) must be at least hidden (${cfg.hidden})`);

  // 1. samples: target docs, learn vectors, OLS sample (separate seeded streams)
  let t = performance.now();
  const rng = new Random(seed * 7919 + 1);
  // target documents over the concatenated document space of all stores
  const starts = stores.map((_, i) => stores.slice(0, i).reduce((a, s) => a + s.nDocs, 0));
  const targetDocs = Array.from(rng.sample(nDocs, mPrime), (g) => {
    let s = stores.length - 1;
    while (starts[s]! > g) s--;
    return { store: s, pos: g - starts[s]! };
  });
  let learn: Float32Array;
  if (options.learnPool) {
    const pool = options.learnPool;
    if (pool.length === 0 || pool.length % store.dim !== 0) throw new InvalidArgumentError(`learnPool must hold rows of dim ${store.dim}`);
    const rows = pool.length / store.dim;
    learn = new Float32Array(nLearn * store.dim);
    for (let i = 0; i < nLearn; i++) {
      const r = Math.floor(rng.next() * rows);
      learn.set(pool.subarray(r * store.dim, (r + 1) * store.dim), i * store.dim);
    }
  } else {
    learn = await sampleCorpusTokens(stores, nLearn, rng);
  }
  const olsSample = await sampleCorpusTokens(stores, cfg.olsSamples, new Random(seed * 7919 + 2));
  const sampleS = seconds(t);

  // 2. targets: n × m' max-sims, one native buffer, standardised in place
  t = performance.now();
  log.info('building training targets', { nLearn, mPrime, gb: Math.round((nLearn * mPrime * 4) / 1e8) / 10 });
  const onProgress = options.onProgress;
  let Y: Float32Array | undefined = await buildTargets(
    learn,
    stores,
    targetDocs,
    threads,
    onProgress && ((done, total) => onProgress({ phase: 'targets', done, total })),
  );
  const stats = await standardizeTargets(Y, { threads });
  const targetsS = seconds(t);
  log.info('targets ready', { seconds: targetsS, mean: stats.mean, std: stats.std });

  // 3. ψ. An epoch's last batch is held back and reported with onEpoch, which follows it and
  // knows the validation loss.
  t = performance.now();
  let epochEnd: BatchProgress | undefined;
  const trained = await trainPsi(learn, store.dim, Y, mPrime, {
    hidden: cfg.hidden,
    numLayers: cfg.numLayers,
    epochs: cfg.epochs,
    batch: cfg.batch,
    lr: cfg.lr,
    clip: cfg.clip,
    valFraction: cfg.valFraction,
    seed,
    threads,
    onEpoch: (e) => {
      log.info('ψ epoch', { epoch: e.epoch, trainLoss: e.trainLoss, valLoss: e.valLoss, seconds: e.seconds });
      options.onEpoch?.(e);
      if (onProgress && epochEnd) onProgress({ phase: 'train', ...epochEnd, loss: e.trainLoss, ...(e.valLoss === null ? {} : { valLoss: e.valLoss }) });
    },
    ...(onProgress || options.onBatch
      ? {
          onBatch: (b: BatchProgress) => {
            options.onBatch?.(b);
            if (b.batch === b.batches) epochEnd = b;
            else onProgress?.({ phase: 'train', ...b });
          },
        }
      : {}),
  });
  Y = undefined; // 3.3 GB at the defaults: let it go before the OLS stage
  const trainS = seconds(t);

  // 4. OLS basis on the pinned sample
  t = performance.now();
  onProgress?.({ phase: 'ols', done: 0, total: 2 });
  const Z = await psiForward(trained.psi, olsSample, { threads });
  onProgress?.({ phase: 'ols', done: 1, total: 2 });
  const { pinvT, rank } = await olsBasis(Z, cfg.hidden, { threads });
  onProgress?.({ phase: 'ols', done: 2, total: 2 });
  const olsBasisS = seconds(t);
  log.info('OLS basis ready', { samples: cfg.olsSamples, rank, seconds: olsBasisS });

  const model = new LemurModel(cfg, trained.psi, stats, olsSample, pinvT, {
    olsRank: rank,
    bestEpoch: trained.bestEpoch,
    epochs: trained.epochs.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, valLoss: e.valLoss })),
  });
  return { model, timings: { sample_s: sampleS, targets_s: targetsS, train_s: trainS, ols_basis_s: olsBasisS, total_s: seconds(t0) } };
}
