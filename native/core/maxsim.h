// The MaxSim kernel boundary: one primitive, three ISA implementations.
//
// panel_max computes, for a "panel" of up to `lanes` query (or probe) vectors stored
// dimension-major, out[l] = max over doc tokens t of <q_l, doc_t>. Query vectors sit in the
// SIMD lanes and doc tokens are broadcast from their natural token-major rows, so the max over
// tokens is a vertical vmaxps (no horizontal work per token), documents need no padding, and
// any dim works (one FMA step per dimension). Rerank, exact top-k and LEMUR's training targets
// are all loops around this primitive (maxsim_ops.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "aligned_buffer.h"
#include "cpu_features.h"

namespace lemur {

// Lanes of a panel are padded to a multiple of this (one AVX-512 register; two AVX2 ones).
constexpr int kPanelLaneAlign = 16;

inline int panel_lanes(int64_t nq) {
  return static_cast<int>((nq + kPanelLaneAlign - 1) / kPanelLaneAlign * kPanelLaneAlign);
}

// Transposes nq rows of dim floats into a dim x lanes panel; padding lanes are zero.
void build_panel(const float* rows, int64_t nq, int dim, AlignedBuffer<float>* panel, int* lanes);

// One FMA peak probe for benchmarks: `iters` rounds of `chains` independent vector FMA chains
// started from different values (identical chains would be merged by the compiler). Returns the
// FLOPs done; `sink` defeats dead-code elimination. `chains` is sized per ISA to its register
// file: a probe that spills measures its spills, not the core (16 ymm chains on AVX2's 16
// registers gave 58.7 GFLOP/s on Zen 3 where 12 give 95-98).
struct FmaProbe {
  const char* name;  // "reg": every operand in a register; "mem": one operand read from L1
  int chains;
  double (*run)(int64_t iters, float* sink);
};

// Two probe shapes per ISA: the peak is the best of both, and a large gap between them says one
// of them is not measuring the FMA ports.
constexpr int kFmaProbes = 2;

struct KernelTable {
  Kernel kernel;
  // out[l] = max_t <panel lane l, doc row t> for l < lanes; -inf when ntok == 0. Each
  // (lane, token) product is one FMA chain over k = 0..dim-1 from +0, in that order, in every
  // kernel: the SIMD kernels then give bit-identical scores to a std::fma scalar loop.
  void (*panel_max)(const float* panel, int dim, int lanes, const float* doc, int64_t ntok, float* out);
  void (*half_to_float)(const uint16_t* src, float* dst, size_t n);
  FmaProbe fma_probes[kFmaProbes];
  // <a, b> over d floats: the inner product of candidate generation (HNSW distance computer).
  float (*dot)(const float* a, const float* b, int d);
  // The compact rows' inner products (row_codec.h): <q, half_to_float(h)> over d halves, and
  // sum w[i] * c[i] over d bytes (an SQ8 row against a query pre-scaled per dimension). Their
  // own fixed order, on every ISA: 64 partials, partial l takes i = l (mod 64) ascending with
  // one FMA each (lanes past d keep their partial), then the tree p[l] += p[l+32], +16, +8, +4,
  // +2, +1. Four independent FMA chains per AVX-512 lane group where dot has one: compact rows
  // come from memory 2-4x faster, and one chain would leave the conversions waiting on it.
  float (*dot_f16)(const float* q, const uint16_t* h, int d);
  float (*dot_u8)(const float* w, const uint8_t* c, int d);
};

const KernelTable& kernel_table(Kernel k);

// Per-ISA tables (maxsim_scalar.cc, maxsim_avx2.cc, maxsim_avx512.cc). Only the dispatcher
// calls them, after cpu_supports() said yes.
const KernelTable& scalar_kernel_table();
const KernelTable& avx2_kernel_table();
const KernelTable& avx512_kernel_table();

}  // namespace lemur
