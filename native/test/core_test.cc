// C++-only tests of native/core (no Node): fixed-order GEMM against a naive fma loop on every
// kernel the CPU has, the dot products' reference orders (fp32, fp16 and byte rows), the
// compact rows' codecs against Faiss's own and their files read by a stock Faiss, token store
// round trip and a damaged file, the streaming writer's bytes against one write, the mapped index
// against the Faiss one (same bits) and against every truncation and random byte damage of its
// file, top-k ties, the progress meter's promises. A tiny harness:
// CHECK records a failure and the test goes on.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/index_io.h>

#include "../core/blas.h"
#include "../core/cpu_features.h"
#include "../core/faiss_index_file.h"
#include "../core/fixed_order_gemm.h"
#include "../core/half.h"
#include "../core/ip_index.h"
#include "../core/mapped_ip_index.h"
#include "../core/maxsim.h"
#include "../core/progress.h"
#include "../core/row_codec.h"
#include "../core/token_store.h"
#include "../core/token_store_writer.h"
#include "../core/topk.h"

namespace {

int failures = 0;
#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ++failures;                                                          \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                   \
      std::fprintf(stderr, "\n");                                          \
    }                                                                      \
  } while (0)

using namespace lemur;

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(g);
  return v;
}

// n rows and nq queries of d random floats (seeds `seed` and seed + 1), ids first + step * i.
struct TestRows {
  std::vector<float> x, q;
  std::vector<int64_t> ids;
};
TestRows test_rows(int d, int64_t n, int64_t nq, uint32_t seed, int64_t first, int64_t step) {
  TestRows r{random_floats(size_t(n) * d, seed), random_floats(size_t(nq) * d, seed + 1), std::vector<int64_t>(n)};
  for (int64_t i = 0; i < n; ++i) r.ids[i] = first + step * i;
  return r;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::vector<Kernel> kernels() {
  std::vector<Kernel> ks;
  for (Kernel k : {Kernel::kScalar, Kernel::kAvx2, Kernel::kAvx512}) {
    if (cpu_supports(k)) ks.push_back(k);
    else std::printf("skip kernel %s: this CPU lacks it\n", kernel_name(k));
  }
  return ks;
}

// C = Aᵀ·B (+bias): one fma chain over k ascending from +0, bias added after (fixed_order_gemm.h).
void test_fixed_order_gemm() {
  for (auto [k, m, n] : {std::tuple<int, int, int>{1, 1, 1}, {37, 5, 19}, {128, 33, 130}, {300, 64, 2048}}) {
    const auto A = random_floats(size_t(k) * m, 1), B = random_floats(size_t(k) * n, 2), bias = random_floats(n, 3);
    std::vector<float> ref(size_t(m) * n);
    for (int i = 0; i < m; ++i)
      for (int c = 0; c < n; ++c) {
        float s = 0.0f;
        for (int t = 0; t < k; ++t) s = std::fma(A[size_t(t) * m + i], B[size_t(t) * n + c], s);
        ref[size_t(i) * n + c] = s + bias[c];
      }
    for (Kernel kern : kernels()) {
      for (int threads : {1, 3}) {
        std::vector<float> C(size_t(m) * n, NAN);
        fixed_order_gemm({A.data(), m, 1}, {B.data(), n, 1}, k, m, n, bias.data(), C.data(), n, threads, kern);
        size_t bad = 0;
        for (size_t i = 0; i < C.size(); ++i) bad += !same_bits(C[i], ref[i]);
        CHECK(bad == 0, "k=%d m=%d n=%d kernel %s threads %d: %zu elements differ from the naive fma loop", k, m, n,
              kernel_name(kern), threads, bad);
      }
    }
  }
}

// dot: 16 partial sums (i mod 16, fma each), then the tree +8, +4, +2, +1 (maxsim_scalar.cc).
void test_dot_order() {
  for (int d : {1, 15, 16, 17, 100, 128, 2048}) {
    const auto a = random_floats(d, 4), b = random_floats(d, 5);
    float p[16] = {0};
    for (int i = 0; i < d; ++i) p[i % 16] = std::fma(a[i], b[i], p[i % 16]);
    for (int w = 8; w >= 1; w /= 2)
      for (int l = 0; l < w; ++l) p[l] = p[l] + p[l + w];
    for (Kernel kern : kernels()) {
      const float got = kernel_table(kern).dot(a.data(), b.data(), d);
      CHECK(same_bits(got, p[0]), "d=%d kernel %s: dot %.9g, reference order %.9g", d, kernel_name(kern), got, p[0]);
    }
  }
}

// dot_f16 / dot_u8: 64 partials (i mod 64, fma each), then the tree +32, +16, +8, +4, +2, +1.
// Values of mixed sign and magnitude with signed zeros, so another order would change bits.
void test_compact_dot_order() {
  std::mt19937 g(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int d : {1, 7, 15, 16, 17, 63, 64, 65, 100, 128, 130, 2048}) {
    for (int rep = 0; rep < 8; ++rep) {
      std::vector<float> q(d);
      std::vector<uint16_t> h(d);
      std::vector<uint8_t> c(d);
      for (int i = 0; i < d; ++i) {
        q[i] = i % 29 == 3 ? -0.0f : nd(g) * std::exp(2.0f * nd(g));
        h[i] = i % 31 == 5 ? 0x8000 : float_to_half(nd(g) * std::exp(nd(g)));
        c[i] = static_cast<uint8_t>(g() & 0xff);
      }
      float pf[64] = {0}, pu[64] = {0};
      for (int i = 0; i < d; ++i) {
        pf[i % 64] = std::fma(q[i], half_to_float(h[i]), pf[i % 64]);
        pu[i % 64] = std::fma(q[i], static_cast<float>(c[i]), pu[i % 64]);
      }
      for (int w = 32; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) {
          pf[l] = pf[l] + pf[l + w];
          pu[l] = pu[l] + pu[l + w];
        }
      for (Kernel kern : kernels()) {
        const float f = kernel_table(kern).dot_f16(q.data(), h.data(), d);
        const float u = kernel_table(kern).dot_u8(q.data(), c.data(), d);
        CHECK(same_bits(f, pf[0]), "d=%d kernel %s: dot_f16 %.9g, reference order %.9g", d, kernel_name(kern), f, pf[0]);
        CHECK(same_bits(u, pu[0]), "d=%d kernel %s: dot_u8 %.9g, reference order %.9g", d, kernel_name(kern), u, pu[0]);
      }
    }
  }
}

// Our sq8 training, encoder and decoder are Faiss's (QT_8bit, RS_minmax) bit for bit; Faiss
// decodes our fp16 codes to our floats, and our fp16 encoder differs from Faiss's software one
// only on exact ties (we round to even, it rounds away from zero).
void test_faiss_codecs() {
  const int d = 100;
  const int64_t n = 500;
  auto x = random_floats(size_t(n) * d, 11);
  for (size_t i = 0; i < x.size(); i += 7) x[i] *= 3.0f;  // uneven ranges per dimension
  for (int j = 0; j < d; j += 10) x[size_t(3) * d + j] = x[size_t(4) * d + j] = x[size_t(5) * d + j] = 0.25f;
  {
    faiss::ScalarQuantizer fsq(d, faiss::ScalarQuantizer::QT_8bit);
    fsq.train(n, x.data());
    std::vector<float> trained;
    sq8_train(x.data(), n, d, &trained);
    CHECK(trained.size() == fsq.trained.size() && std::memcmp(trained.data(), fsq.trained.data(), 4 * trained.size()) == 0,
          "sq8 training differs from Faiss's");
    // encode rows beyond the trained range too: both clamp
    auto y = random_floats(size_t(n) * d, 12);
    for (float& v : y) v *= 1.5f;
    std::vector<uint8_t> ours(size_t(n) * d), theirs(size_t(n) * d);
    encode_rows(RowEncoding::kSq8, d, trained.data(), y.data(), n, ours.data(), 3);
    fsq.compute_codes(y.data(), theirs.data(), n);
    CHECK(ours == theirs, "sq8 codes differ from Faiss's");
    std::vector<float> dec(size_t(n) * d), fdec(size_t(n) * d);
    for (int64_t i = 0; i < n; ++i) decode_row(RowEncoding::kSq8, d, trained.data(), ours.data() + i * d, dec.data() + i * d);
    fsq.decode(ours.data(), fdec.data(), n);
    CHECK(std::memcmp(dec.data(), fdec.data(), 4 * dec.size()) == 0, "sq8 decode differs from Faiss's");
  }
  {
    faiss::ScalarQuantizer fsq(d, faiss::ScalarQuantizer::QT_fp16);
    std::vector<uint8_t> ours(size_t(n) * d * 2), theirs(size_t(n) * d * 2);
    auto y = random_floats(size_t(n) * d, 13);
    for (size_t i = 0; i < 64; ++i) {  // exact ties: halfway between two halves
      uint32_t bits = 0x3f800000u | (uint32_t(i) << 14) | 0x1000u;
      std::memcpy(&y[i], &bits, 4);
    }
    encode_rows(RowEncoding::kFp16, d, nullptr, y.data(), n, ours.data(), 2);
    fsq.compute_codes(y.data(), theirs.data(), n);
    int ties = 0, other = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      uint16_t a, b;
      std::memcpy(&a, &ours[2 * i], 2);
      std::memcpy(&b, &theirs[2 * i], 2);
      if (a == b) continue;
      uint32_t bits;
      std::memcpy(&bits, &y[i], 4);
      ((bits & 0x1fffu) == 0x1000u ? ties : other)++;
    }
    CHECK(other == 0, "fp16 codes differ from Faiss's on %d values that are not ties", other);
    CHECK(ties > 0, "the tie cases were not exercised");
    std::vector<float> dec(size_t(n) * d), fdec(size_t(n) * d);
    for (int64_t i = 0; i < n; ++i) decode_row(RowEncoding::kFp16, d, nullptr, ours.data() + i * d * 2, dec.data() + i * d);
    fsq.decode(ours.data(), fdec.data(), n);
    CHECK(std::memcmp(dec.data(), fdec.data(), 4 * dec.size()) == 0, "fp16 decode differs from Faiss's");
  }
}

