/** The "machine" block of every benchmark object: CPU, cores, kernel in use, BLAS core type. */
import { availableParallelism } from 'node:os';

import { kernelInfo } from '../../src/native/cpu.js';

export interface MachineInfo {
  cpu: string;
  logical_cores: number;
  kernel: string;
  kernels_available: string[];
  blas_coretype: string | null;
  node: string;
}

export function machineInfo(): MachineInfo {
  const k = kernelInfo();
  return {
    cpu: k.cpu,
    logical_cores: availableParallelism(),
    kernel: k.kernel,
    kernels_available: k.available,
    // reported as the environment sets it, never changed (../shared/conventions.md)
    blas_coretype: process.env['OPENBLAS_CORETYPE'] ?? null,
    node: process.version,
  };
}
