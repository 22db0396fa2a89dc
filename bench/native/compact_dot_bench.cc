// Times one inner product of an fp32 query with a stored row, per row encoding and kernel:
// KernelTable::dot (fp32 rows, 16 partials), dot_f16 and dot_u8 (fp16 / byte rows, 64
// partials: four FMA chains per AVX-512 lane group), against 16-partial versions of the compact
// ones written here (one chain per lane, the fp32 dot's shape) to show what the 64-partial order
// buys. Rows are visited in a random order, from an L2-sized set ("l2") and from a set far
// larger than the L3 ("mem", what HNSW search sees). Not a test: it checks nothing but prints a
// checksum so no loop is optimised away.
//
// Build (after the addon is built, from the repo root):
//   g++ -O2 -std=c++17 -o /tmp/compact_dot_bench bench/native/compact_dot_bench.cc \
//     native/build/Release/obj.target/lemur/core/{maxsim_scalar,maxsim_avx2,maxsim_avx512,maxsim_dispatch,cpu_features}.o
// Run: /tmp/compact_dot_bench [d=2048] [mem_rows=40000]
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "../../native/core/cpu_features.h"
#include "../../native/core/half.h"
#include "../../native/core/maxsim.h"

using namespace lemur;

namespace {

#define AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

AVX512 float tree16(__m512 p) { return _mm512_reduce_add_ps(p); }  // order irrelevant here: timing only

// The fp32 dot's shape applied to compact rows: one zmm of 16 partials, one FMA chain per lane.
AVX512 float dot_f16_16(const float* q, const uint16_t* h, int d) {
  __m512 p = _mm512_setzero_ps();
  for (int i = 0; i + 16 <= d; i += 16)
    p = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + i))), p);
  return tree16(p);
}
AVX512 float dot_u8_16(const float* w, const uint8_t* c, int d) {
  __m512 p = _mm512_setzero_ps();
  for (int i = 0; i + 16 <= d; i += 16)
    p = _mm512_fmadd_ps(_mm512_loadu_ps(w + i),
                        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i)))), p);
  return tree16(p);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

template <class T, class F>
double ns_per_call(F dot, const float* q, const std::vector<T>& rows, int d, int64_t nrows, int64_t calls, float* sink) {
  std::mt19937_64 g(3);
  std::vector<int64_t> order(static_cast<size_t>(calls));
  for (auto& o : order) o = static_cast<int64_t>(g() % static_cast<uint64_t>(nrows));
  float s = 0;
  for (int64_t i = 0; i < std::min<int64_t>(calls, 1000); ++i) s += dot(q, rows.data() + order[i] * d, d);  // warm-up
  const double t0 = now();
  for (int64_t i = 0; i < calls; ++i) s += dot(q, rows.data() + order[i] * d, d);
  const double t = now() - t0;
  *sink += s;
  return t / static_cast<double>(calls) * 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const int d = argc > 1 ? std::atoi(argv[1]) : 2048;
  const int64_t mem_rows = argc > 2 ? std::atoll(argv[2]) : 40000;
  const int64_t l2_rows = std::max<int64_t>(1, (1 << 20) / (4 * d));  // 1 MiB of fp32 rows
  std::mt19937 g(1);
  std::normal_distribution<float> nd;
  std::vector<float> q(d);
  for (float& v : q) v = nd(g);
  float sink = 0;
  std::printf("{\"bench\":\"compact-dot\",\"cpu\":\"%s\",\"d\":%d,\"results\":[\n", cpu_model_name().c_str(), d);
  bool first = true;
  for (const auto& [where, nrows] : {std::pair<const char*, int64_t>{"l2", l2_rows}, {"mem", mem_rows}}) {
    std::vector<float> f32(static_cast<size_t>(nrows) * d);
    std::vector<uint16_t> f16(f32.size());
    std::vector<uint8_t> u8(f32.size());
    for (size_t i = 0; i < f32.size(); ++i) {
      f32[i] = nd(g);
      f16[i] = float_to_half(f32[i]);
      u8[i] = static_cast<uint8_t>(g());
    }
    const int64_t calls = where[0] == 'l' ? 200000 : 100000;
    for (Kernel k : {Kernel::kScalar, Kernel::kAvx2, Kernel::kAvx512}) {
      if (!cpu_supports(k)) continue;
      const KernelTable& kt = kernel_table(k);
      const int64_t c = k == Kernel::kScalar ? calls / 20 : calls;
      const double a = ns_per_call(kt.dot, q.data(), f32, d, nrows, c, &sink);
      const double b = ns_per_call(kt.dot_f16, q.data(), f16, d, nrows, c, &sink);
      const double u = ns_per_call(kt.dot_u8, q.data(), u8, d, nrows, c, &sink);
      std::printf("%s{\"rows\":\"%s\",\"kernel\":\"%s\",\"fp32_dot16_ns\":%.1f,\"fp16_dot64_ns\":%.1f,\"sq8_dot64_ns\":%.1f", first ? "" : ",\n",
                  where, kernel_name(k), a, b, u);
      if (k == Kernel::kAvx512) {
        const double b16 = ns_per_call(dot_f16_16, q.data(), f16, d, nrows, c, &sink);
        const double u16 = ns_per_call(dot_u8_16, q.data(), u8, d, nrows, c, &sink);
        std::printf(",\"fp16_dot16_ns\":%.1f,\"sq8_dot16_ns\":%.1f", b16, u16);
      }
      std::printf("}");
      first = false;
    }
  }
  std::printf("\n],\"checksum\":%g}\n", static_cast<double>(sink));
  return 0;
}
