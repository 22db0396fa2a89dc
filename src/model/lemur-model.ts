/**
 * LemurModel: what LEMUR learned, versioned together: ψ, the target standardisation, and the
 * pinned OLS sample with pinv(ψ(sample)). Pinning the sample (the reference redraws it on every
 * call) is what makes a document's W row the same whether it is weighted in a full build or
 * ingested later. Saved as one artifact (model-artifact.ts). ψ's weights are loaded into native
 * memory once, at the first features() call; close() frees them (whoever opened the model closes
 * it, e.g. openVersion's close(); a finalizer frees them if nobody does).
 */
import { ClosedError, CorruptFileError, InvalidArgumentError } from '../errors.js';
import { olsWeights, type OlsWeightsOptions } from '../native/ols.js';
import { PsiHandle, type EpochStats, type PsiWeights } from '../native/psi.js';
import type { TokenStore } from '../native/token-store.js';
import { readArtifact, writeArtifact } from './model-artifact.js';

export interface LemurModelConfig {
  dim: number;
  hidden: number;
  numLayers: number;
  /** Target documents m' the head was trained on. */
  mPrime: number;
  nLearn: number;
  olsSamples: number;
  epochs: number;
  batch: number;
  lr: number;
  clip: number;
  valFraction: number;
  seed: number;
  /** feature(Q) = Σ ψ(q) / queryDivisor (32 in the reference, whatever the query length). */
  queryDivisor: number;
}

export interface LemurModelInfo {
  /** Rank of ψ(sample) kept by the pseudo-inverse. */
  olsRank: number;
  bestEpoch: number;
  /** Loss per epoch. Wall-clock times are logged, not stored: the same inputs, seed and thread
   * count must give a byte-identical model file (a build retried after a crash included). */
  epochs: Pick<EpochStats, 'epoch' | 'trainLoss' | 'valLoss'>[];
}

export class LemurModel {
  /** The native ψ, loaded on first use; undefined before, and again once the load failed. */
  #psiHandle: Promise<PsiHandle> | undefined;
  /** The same handle once loaded, so close() can free it synchronously. */
  #loaded: PsiHandle | undefined;
  #closed = false;

  constructor(
    readonly config: LemurModelConfig,
    readonly psi: PsiWeights,
    /** Global mean and std of the training targets: Y is used as (Y − mean)/std. */
    readonly stats: { mean: number; std: number },
    /** The pinned OLS sample, olsSamples × dim. */
    readonly olsSample: Float32Array,
    /** pinv(ψ(olsSample))ᵀ, olsSamples × hidden. */
    readonly pinvT: Float32Array,
    readonly info: LemurModelInfo,
  ) {
    if (psi.dim !== config.dim || psi.hidden !== config.hidden) throw new InvalidArgumentError('ψ does not match the model config');
    if (olsSample.length !== config.olsSamples * config.dim) throw new InvalidArgumentError('OLS sample does not match the model config');
    if (pinvT.length !== config.olsSamples * config.hidden) throw new InvalidArgumentError('pinv(Z) does not match the model config');
  }

  get dim(): number {
    return this.config.dim;
  }

  get hidden(): number {
    return this.config.hidden;
  }

