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

/** One FMA probe shape and what it measured. */
export interface FmaProbeResult {
  /** `reg`: every operand in a register; `mem`: one operand read from L1. */
  name: string;
  /** Independent vector FMA chains, sized to the ISA's register file (no spills). */
  chains: number;
  /** Best ~10 ms sample. */
  gflops: number;
  /** Median sample. */
  medianGflops: number;
}

export interface FmaPeak {
  /** The ISA the probes ran on. */
  isa: KernelName;
  /** Best ~10 ms sample of the best probe: the core's capability. */
  gflops: number;
  /** Median sample of that probe: what the core gave on this (shared, noisy) machine meanwhile. */
  medianGflops: number;
  /** The probe that set `gflops`. */
  probe: FmaProbeResult;
  /** Both probe shapes (a cross-check: a large gap means one is not measuring the FMA ports). */
  probes: FmaProbeResult[];
}

/**
 * Single-thread fp32 FMA peak of a kernel's ISA in GFLOP/s: two probe shapes (independent vector
 * FMA chains sized to the ISA's registers, all-register and with an L1 operand), sampled
 * alternately in ~10 ms runs during `seconds`.
 * @param seconds sampling time, > 0; default 0.3
 * @throws UnsupportedCpuError if the CPU lacks the ISA.
 */
export async function fmaPeak(kernel: KernelName, seconds = 0.3): Promise<FmaPeak> {
  if (!KERNEL_NAMES.includes(kernel)) throw new InvalidArgumentError(`Expected kernel in ${KERNEL_NAMES.join(', ')} but received '${kernel}'`);
  const r = await callNative(() => binding.fmaPeak(kernel, seconds));
  return { ...r, isa: r.isa as KernelName };
}
