// One include point for OpenBLAS (cblas + its thread control) and LAPACKE.
// Threads: OpenBLAS keeps its own pool; blas_set_threads() is called once per native call with
// the call's `threads`, so our std::thread kernels and OpenBLAS never run at the same time.
#pragma once
#include <cblas.h>
#include <lapacke.h>

namespace lemur {

inline void blas_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
inline const char* blas_core_name() { return openblas_get_corename(); }

// Row-major C(m x n) = alpha * op(A) * op(B) + beta * C, the only sgemm form we use.
inline void sgemm_rm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                     int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda,
              B, ldb, beta, C, ldc);
}

}  // namespace lemur
