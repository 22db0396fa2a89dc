/**
 * The defaults of fitting a LEMUR model, in one place (the reference's settings). ψ's training
 * (src/native/psi.ts), the whole fit (src/model/fit-lemur.ts) and the CLI's flags read them
 * here. The C++ `TrainOptions` in native/core/psi_trainer.h has the same numbers only as a
 * fallback for C++ callers: the addon is always given every field from these.
 */

/** ψ's training: width, depth, epochs, batch, Adam learning rate, clip, validation split, seed. */
export const PSI_DEFAULTS = {
  hidden: 2048,
  numLayers: 1,
  epochs: 10,
  batch: 512,
  lr: 3e-3,
  clip: 0.5,
  valFraction: 0,
  seed: 0,
} as const;

/** A whole fit: ψ's settings plus m' target documents, learn vectors and the OLS sample size. */
export const FIT_DEFAULTS = {
  ...PSI_DEFAULTS,
  mPrime: 8192,
  nLearn: 100_000,
  olsSamples: 16384,
} as const;

/** Every key of `defaults`, from `options` where given there (not undefined or null), else the default. */
export function withDefaults<D extends Record<string, number>>(defaults: D, options: { [K in keyof D]?: number | undefined }): { [K in keyof D]: number } {
  const out = { ...defaults } as { [K in keyof D]: number };
  for (const k of Object.keys(defaults) as (keyof D)[]) out[k] = options[k] ?? defaults[k];
  return out;
}

/**
 * How a build stores what it publishes, chosen per build and recorded in the manifest: token
 * stores in IEEE half (exact MaxSim over fp16 tokens is the rerank's ground truth; the kernels
 * widen with F16C / AVX-512) and HNSW rows in fp16 (half of fp32's bytes, the same recall on
 * `small`; sq8 is a quarter, opt-in). Ingests and compactions of a version keep its encoding.
 */
export interface ArtifactEncoding {
  tokens: 'float32' | 'float16';
  index: 'fp32' | 'fp16' | 'sq8';
}

export const ENCODING_DEFAULTS: ArtifactEncoding = { tokens: 'float16', index: 'fp16' };

/** What a manifest without an `encoding` field holds (versions built before encodings were chosen). */
export const LEGACY_ENCODING: ArtifactEncoding = { tokens: 'float32', index: 'fp32' };
