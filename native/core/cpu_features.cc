// cpuid-based kernel choice. __builtin_cpu_supports also checks that the OS saves the
// AVX/AVX-512 register state (XCR0), so a "supported" kernel is really usable.
#include "cpu_features.h"

#include <atomic>
#include <cstdio>
#include <cstring>

namespace lemur {

namespace {
std::atomic<int> g_default{-1};
}

const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::kScalar: return "scalar";
    case Kernel::kAvx2: return "avx2";
    case Kernel::kAvx512: return "avx512";
  }
  return "unknown";
}

Status parse_kernel(const std::string& name, Kernel* out) {
  if (name == "scalar") { *out = Kernel::kScalar; return Status::Ok(); }
  if (name == "avx2") { *out = Kernel::kAvx2; return Status::Ok(); }
  if (name == "avx512") { *out = Kernel::kAvx512; return Status::Ok(); }
  return Status::Error(StatusCode::kInvalidArgument,
                       "Expected kernel 'scalar', 'avx2' or 'avx512' but received '" + name + "'");
}

bool cpu_supports(Kernel k) {
  __builtin_cpu_init();
  switch (k) {
    case Kernel::kScalar: return true;
    case Kernel::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Kernel::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  }
  return false;
}

Kernel best_kernel() {
  if (cpu_supports(Kernel::kAvx512)) return Kernel::kAvx512;
  if (cpu_supports(Kernel::kAvx2)) return Kernel::kAvx2;
  return Kernel::kScalar;
}

Kernel default_kernel() {
  int k = g_default.load(std::memory_order_relaxed);
  return k < 0 ? best_kernel() : static_cast<Kernel>(k);
}

Status set_default_kernel(Kernel k) {
  if (!cpu_supports(k)) {
    return Status::Error(StatusCode::kUnsupportedCpu,
                         std::string("kernel '") + kernel_name(k) + "' is not supported by this CPU (" +
                             cpu_model_name() + ")");
  }
  g_default.store(static_cast<int>(k), std::memory_order_relaxed);
  return Status::Ok();
}

std::string cpu_model_name() {
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  std::string name = "unknown";
  if (!f) return name;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "model name", 10) == 0) {
      const char* colon = std::strchr(line, ':');
      if (colon) {
        name = colon + 1;
        while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.erase(0, 1);
        while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      }
      break;
    }
  }
  std::fclose(f);
  return name;
}

}  // namespace lemur
