/**
 * ψ, LEMUR's learned token embedding, in native code: training on standardised targets, batched
 * forward, query features. Weights are plain typed arrays (PsiWeights) so a model can be saved,
 * loaded and sent to any worker; PsiHandle holds them in native memory, loaded once, for the
 * forward and features calls (no copy of the weights per call).
 */
import { config } from '../config.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { PSI_DEFAULTS, withDefaults } from '../fit-defaults.js';
import { binding, callNative, closeNative, type NativeBatch, type NativeEpoch, type NativePsi, type NativePsiHandle, type NativeTrainEvent } from './binding.js';
import { assertCounts, assertFinite, assertFloat32Array, assertInt, assertInt32Array } from './check.js';

export type PsiWeights = NativePsi;
export type EpochStats = NativeEpoch;

/** Progress within an epoch of ψ's training. */
export interface BatchProgress {
  /** The epoch under way, 1-based. */
  epoch: number;
  epochs: number;
  /** Batches done in this epoch, 1 … batches. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Mean training loss of this epoch's batches so far; at batch === batches, the epoch's trainLoss. */
  loss: number;
}

/** Options of ψ's training; every default is PSI_DEFAULTS (src/fit-defaults.ts). */
export interface TrainPsiOptions {
  /** Width h of ψ's layers. @defaultValue PSI_DEFAULTS.hidden */
  hidden?: number;
  /** 1 = Linear+LayerNorm+GELU; each extra adds Linear(h→h)+LayerNorm+GELU. @defaultValue PSI_DEFAULTS.numLayers */
  numLayers?: number;
  /** Passes over the learn vectors; 0 = random-feature (ELM) ψ without training. @defaultValue PSI_DEFAULTS.epochs */
  epochs?: number;
  /** @defaultValue PSI_DEFAULTS.batch */
  batch?: number;
  /** Adam learning rate. @defaultValue PSI_DEFAULTS.lr */
  lr?: number;
  /** Global gradient-norm clip. @defaultValue PSI_DEFAULTS.clip */
  clip?: number;
  /** Fraction of rows held out; the epoch with the best validation loss is kept. @defaultValue PSI_DEFAULTS.valFraction */
  valFraction?: number;
  /** @defaultValue PSI_DEFAULTS.seed */
  seed?: number;
  /** @defaultValue LEMUR_THREADS */
  threads?: number;
  /** Called after each epoch (on the JS thread). */
  onEpoch?: (e: EpochStats) => void;
  /**
   * Called during an epoch at most every ~200 ms, and after its last batch (before that epoch's
   * onEpoch), on the JS thread; (epoch, batch) strictly increase.
   */
  onBatch?: (p: BatchProgress) => void;
}

export interface TrainPsiResult {
  psi: PsiWeights;
  epochs: EpochStats[];
  /** The epoch whose weights were kept. */
  bestEpoch: number;
  /** Batches per epoch (0 when epochs is 0). */
  batches: number;
}

/**
 * Trains ψ with a bias-free Linear(h → m) head on targets Y (MSE, Adam, clipping) and returns ψ
 * without the head. Do not modify X or Y until the promise settles.
 * @param X n × dim learn vectors
 * @param Y n × m standardised targets
 * @throws InvalidArgumentError, InputDataError (non-finite inputs; a loss that becomes NaN, naming the epoch);
 *   whatever onEpoch or onBatch throws, once training has ended (later events are not delivered)
 */
