/** Which MaxSim kernel runs here, and the CPU's FMA peak (for benchmarks). */
import { KERNEL_NAMES, type KernelName } from '../config.js';
import { InvalidArgumentError } from '../errors.js';
import { binding, callNative } from './binding.js';

export interface KernelInfo {
  /** The kernel calls use unless they pass `kernel`. */
  kernel: KernelName;
  /** The best kernel this CPU supports. */
  best: KernelName;
  /** Every kernel this CPU can run. */
  available: KernelName[];
  /** /proc/cpuinfo's model name. */
  cpu: string;
}

/** The kernel in use and the kernels this CPU supports. O(1), synchronous. */
export function kernelInfo(): KernelInfo {
  const i = binding.cpuInfo();
  return { kernel: i.kernel as KernelName, best: i.best as KernelName, available: i.available as KernelName[], cpu: i.cpu };
}

export interface FmaPeak {
  /** Best ~10 ms sample: the core's capability. */
  gflops: number;
  /** Median sample: what the core gave on this (shared, noisy) machine meanwhile. */
  medianGflops: number;
}

/**
 * Single-thread fp32 FMA peak of a kernel's ISA in GFLOP/s: 16 independent vector FMA chains
 * started from different values, sampled in ~10 ms runs during `seconds`.
 * @throws UnsupportedCpuError if the CPU lacks the ISA.
 */
export async function fmaPeak(kernel: KernelName, seconds = 0.3): Promise<FmaPeak> {
  if (!KERNEL_NAMES.includes(kernel)) throw new InvalidArgumentError(`Expected kernel in ${KERNEL_NAMES.join(', ')} but received '${kernel}'`);
  return callNative(() => binding.fmaPeak(kernel, seconds));
}
