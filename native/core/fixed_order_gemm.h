// C = Aᵀ·B with a fixed accumulation order per output element, the same on every ISA.
//
// Why not sgemm: a BLAS may legitimately sum a dot product in an order that depends on its
// micro-kernel, on where the row sits in a register block and on the thread split (measured:
// OpenBLAS's Haswell/Zen kernels give a document's W row different last bits at different
// positions of an OLS block). LEMUR promises that a document's W row is the same bits whether it
// is weighted alone, in a batch or in a full build, on any machine: that needs an order that is
// a property of the element, not of the kernel.
//
// The order: C[j][c] = fma(A[s-1][j], B[s-1][c], … fma(A[1][j], B[1][c], fma(A[0][j], B[0][c], +0)))
// — one fused multiply-add chain over k ascending, starting from +0. Every ISA computes exactly
// this (SIMD lanes hold different c; blocking over k stores and reloads the running sum, which
// is exact), so scalar, AVX2 and AVX-512 agree bit for bit, whatever m, n, threads or blocking.
#pragma once
#include <cstdint>

#include "cpu_features.h"

namespace lemur {

// A strided matrix operand: element (i, j) is p[i * rs + j * cs].
struct StridedMatrix {
  const float* p;
  int64_t rs;
  int64_t cs;
};

// C (m x n, row stride ldc) = Aᵀ · B (+ bias[c] per column, one rounding after the chain, when
// bias is not null), with A k x m and B k x n. OLS passes Y (s x docs) and pinvT (s x h) as they
// are; ψ's layers pass X (rows x in) and W (out x in) transposed through the strides.
void fixed_order_gemm(StridedMatrix A, StridedMatrix B, int64_t k, int64_t m, int64_t n, const float* bias, float* C,
                      int64_t ldc, int threads, Kernel kernel);

// Row-major shorthand: A is k x m with row stride lda, B is k x n with row stride ldb.
inline void fixed_order_gemm_tn(const float* A, int64_t lda, const float* B, int64_t ldb, int64_t k, int64_t m,
                                int64_t n, float* C, int64_t ldc, int threads, Kernel kernel) {
  fixed_order_gemm({A, lda, 1}, {B, ldb, 1}, k, m, n, nullptr, C, ldc, threads, kernel);
}

}  // namespace lemur