// A compact index's file is a plain IndexIDMap2 over IndexHNSWSQ over IndexScalarQuantizer: a
// stock Faiss reads it, reconstructs our rows bit for bit and finds the same neighbours.
void test_stock_faiss_reads_compact(const std::string& dir) {
  const int d = 64;
  const int64_t n = 2000, nq = 20;
  const auto [x, q, ids] = test_rows(d, n, nq, 21, 1000, 3);
  for (RowEncoding e : {RowEncoding::kFp16, RowEncoding::kSq8}) {
    IpIndexParams p;
    p.storage = e;
    std::unique_ptr<IpIndex> ix;
    Status st = IpIndex::create(d, p, default_kernel(), &ix);
    CHECK(st.ok(), "create: %s", st.message.c_str());
    if (!ix) continue;
    st = ix->add(x.data(), ids.data(), n, 2);
    CHECK(st.ok(), "add: %s", st.message.c_str());
    const std::string path = dir + "/compact_" + row_encoding_name(e) + ".faiss";
    st = ix->write_file(path);
    CHECK(st.ok(), "write: %s", st.message.c_str());
    std::unique_ptr<faiss::Index> stock(faiss::read_index(path.c_str()));
    auto* map = dynamic_cast<faiss::IndexIDMap2*>(stock.get());
    auto* hnsw = map ? dynamic_cast<faiss::IndexHNSWSQ*>(map->index) : nullptr;
    auto* sq = hnsw ? dynamic_cast<faiss::IndexScalarQuantizer*>(hnsw->storage) : nullptr;
    CHECK(sq != nullptr, "%s: a stock Faiss did not read IndexIDMap2 / IndexHNSWSQ / IndexScalarQuantizer", row_encoding_name(e));
    if (!sq) continue;
    CHECK(sq->ntotal == n && sq->code_size == row_code_size(e, d), "%s: %lld rows of %zu bytes", row_encoding_name(e),
          (long long)sq->ntotal, sq->code_size);
    std::vector<float> mine(size_t(n) * d), theirs(size_t(n) * d);
    CHECK(ix->reconstruct_range(0, n, 2, mine.data()).ok(), "reconstruct_range");
    for (int64_t i = 0; i < n; ++i) map->reconstruct(ids[i], theirs.data() + i * d);
    CHECK(std::memcmp(mine.data(), theirs.data(), 4 * mine.size()) == 0, "%s: stock Faiss reconstructs other rows", row_encoding_name(e));
    const int k = 10;
    std::vector<int64_t> la(nq * k), lb(nq * k);
    std::vector<float> da(nq * k), db(nq * k);
    CHECK(ix->search(q.data(), nq, k, 64, 1, la.data(), da.data()).ok(), "search");
    hnsw->hnsw.efSearch = 64;
    stock->search(nq, q.data(), k, db.data(), reinterpret_cast<faiss::Index::idx_t*>(lb.data()));
    int same = 0;
    for (int64_t i = 0; i < nq; ++i)
      for (int a = 0; a < k; ++a)
        for (int b = 0; b < k; ++b) same += la[i * k + a] == lb[i * k + b];
    CHECK(same >= 0.95 * nq * k, "%s: stock Faiss shares %d of %lld neighbours", row_encoding_name(e), same, (long long)(nq * k));
    std::remove(path.c_str());
  }
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The mapped index searches its file exactly as Faiss searches the loaded one (labels and
// distance bits, several k and efSearch, 1 and 3 threads); every truncated prefix of the file is
// kCorruptFile; random byte damage never crashes a search, and a damaged link is reported.
void test_mapped_index(const std::string& dir) {
  const int d = 40;
  const int64_t n = 600, nq = 30;
  const auto [x, q, ids] = test_rows(d, n, nq, 31, -100, 5);
  for (RowEncoding e : {RowEncoding::kFp32, RowEncoding::kFp16, RowEncoding::kSq8}) {
    const char* name = row_encoding_name(e);
    IpIndexParams p;
    p.storage = e;
    p.M = 8;
    std::unique_ptr<IpIndex> built;
    CHECK(IpIndex::create(d, p, default_kernel(), &built).ok() && built->add(x.data(), ids.data(), n, 2).ok(), "%s: build", name);
    std::vector<uint8_t> bytes;
    CHECK(built->serialize(&bytes).ok(), "%s: serialize", name);
    const std::string path = dir + "/mapped_" + name + ".faiss";
    write_bytes(path, bytes);
    std::unique_ptr<IpIndex> loaded;
    std::unique_ptr<MappedIpIndex> mapped;
    Status st = IpIndex::read_file(path, default_kernel(), &loaded);
    CHECK(st.ok(), "%s: read: %s", name, st.message.c_str());
    st = MappedIpIndex::open(path, default_kernel(), &mapped);
    CHECK(st.ok(), "%s: map: %s", name, st.message.c_str());
    if (!loaded || !mapped) continue;
    CHECK(mapped->ntotal() == n && mapped->d() == d && mapped->M() == loaded->M() && mapped->storage() == e &&
              mapped->ef_construction() == loaded->ef_construction(), "%s: shape", name);
    for (auto [k, ef, threads] : {std::tuple<int, int, int>{1, 8, 1}, {10, 5, 3}, {10, 64, 3}, {50, 100, 1}, {700, 20, 3}}) {
      std::vector<int64_t> la(nq * k), lb(nq * k);
      std::vector<float> da(nq * k), db(nq * k);
      CHECK(loaded->search(q.data(), nq, k, ef, threads, la.data(), da.data()).ok(), "search");
      CHECK(mapped->search(q.data(), nq, k, ef, threads, lb.data(), db.data()).ok(), "mapped search");
      CHECK(la == lb && std::memcmp(da.data(), db.data(), 4 * da.size()) == 0, "%s k %d ef %d: the mapped index finds other hits", name, k, ef);
    }
    loaded.reset();

    // every prefix is refused with a message, none is read past its end
    int accepted = 0;
    for (size_t len = 0; len < bytes.size(); ++len) {
      IpIndexFileLayout l;
      const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + len);
      st = parse_ip_index_file(prefix.data(), len, "prefix", &l);
      accepted += st.code != StatusCode::kCorruptFile;
    }
    CHECK(accepted == 0, "%s: %d truncated prefixes not refused as corrupt", name, accepted);

    // one damaged link, on the entry point's top list: the first search follows it
    IpIndexFileLayout l;
    CHECK(parse_ip_index_file(bytes.data(), bytes.size(), "whole", &l).ok(), "%s: parse", name);
    std::vector<uint8_t> bad = bytes;
    const int32_t far = static_cast<int32_t>(n + 5);
    std::memcpy(&bad[l.neighbors_at + 4 * (l.offsets[l.entry_point] + l.cum_nneighbor_per_level[l.max_level])], &far, 4);
    write_bytes(path, bad);
    std::unique_ptr<MappedIpIndex> damaged;
    CHECK(MappedIpIndex::open(path, default_kernel(), &damaged).ok(), "%s: a damaged link fails at open", name);
    if (damaged) {
      std::vector<int64_t> lab(10);
      std::vector<float> dis(10);
      st = damaged->search(q.data(), 1, 10, 16, 1, lab.data(), dis.data());
      CHECK(st.code == StatusCode::kCorruptFile && st.message.find(path) != std::string::npos && st.message.find(std::to_string(n + 5)) != std::string::npos,
            "%s: damaged link gave %d: %s", name, int(st.code), st.message.c_str());
    }

    // random damage: open and search either work or say kCorruptFile
    std::mt19937 g(77);
    int refused = 0, bad_codes = 0;
    for (int round = 0; round < 300; ++round) {
      std::vector<uint8_t> b = bytes;
      for (int f = 0; f < 3; ++f) b[g() % b.size()] ^= static_cast<uint8_t>(1 + g() % 255);
      write_bytes(path, b);
      std::unique_ptr<MappedIpIndex> m;
      st = MappedIpIndex::open(path, default_kernel(), &m);
      if (st.ok()) {
        std::vector<int64_t> lab(nq * 10);
        std::vector<float> dis(nq * 10);
        st = m->search(q.data(), nq, 10, 32, 2, lab.data(), dis.data());
      }
      refused += !st.ok();
      bad_codes += !st.ok() && st.code != StatusCode::kCorruptFile;
    }
    CHECK(bad_codes == 0, "%s: %d damaged files failed with another code than kCorruptFile", name, bad_codes);
    CHECK(refused > 0, "%s: no damage was detected in 300 rounds", name);
    std::remove(path.c_str());
  }
}

void test_token_store(const std::string& dir) {
  const std::string path = dir + "/core_test.lts";
  const int dim = 24;
  const std::vector<int64_t> counts{3, 1, 5}, ids{10, -7, 42};
  const auto vectors = random_floats(9 * dim, 6);
  TokenStoreInput in;
  in.vectors = vectors.data();
  in.counts = counts.data();
  in.n_docs = 3;
  in.dim = dim;
  in.int_ids = ids.data();
  Status st = write_token_store(path, in);
  CHECK(st.ok(), "write: %s", st.message.c_str());
  std::unique_ptr<TokenStore> ts;
  st = TokenStore::open(path, true, &ts);
  CHECK(st.ok(), "open: %s", st.message.c_str());
  if (ts) {
    const DocsView& d = ts->docs();
    CHECK(d.n_docs == 3 && d.dim == dim && d.offsets[3] == 9, "shape %lld docs, dim %d", (long long)d.n_docs, d.dim);
    for (int64_t j = 0; j < 3; ++j) CHECK(ts->int_id(j) == ids[j], "id %lld", (long long)j);
    CHECK(std::memcmp(d.f32_rows(0), vectors.data(), sizeof(float) * vectors.size()) == 0, "vectors differ after the round trip");
  }
  ts.reset();
  {  // flip one byte of the body: the checksum must catch it
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    f.seekg(size - 40);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(size - 40);
    f.write(&c, 1);
  }
  st = TokenStore::open(path, true, &ts);
  CHECK(st.code == StatusCode::kCorruptFile, "damaged file opened with code %d (%s)", int(st.code), st.message.c_str());
  std::remove(path.c_str());
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

// The streaming writer in uneven batches gives the bytes of one write_token_store call, for both
// dtypes and id kinds; too many documents, too few, and a bad batch leave nothing on disk.
void test_token_store_writer(const std::string& dir) {
  const int dim = 7;
  const std::vector<int64_t> counts{2, 1, 4, 3, 1, 5};
  const auto vectors = random_floats(16 * dim, 9);
  const std::vector<int64_t> ids{5, 3, 11, -2, 8, 40};
  const std::vector<std::string> names{"a", "bb", "", "d\xc3\xa9", "longer id than sso", "f"};
  for (const DType dtype : {DType::kF32, DType::kF16}) {
    for (const IdKind kind : {IdKind::kInt64, IdKind::kString}) {
      const std::string one = dir + "/one.lts", many = dir + "/many.lts";
      TokenStoreInput in{vectors.data(), counts.data(), 6, dim, dtype, kind, ids.data(), &names};
      Status st = write_token_store(one, in);
      CHECK(st.ok(), "write: %s", st.message.c_str());
      std::unique_ptr<TokenStoreWriter> w;
      st = TokenStoreWriter::open(many, {dim, dtype, kind, 6}, &w);
      CHECK(st.ok(), "open: %s", st.message.c_str());
      uint64_t token = 0;
      for (const auto& [from, to] : std::vector<std::pair<int, int>>{{0, 1}, {1, 1}, {1, 4}, {4, 6}}) {
        const std::vector<std::string> part(names.begin() + from, names.begin() + to);
        st = w->append({vectors.data() + token * dim, counts.data() + from, to - from, ids.data() + from, &part});
        CHECK(st.ok(), "append [%d, %d): %s", from, to, st.message.c_str());
        for (int j = from; j < to; ++j) token += counts[j];
      }
      st = w->finish();
      CHECK(st.ok(), "finish: %s", st.message.c_str());
      CHECK(file_bytes(one) == file_bytes(many), "dtype %d, id kind %d: the streamed store differs from write_token_store's", int(dtype), int(kind));
      std::unique_ptr<TokenStore> ts;
      st = TokenStore::open(many, true, &ts);
      CHECK(st.ok(), "open the streamed store: %s", st.message.c_str());
      std::remove(one.c_str());
      std::remove(many.c_str());
    }
  }
  const size_t before = files_in(dir);
  {  // too many documents, then too few at finish; nothing stays behind
    std::unique_ptr<TokenStoreWriter> w;
    TokenStoreWriter::open(dir + "/short.lts", {dim, DType::kF32, IdKind::kInt64, 2}, &w);
    Status st = w->append({vectors.data(), counts.data(), 3, ids.data(), nullptr});
    CHECK(st.code == StatusCode::kInvalidArgument, "3 docs into 2: code %d (%s)", int(st.code), st.message.c_str());
    st = w->append({vectors.data(), counts.data(), 1, ids.data(), nullptr});
    CHECK(st.ok(), "1 doc: %s", st.message.c_str());
    st = w->finish();
    CHECK(st.code == StatusCode::kInvalidArgument && st.message.find("1 documents appended, it was opened for 2") != std::string::npos, "finish short: %s", st.message.c_str());
  }
  {  // a duplicate id in a later batch names its position in the store
    std::unique_ptr<TokenStoreWriter> w;
    TokenStoreWriter::open(dir + "/dup.lts", {dim, DType::kF32, IdKind::kInt64, 3}, &w);
    const std::vector<int64_t> dup{1, 2, 1};
    w->append({vectors.data(), counts.data(), 2, dup.data(), nullptr});
    const Status st = w->append({vectors.data() + 3 * dim, counts.data() + 2, 1, dup.data() + 2, nullptr});
    CHECK(st.code == StatusCode::kInvalidInput && st.row == 2 && st.field == "ids" && st.message == "doc 2: duplicate id 1", "dup: %s", st.message.c_str());
  }
  CHECK(files_in(dir) == before, "%zu files left behind", files_in(dir) - before);
}

void test_topk_ties() {
  TopK t(3);
  for (int64_t l : {9, 4, 7, 1, 5}) t.push(1.0f, l);  // all tied: the lowest labels win, ascending
  t.push(0.5f, 0);
  int64_t labels[3];
  float dist[3];
  t.write(labels, dist);
  CHECK(labels[0] == 1 && labels[1] == 4 && labels[2] == 5, "ties kept %lld %lld %lld", (long long)labels[0],
        (long long)labels[1], (long long)labels[2]);
  TopK few(4);
  few.push(2.0f, 3);
  int64_t l4[4];  // fewer hits than k: -1 and -inf after them
  float d4[4];
  few.write(l4, d4);
  CHECK(l4[0] == 3 && l4[1] == -1 && std::isinf(d4[3]) && d4[3] < 0, "padding %lld %lld", (long long)l4[0], (long long)l4[1]);
}

// ProgressMeter (progress.h): calls never overlap, done strictly increases and stays below total
// until finish(), which reports (total, total) exactly once; the interval bounds the call count.
void test_progress_meter() {
  using namespace std::chrono;
  {  // no callback: inactive, nothing to call
    ProgressMeter m(ProgressFn{}, 10);
    m.add(5);
    m.finish();
    CHECK(!m.active(), "a meter without a callback is active");
  }
  {  // 4 threads bumping for ~0.4 s with a 40 ms interval
    constexpr uint64_t kTotal = 4 * 4000;
    constexpr auto kInterval = milliseconds(40);
    std::atomic<int> inside{0};
    int overlaps = 0, finals = 0, order_errors = 0;
    std::vector<uint64_t> seen;
    ProgressMeter m(
        [&](uint64_t done, uint64_t total) {
          if (inside.fetch_add(1) != 0) ++overlaps;
          if (total != kTotal || (!seen.empty() && done <= seen.back()) || (done >= total && done != total)) ++order_errors;
          finals += done == total;
          seen.push_back(done);
          std::this_thread::sleep_for(microseconds(200));  // widen the window for an overlap
          inside.fetch_sub(1);
        },
        kTotal, 1, kInterval);
    const auto t0 = steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t) {
      pool.emplace_back([&]() {
        for (int i = 0; i < 4000; ++i) {
          m.add(1);
          std::this_thread::sleep_for(microseconds(100));
        }
      });
    }
    for (auto& th : pool) th.join();
    m.finish();
    m.finish();
    const double elapsed = duration<double>(steady_clock::now() - t0).count();
    const double bound = elapsed / duration<double>(kInterval).count() + 2;
    CHECK(overlaps == 0, "%d overlapping callback calls", overlaps);
    CHECK(order_errors == 0, "%d calls out of order or with done >= total before the end", order_errors);
    CHECK(finals == 1 && !seen.empty() && seen.back() == kTotal, "%d final calls, last done %llu", finals,
          seen.empty() ? 0ULL : (unsigned long long)seen.back());
    CHECK(seen.size() >= 3 && seen.size() <= bound, "%zu calls in %.2f s (bound %.1f)", seen.size(), elapsed, bound);
  }
  {  // sub-units: 70 cells of 7 per unit are 10 units; a report never rounds up to the total
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    ProgressMeter m([&](uint64_t d, uint64_t t) { calls.emplace_back(d, t); }, 10, 7, nanoseconds(0));
    m.add(20);  // 2 units
    m.add(49);  // 69 cells: 9 units
    m.add(1);   // 70 cells: 10 units = total, left to finish()
    m.finish();
    const std::vector<std::pair<uint64_t, uint64_t>> want{{2, 10}, {9, 10}, {10, 10}};
    CHECK(calls == want, "%zu calls, expected (2,10) (9,10) (10,10)", calls.size());
  }
  {  // the gate opens once per interval
    ProgressGate g(milliseconds(30));
    CHECK(!g.due(), "gate open before its interval");
    std::this_thread::sleep_for(milliseconds(35));
    CHECK(g.due() && !g.due(), "gate not open exactly once after its interval");
  }
}

}  // namespace

int main(int argc, char** argv) {
  blas_init_threads(1);  // once per process (blas.h)
  const std::string dir = argc > 1 ? argv[1] : "/tmp";
  test_fixed_order_gemm();
  test_dot_order();
  test_compact_dot_order();
  test_faiss_codecs();
  test_stock_faiss_reads_compact(dir);
  test_mapped_index(dir);
  test_token_store(dir);
  test_token_store_writer(dir);
  test_topk_ties();
  test_progress_meter();
  if (failures) {
    std::fprintf(stderr, "core tests: %d failure(s)\n", failures);
    return 1;
  }
  std::printf("core tests: ok\n");
  return 0;
}
