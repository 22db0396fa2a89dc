// Which MaxSim kernel this process runs: detected from cpuid, or forced (LEMUR_KERNEL, per call).
// Forcing a level the CPU lacks is an error, never a silent fallback.
#pragma once
#include <string>

#include "status.h"

namespace lemur {

enum class Kernel : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

const char* kernel_name(Kernel k);
// Parses "scalar" | "avx2" | "avx512"; anything else is kInvalidArgument.
Status parse_kernel(const std::string& name, Kernel* out);
bool cpu_supports(Kernel k);
Kernel best_kernel();

// The process-wide default, settable once from TS config (LEMUR_KERNEL).
Kernel default_kernel();
Status set_default_kernel(Kernel k);

std::string cpu_model_name();

}  // namespace lemur