export async function trainPsi(X: Float32Array, dim: number, Y: Float32Array, m: number, options: TrainPsiOptions = {}): Promise<TrainPsiResult> {
  assertInt('dim', dim, { min: 1, max: 1 << 20 });
  assertInt('m', m, { min: 1 });
  assertFloat32Array('X', X);
  assertFloat32Array('Y', Y);
  if (X.length === 0 || X.length % dim !== 0) throw new InvalidArgumentError(`Expected X.length to be a positive multiple of dim = ${dim} but received ${X.length}`);
  const n = X.length / dim;
  if (Y.length !== n * m) throw new InvalidArgumentError(`Expected Y.length = n × m = ${n} × ${m} = ${n * m} but received ${Y.length}`);
  assertFinite('X', X, dim);
  const o = { ...withDefaults(PSI_DEFAULTS, options), threads: options.threads ?? config().threads };
  assertInt('hidden', o.hidden, { min: 1, max: 1 << 16 });
  assertInt('numLayers', o.numLayers, { min: 1, max: 16 });
  assertInt('epochs', o.epochs, { min: 0, max: 100_000 });
  assertInt('batch', o.batch, { min: 1, max: 1 << 20 });
  assertInt('seed', o.seed, { min: 0 });
  assertInt('threads', o.threads, { min: 1, max: 1024 });
  if (!(o.lr > 0) || !(o.clip > 0)) throw new InvalidArgumentError(`Expected positive lr and clip but received ${o.lr} and ${o.clip}`);
  if (!(o.valFraction >= 0 && o.valFraction < 1)) throw new InvalidArgumentError(`Expected valFraction in [0, 1) but received ${o.valFraction}`);
  // Events arrive through a thread-safe function whose calls may land after the promise
  // settles: those are dropped, and what a success has not delivered yet (the last epochs, and
  // the last batch of each) is delivered from the result, in training order, before this returns.
  const { onEpoch, onBatch } = options;
  let open = true;
  let failed = false;
  let error: unknown;
  let epochAt = 0; // last epoch given to onEpoch
  let batchAt = { epoch: 0, batch: 0 }; // last batch given to onBatch
  const safely = (f: () => void): void => {
    try {
      f();
    } catch (err) {
      failed = true;
      error = err;
    }
  };
  const epoch = (e: EpochStats): void => {
    if (!open || failed || !onEpoch || e.epoch <= epochAt) return;
    epochAt = e.epoch;
    safely(() => onEpoch(e));
  };
  const batch = (b: BatchProgress): void => {
    if (!open || failed || !onBatch || b.epoch < batchAt.epoch || (b.epoch === batchAt.epoch && b.batch <= batchAt.batch)) return;
    batchAt = { epoch: b.epoch, batch: b.batch };
    safely(() => onBatch(b));
  };
  const onEvent: NativeTrainEvent = (...[kind, e]) => (kind === 'epoch' ? epoch(e) : batch(e));
  let r: TrainPsiResult;
  try {
    r = await callNative(() => binding.trainPsi(X, dim, Y, m, o, onEpoch || onBatch ? onEvent : undefined));
  } finally {
    open = false;
  }
  open = true; // for the result's own deliveries only
  for (const e of r.epochs) {
    const last: NativeBatch = { epoch: e.epoch, epochs: o.epochs, batch: r.batches, batches: r.batches, loss: e.trainLoss };
    batch(last);
    epoch(e);
  }
  open = false;
  if (failed) throw error;
  return r;
}

function checkPsi(psi: PsiWeights): void {
  if (typeof psi !== 'object' || psi === null || !Array.isArray(psi.layers)) throw new InvalidArgumentError('Expected ψ weights { dim, hidden, layers }');
}

/**
 * ψ weights loaded into native memory once (validated and copied off the event loop), then used
 * by forward() and queryFeatures() without copying them again. Lifetime is explicit: close()
 * frees them (idempotent); a finalizer frees a handle never closed.
 * @example
 * const psi = await PsiHandle.load(model.psi);
 * try { const F = await psi.queryFeatures(queries, counts); } finally { psi.close(); }
 */
export class PsiHandle {
  #native: NativePsiHandle | undefined;
  readonly dim: number;
  readonly hidden: number;

  private constructor(native: NativePsiHandle) {
    this.#native = native;
    const i = native.info();
    this.dim = i.dim;
    this.hidden = i.hidden;
  }

