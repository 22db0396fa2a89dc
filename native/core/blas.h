// One include point for OpenBLAS (cblas + its thread control) and LAPACKE.
//
// BLAS threads are set once per process, here and nowhere else. OpenBLAS's thread count is one
// process-global variable (and setting it may resize its one thread pool), while up to four
// libuv pool threads run native calls at once: a call that set its own count would change the
// count of a sgemm already running on another pool thread, and race with it on the pool's
// resize. So the addon calls blas_init_threads() once at load with LEMUR_THREADS (config.ts ->
// binding.ts -> setBlasThreads), and no native call touches it: a call's `threads` argument
// sizes only our own std::thread loops (parallel.h) and Faiss's OpenMP regions (whose count is
// per calling thread, ip_index.cc). Results that promise the same bits never depend on it
// anyway: they run on fixed_order_gemm, not sgemm (docs/determinism.md). A plain C++ program
// (native/test) calls blas_init_threads() itself, once, before any BLAS work.
#pragma once
#include <cblas.h>
#include <lapacke.h>

namespace lemur {

inline void blas_init_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
inline int blas_threads() { return openblas_get_num_threads(); }
inline const char* blas_core_name() { return openblas_get_corename(); }

// Row-major C(m x n) = alpha * op(A) * op(B) + beta * C, the only sgemm form we use.
inline void sgemm_rm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                     int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda,
              B, ldb, beta, C, ldc);
}

}  // namespace lemur