  /**
   * Query features (nq × hidden): Σ ψ(q) / queryDivisor per query.
   * @throws ClosedError after close()
   */
  async features(queries: Float32Array, queryCounts: Int32Array, options: { threads?: number } = {}): Promise<Float32Array> {
    const o: { divisor: number; threads?: number } = { divisor: this.config.queryDivisor };
    if (options.threads !== undefined) o.threads = options.threads;
    return (await this.#psi()).queryFeatures(queries, queryCounts, o);
  }

  #psi(): Promise<PsiHandle> {
    if (this.#closed) return Promise.reject(new ClosedError('model'));
    if (!this.#psiHandle) {
      const loading = PsiHandle.load(this.psi).then((h) => {
        // closed while loading: nobody else will close this one
        if (this.#closed) {
          h.close();
          throw new ClosedError('model');
        }
        return h;
      });
      this.#psiHandle = loading;
      // a failed load is not cached: the next call tries again
      loading.then(
        (h) => {
          if (this.#closed) h.close();
          else this.#loaded = h;
        },
        () => {
          if (this.#psiHandle === loading) this.#psiHandle = undefined;
        },
      );
    }
    return this.#psiHandle;
  }

  /**
   * Frees the native ψ. Idempotent; afterwards features() throws ClosedError (weights() and
   * save() still work: they use no native state).
   * @throws ResourceBusyError while a features() call is in flight (the model stays open)
   */
  close(): void {
    this.#loaded?.close();
    this.#loaded = undefined;
    this.#psiHandle = undefined;
    this.#closed = true;
  }

  /**
   * W rows for documents of a store (all by default), docIndices.length × hidden. New documents
   * get their rows the same way, with no retraining. options.onProgress(done, total) counts
   * documents (olsWeights).
   * @throws InvalidArgumentError when the store's dim differs from the model's; whatever onProgress throws
   * @example
   * const W = await model.weights(store, undefined, { onProgress: (done, total) => log.info('weights', { done, total }) });
   */
  async weights(store: TokenStore, docIndices?: BigInt64Array, options: OlsWeightsOptions = {}): Promise<Float32Array> {
    if (store.dim !== this.dim) throw new InvalidArgumentError(`token store ${store.path} has dim ${store.dim}, the model expects ${this.dim}`);
    const idx = docIndices ?? BigInt64Array.from({ length: store.nDocs }, (_, i) => BigInt(i));
    return olsWeights(store, { sample: this.olsSample, pinvT: this.pinvT, h: this.hidden, mean: this.stats.mean, std: this.stats.std }, idx, options);
  }

  /** Writes the model artifact atomically. */
  async save(path: string): Promise<void> {
    const arrays: { name: string; shape: number[]; data: Float32Array }[] = [];
    this.psi.layers.forEach((L, i) => {
      arrays.push({ name: `psi.${i}.weight`, shape: [L.out, L.in], data: L.weight });
      arrays.push({ name: `psi.${i}.bias`, shape: [L.out], data: L.bias });
      if (L.gamma && L.beta) {
        arrays.push({ name: `psi.${i}.gamma`, shape: [L.out], data: L.gamma });
        arrays.push({ name: `psi.${i}.beta`, shape: [L.out], data: L.beta });
      }
    });
    arrays.push({ name: 'ols.sample', shape: [this.config.olsSamples, this.dim], data: this.olsSample });
    arrays.push({ name: 'ols.pinvT', shape: [this.config.olsSamples, this.hidden], data: this.pinvT });
    const layers = this.psi.layers.map((L) => ({ in: L.in, out: L.out, geluBeforeNorm: L.geluBeforeNorm, affine: L.gamma !== undefined }));
    await writeArtifact(path, { config: this.config, stats: this.stats, info: this.info, layers }, arrays);
  }

  /** @throws CorruptFileError (magic, version, checksums, missing arrays) */
  static async load(path: string): Promise<LemurModel> {
    const { meta, arrays } = await readArtifact(path);
    const get = (name: string): Float32Array => {
      const a = arrays.get(name);
      if (!a) throw new CorruptFileError(`model ${path}: array ${name} is missing`, path);
      return a;
    };
    const config = meta['config'] as LemurModelConfig;
    const layersMeta = meta['layers'] as { in: number; out: number; geluBeforeNorm: boolean; affine: boolean }[];
    const psi: PsiWeights = {
      dim: config.dim,
      hidden: config.hidden,
      layers: layersMeta.map((L, i) => {
        const layer: PsiWeights['layers'][number] = { in: L.in, out: L.out, weight: get(`psi.${i}.weight`), bias: get(`psi.${i}.bias`), geluBeforeNorm: L.geluBeforeNorm };
        if (L.affine) {
          layer.gamma = get(`psi.${i}.gamma`);
          layer.beta = get(`psi.${i}.beta`);
        }
        return layer;
      }),
    };
    return new LemurModel(config, psi, meta['stats'] as { mean: number; std: number }, get('ols.sample'), get('ols.pinvT'), meta['info'] as LemurModelInfo);
  }
}
