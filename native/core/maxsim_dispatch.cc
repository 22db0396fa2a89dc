// Picks the kernel table for a Kernel and builds query panels (ISA-neutral code only).
#include <cstring>

#include "maxsim.h"

namespace lemur {

const KernelTable& kernel_table(Kernel k) {
  switch (k) {
    case Kernel::kAvx512: return avx512_kernel_table();
    case Kernel::kAvx2: return avx2_kernel_table();
    case Kernel::kScalar: break;
  }
  return scalar_kernel_table();
}

void build_panel(const float* rows, int64_t nq, int dim, AlignedBuffer<float>* panel, int* lanes) {
  const int L = panel_lanes(nq);
  panel->resize(static_cast<size_t>(L) * dim);
  float* p = panel->data();
  std::memset(p, 0, sizeof(float) * static_cast<size_t>(L) * dim);
  for (int64_t i = 0; i < nq; ++i) {
    const float* r = rows + i * dim;
    for (int k = 0; k < dim; ++k) p[static_cast<size_t>(k) * L + i] = r[k];
  }
  *lanes = L;
}

}  // namespace lemur
