/**
 * fitLemur: learns a LEMUR model from a token store. Samples m' target documents and n learn
 * vectors, builds the n × m' MaxSim targets natively, standardises them, trains ψ, then pins
 * an OLS sample and its pseudo-inverse. Document weights are a separate, shardable step
 * (LemurModel.weights).
 */
import { config } from '../config.js';
import { Random } from '../data/random.js';
import { InvalidArgumentError } from '../errors.js';
import { log } from '../log.js';
import { maxsimTargets } from '../native/maxsim.js';
import { gatherTokens, olsBasis, standardizeTargets } from '../native/ols.js';
import { psiForward, trainPsi, type TrainPsiOptions } from '../native/psi.js';
import type { TokenStore } from '../native/token-store.js';
import { LemurModel, type LemurModelConfig } from './lemur-model.js';

/** ψ's training options (hidden, numLayers, epochs, batch, lr, clip, valFraction, seed, threads, onEpoch) plus the sampling sizes. */
export interface FitLemurOptions extends TrainPsiOptions {
  /** Target documents. @defaultValue 8192 (capped at the corpus size, with a warning) */
  mPrime?: number;
  /** Learn vectors (proxy queries). @defaultValue 100000 */
  nLearn?: number;
  /** Query-distribution sample to draw learn vectors from (rows × dim); default: corpus tokens. */
  learnPool?: Float32Array;
  /** OLS sample size s. @defaultValue 16384 */
  olsSamples?: number;
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

/** Token rows drawn uniformly from the store (seeded), rows × dim. */
async function sampleCorpusTokens(store: TokenStore, rows: number, rng: Random): Promise<Float32Array> {
  const idx = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) idx[i] = BigInt(Math.floor(rng.next() * store.nTokens));
  return gatherTokens(store, idx);
}

/**
 * @throws InvalidArgumentError (empty store, bad options), InputDataError (non-finite data, a
 *   training loss that becomes NaN — no model is returned then)
 */
export async function fitLemur(store: TokenStore, options: FitLemurOptions = {}): Promise<{ model: LemurModel; timings: FitTimings }> {
  const t0 = performance.now();
  if (store.nDocs === 0) throw new InvalidArgumentError(`token store ${store.path} is empty: nothing to fit`);
  const threads = options.threads ?? config().threads;
  const seed = options.seed ?? 0;
  let mPrime = options.mPrime ?? 8192;
  if (mPrime > store.nDocs) {
    log.warn('m\' capped at the corpus size', { requested: mPrime, docs: store.nDocs });
    mPrime = store.nDocs;
  }
  const nLearn = options.nLearn ?? 100_000;
  const cfg: LemurModelConfig = {
    dim: store.dim,
    hidden: options.hidden ?? 2048,
    numLayers: options.numLayers ?? 1,
    mPrime,
    nLearn,
    olsSamples: options.olsSamples ?? 16384,
    epochs: options.epochs ?? 10,
    batch: options.batch ?? 512,
    lr: options.lr ?? 3e-3,
    clip: options.clip ?? 0.5,
    valFraction: options.valFraction ?? 0,
    seed,
    queryDivisor: 32,
  };
  if (cfg.olsSamples < cfg.hidden) throw new InvalidArgumentError(`olsSamples (${cfg.olsSamples}) must be at least hidden (${cfg.hidden})`);

  // 1. samples: target docs, learn vectors, OLS sample (separate seeded streams)
  let t = performance.now();
  const rng = new Random(seed * 7919 + 1);
  const targetDocs = BigInt64Array.from(rng.sample(store.nDocs, mPrime), (v) => BigInt(v));
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
    learn = await sampleCorpusTokens(store, nLearn, rng);
  }
  const olsSample = await sampleCorpusTokens(store, cfg.olsSamples, new Random(seed * 7919 + 2));
  const sampleS = seconds(t);

  // 2. targets: n × m' max-sims, one native buffer, standardised in place
  t = performance.now();
  log.info('building training targets', { nLearn, mPrime, gb: Math.round((nLearn * mPrime * 4) / 1e8) / 10 });
  let Y: Float32Array | undefined = await maxsimTargets(learn, store, targetDocs, { threads });
  const stats = await standardizeTargets(Y, { threads });
  const targetsS = seconds(t);
  log.info('targets ready', { seconds: targetsS, mean: stats.mean, std: stats.std });

  // 3. ψ
  t = performance.now();
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
    },
  });
  Y = undefined; // 3.3 GB at the defaults: let it go before the OLS stage
  const trainS = seconds(t);

  // 4. OLS basis on the pinned sample
  t = performance.now();
  const Z = await psiForward(trained.psi, olsSample, { threads });
  const { pinvT, rank } = await olsBasis(Z, cfg.hidden, { threads });
  const olsBasisS = seconds(t);
  log.info('OLS basis ready', { samples: cfg.olsSamples, rank, seconds: olsBasisS });

  const model = new LemurModel(cfg, trained.psi, stats, olsSample, pinvT, { olsRank: rank, bestEpoch: trained.bestEpoch, epochs: trained.epochs });
  return { model, timings: { sample_s: sampleS, targets_s: targetsS, train_s: trainS, ols_basis_s: olsBasisS, total_s: seconds(t0) } };
}
