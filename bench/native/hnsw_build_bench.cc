// Times the deterministic HNSW build (IpIndex::add) against Faiss 1.7.3's own parallel add,
// with 1 and 2 threads, and measures recall@10 against exact inner-product top-10. Runs the
// C++ core without Node, so the numbers are the build's, not the boundary's. Not a test: it
// asserts nothing except printing whether the 1- and 2-thread bytes match.
//
// Build (after the addon is built, from the repo root):
//   g++ -O2 -std=c++17 -fopenmp -o /tmp/hnsw_build_bench bench/native/hnsw_build_bench.cc \
//     native/build/Release/obj.target/lemur/core/{ip_index,hnsw_build,row_codec,ols,fixed_order_gemm,maxsim_ops,maxsim_scalar,maxsim_avx2,maxsim_avx512,maxsim_dispatch,cpu_features}.o \
//     /usr/lib/x86_64-linux-gnu/libfaiss.a -lopenblas -llapacke -llapack
// Run: /tmp/hnsw_build_bench [n=10000] [d=2048] [data=random|clustered] [nq=200] [noise=0.7]
//        [centres=100] [seed=1]      (env ONLY_T2=1 skips the 1-thread build, NO_FAISS=1 Faiss's)
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../../native/core/ip_index.h"
#include "../../native/core/maxsim.h"

using namespace lemur;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The baseline: Faiss's own add, with the same dispatched dot product as IpIndex's storage.
struct BaselineStorage : faiss::IndexFlatIP {
  const KernelTable* kt;
  BaselineStorage(int d, const KernelTable* t) : faiss::IndexFlatIP(d), kt(t) {}
  struct Computer : faiss::FlatCodesDistanceComputer {
    const float* xb;
    int d;
    const float* q = nullptr;
    const KernelTable* kt;
    explicit Computer(const BaselineStorage& s)
        : faiss::FlatCodesDistanceComputer(s.codes.data(), s.code_size), xb(s.get_xb()), d(static_cast<int>(s.d)), kt(s.kt) {}
    void set_query(const float* x) override { q = x; }
    float distance_to_code(const uint8_t* c) override { return kt->dot(q, reinterpret_cast<const float*>(c), d); }
    float symmetric_dis(idx_t i, idx_t j) override { return kt->dot(xb + i * d, xb + j * d, d); }
  };
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override { return new Computer(*this); }
};

float noise = 0.7f;

std::vector<float> make_data(int64_t n, int d, const std::string& kind, uint64_t seed, const std::vector<float>& centres) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(n) * d);
  const int64_t nc = static_cast<int64_t>(centres.size()) / d;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = kind == "clustered" ? static_cast<int64_t>(g() % nc) : -1;
    for (int j = 0; j < d; ++j) x[i * d + j] = (c >= 0 ? centres[c * d + j] : 0.f) + (c >= 0 ? noise : 1.f) * nd(g);
  }
  return x;
}

double recall(const std::vector<int64_t>& got, const std::vector<int64_t>& want, int64_t nq, int k) {
  int64_t hit = 0;
  for (int64_t q = 0; q < nq; ++q) {
    for (int i = 0; i < k; ++i) {
      if (std::find(want.begin() + q * k, want.begin() + (q + 1) * k, got[q * k + i]) != want.begin() + (q + 1) * k) ++hit;
    }
  }
  return static_cast<double>(hit) / static_cast<double>(nq * k);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 10000;
  const int d = argc > 2 ? std::atoi(argv[2]) : 2048;
  const std::string kind = argc > 3 ? argv[3] : "random";
  const int64_t nq = argc > 4 ? std::atoll(argv[4]) : 200;
  const int k = 10;
  if (argc > 5) noise = static_cast<float>(std::atof(argv[5]));
  const int ncentres = argc > 6 ? std::atoi(argv[6]) : 100;
  const Kernel kern = best_kernel();
  const KernelTable& kt = kernel_table(kern);

  std::vector<float> centres;
  {
    std::mt19937_64 g(7);
    std::normal_distribution<float> nd;
    centres.resize(static_cast<size_t>(ncentres) * d);
    for (float& v : centres) v = nd(g);
  }
  const uint64_t seed = argc > 7 ? std::strtoull(argv[7], nullptr, 10) : 1;
  const std::vector<float> x = make_data(n, d, kind, seed, centres);
  const std::vector<float> q = make_data(nq, d, kind, seed + 1000, centres);
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = i;

  // exact top-k with the same dot
  std::vector<int64_t> exact(nq * k);
#pragma omp parallel for num_threads(2)
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<std::pair<float, int64_t>> s(n);
    for (int64_t j = 0; j < n; ++j) s[j] = {-kt.dot(q.data() + i * d, x.data() + j * d, d), j};
    std::partial_sort(s.begin(), s.begin() + k, s.end());
    for (int r = 0; r < k; ++r) exact[i * k + r] = s[r].second;
  }
  std::printf("n=%lld d=%d data=%s nq=%lld kernel=%s M=32 efConstruction=40\n", (long long)n, d, kind.c_str(), (long long)nq, kernel_name(kern));

  auto report = [&](const char* name, int threads, double secs, auto&& search) {
    std::printf("%-14s threads=%d build=%.2fs", name, threads, secs);
    for (int ef : {100, 200}) {
      std::vector<int64_t> labels(nq * k);
      std::vector<float> dist(nq * k);
      search(ef, labels.data(), dist.data());
      std::printf("  recall@10(ef%d)=%.4f", ef, recall(labels, exact, nq, k));
    }
    std::printf("\n");
    std::fflush(stdout);
  };

  std::vector<std::vector<uint8_t>> bytes;
  for (int threads : {1, 2, 2}) {
    if (getenv("ONLY_T2") && threads == 1) { bytes.emplace_back(); continue; }
    std::unique_ptr<IpIndex> ix;
    IpIndexParams p;
    IpIndex::create(d, p, kern, &ix);
    const double t0 = now();
    Status st = ix->add(x.data(), ids.data(), n, threads);
    const double t1 = now();
    if (!st.ok()) { std::printf("add failed: %s\n", st.message.c_str()); return 1; }
    report("deterministic", threads, t1 - t0, [&](int ef, int64_t* l, float* dd) { ix->search(q.data(), nq, k, ef, 2, l, dd); });
    bytes.emplace_back();
    ix->serialize(&bytes.back());
  }
  std::printf("bytes equal: 1 vs 2 threads %s, 2 vs 2 threads %s (%zu bytes)\n", bytes[0] == bytes[1] ? "yes" : "NO",
              bytes[1] == bytes[2] ? "yes" : "NO", bytes[0].size());

  for (int threads : {1, 2}) {
    if (getenv("NO_FAISS")) break;
    faiss::IndexHNSWFlat h(d, 32, faiss::METRIC_INNER_PRODUCT);
    delete h.storage;
    h.storage = new BaselineStorage(d, &kt);
    h.hnsw.efConstruction = 40;
    omp_set_num_threads(threads);
    const double t0 = now();
    h.add(n, x.data());
    const double t1 = now();
    report("faiss add", threads, t1 - t0, [&](int ef, int64_t* l, float* dd) {
      omp_set_num_threads(2);
      h.hnsw.efSearch = ef;
      h.search(nq, q.data(), k, dd, l);
    });
  }
  return 0;
}