  /** @throws InvalidArgumentError (shapes) */
  static async load(psi: PsiWeights): Promise<PsiHandle> {
    checkPsi(psi);
    return new PsiHandle(await callNative(() => binding.psiLoad(psi)));
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  #handle(): NativePsiHandle {
    if (!this.#native) throw new ClosedError('ψ');
    return this.#native;
  }

  /**
   * Z = ψ(X), n × hidden. Do not modify X until the promise settles.
   * @throws InvalidArgumentError (shapes), InputDataError (non-finite X), ClosedError
   */
  async forward(X: Float32Array, options: { threads?: number } = {}): Promise<Float32Array> {
    const n = this.#handle();
    assertFloat32Array('X', X);
    if (X.length % this.dim !== 0) throw new InvalidArgumentError(`Expected X.length to be a multiple of ψ's dim ${this.dim} but received ${X.length}`);
    assertFinite('X', X, this.dim);
    const out = new Float32Array((X.length / this.dim) * this.hidden);
    return callNative(() => n.forward(X, out, options.threads ?? config().threads));
  }

  /**
   * LEMUR query features: Σ over each query's tokens of ψ(q), divided by `divisor` (32, the
   * reference's constant, whatever the query length). nq × hidden.
   * @throws InvalidArgumentError (shapes), InputDataError (non-finite queries), ClosedError
   */
  async queryFeatures(queries: Float32Array, queryCounts: Int32Array, options: { divisor?: number; threads?: number } = {}): Promise<Float32Array> {
    const n = this.#handle();
    assertFloat32Array('queries', queries);
    assertInt32Array('queryCounts', queryCounts);
    assertCounts('queryCounts', queryCounts, 'queries', queries, this.dim);
    assertFinite('queries', queries, this.dim);
    const out = new Float32Array(queryCounts.length * this.hidden);
    return callNative(() => n.queryFeatures(queries, queryCounts, options.divisor ?? 32, out, options.threads ?? config().threads));
  }

  /** Frees the weights. Idempotent. @throws ResourceBusyError while a call is in flight */
  close(): void {
    if (!this.#native) return;
    closeNative(this.#native, 'ψ');
    this.#native = undefined;
  }
}

/** Runs fn on psi, loading plain weights into a handle for this one call. */
async function withHandle<T>(psi: PsiWeights | PsiHandle, fn: (h: PsiHandle) => Promise<T>): Promise<T> {
  if (psi instanceof PsiHandle) return fn(psi);
  const h = await PsiHandle.load(psi);
  try {
    return await fn(h);
  } finally {
    h.close();
  }
}

/**
 * Z = ψ(X), n × hidden. Plain weights are loaded for this call only: keep a PsiHandle to call
 * it repeatedly.
 * @throws InvalidArgumentError (shapes), InputDataError (non-finite X)
 */
export async function psiForward(psi: PsiWeights | PsiHandle, X: Float32Array, options: { threads?: number } = {}): Promise<Float32Array> {
  return withHandle(psi, (h) => h.forward(X, options));
}

/** LEMUR query features (PsiHandle.queryFeatures); plain weights are loaded for this call only. */
export async function psiQueryFeatures(
  psi: PsiWeights | PsiHandle,
  queries: Float32Array,
  queryCounts: Int32Array,
  options: { divisor?: number; threads?: number } = {},
): Promise<Float32Array> {
  return withHandle(psi, (h) => h.queryFeatures(queries, queryCounts, options));
}

/** One forward/backward pass without an update (tests): loss and gradients, layer by layer (weight, bias, gamma, beta), then the head. */
export async function psiGradients(psi: PsiWeights, outW: Float32Array, X: Float32Array, T: Float32Array, m: number): Promise<{ loss: number; grads: Float32Array[] }> {
  checkPsi(psi);
  return callNative(() => binding.psiGradients(psi, outW, X, T, m));
}
