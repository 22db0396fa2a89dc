// IpIndex on Faiss (see ip_index.h). Every Faiss call is wrapped: FaissException -> kFaiss with
// its message, so nothing escapes to the napi layer.
#include "ip_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <mutex>

#include "hnsw_build.h"
#include "maxsim.h"
#include "parallel.h"

namespace lemur {

namespace {

// What our storages share: their rows as a view for the builder, the scans and reconstruct.
struct RowSource {
  virtual ~RowSource() = default;
  virtual RowsView rows() const = 0;
};

// Faiss's distance computer over a view: the index's inner product (PreparedQuery), so HNSW
// search scores rows exactly as the build and the scans do.
struct RowsComputer : faiss::FlatCodesDistanceComputer {
  RowsView v;
  PreparedQuery q, other;
  explicit RowsComputer(const RowsView& view) : faiss::FlatCodesDistanceComputer(view.codes, view.code_size), v(view) {}
  void set_query(const float* x) override { q.set(v, x); }
  float distance_to_code(const uint8_t* code) override { return q.ip(v, code); }
  float symmetric_dis(idx_t i, idx_t j) override {
    other.set_row(v, i);
    return other.ip(v, j);
  }
};

// fp32 rows: an IndexFlatIP ("IxFI" on disk). Its own search (flat kind) stays Faiss's BLAS one.
struct FastIpStorage : faiss::IndexFlatIP, RowSource {
  const KernelTable* kt;
  FastIpStorage(int d, const KernelTable* table) : faiss::IndexFlatIP(d), kt(table) {}
  RowsView rows() const override {
    RowsView v;
    v.enc = RowEncoding::kFp32;
    v.d = static_cast<int>(d);
    v.codes = codes.data();
    v.code_size = code_size;
    v.n = ntotal;
    v.kt = kt;
    return v;
  }
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override { return new RowsComputer(rows()); }
};

faiss::ScalarQuantizer::QuantizerType qtype_of(RowEncoding e) {
  return e == RowEncoding::kFp16 ? faiss::ScalarQuantizer::QT_fp16 : faiss::ScalarQuantizer::QT_8bit;
}

// fp16 / sq8 rows: an IndexScalarQuantizer (QT_fp16 / QT_8bit, "IxSQ" on disk) that trains,
// encodes and scores with row_codec.h (same bytes as Faiss's encoder for sq8; fp16 rounds ties
// to even where Faiss's software encoder rounds them away from zero: both decode exactly).
struct FastSqStorage : faiss::IndexScalarQuantizer, RowSource {
  const KernelTable* kt;
  RowEncoding enc;
  Sq8Derived derived;
  FastSqStorage(int d, RowEncoding e, const KernelTable* table)
      : faiss::IndexScalarQuantizer(d, qtype_of(e), faiss::METRIC_INNER_PRODUCT), kt(table), enc(e) {}

  // Called after sq.trained is set (training or a file read).
  void derive() {
    if (enc == RowEncoding::kSq8) derived.derive(sq.trained, static_cast<int>(d));
  }
  void train(idx_t n, const float* x) override {
    if (enc == RowEncoding::kSq8) {
      sq8_train(x, n, static_cast<int>(d), &sq.trained);
      derive();
    }
    is_trained = true;
  }
  // sq8 trains on its first add's rows (Faiss would require an explicit train first).
  void add(idx_t n, const float* x) override {
    if (n <= 0) return;
    if (!is_trained) train(n, x);
    codes.resize((ntotal + n) * code_size);
    encode_rows(enc, static_cast<int>(d), sq.trained.data(), x, n, codes.data() + ntotal * code_size, omp_get_max_threads());
    ntotal += n;
  }
  // The flat kind's search: the exact scan with our inner product (Faiss's would use its own).
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
              const faiss::SearchParameters* = nullptr) const override {
    static_assert(sizeof(idx_t) == sizeof(int64_t), "Faiss idx_t is 64-bit");
    const Status st = scan_topk(rows(), x, n, k, omp_get_max_threads(), reinterpret_cast<int64_t*>(labels), distances);
    if (!st.ok()) FAISS_THROW_MSG(st.message);
  }
  RowsView rows() const override {
    RowsView v;
    v.enc = enc;
    v.d = static_cast<int>(d);
    v.codes = codes.data();
    v.code_size = code_size;
    v.n = ntotal;
    v.kt = kt;
    if (enc == RowEncoding::kSq8 && is_trained) {
      v.trained = sq.trained.data();
      v.step = derived.step.data();
      v.offset = derived.offset.data();
    }
    return v;
  }
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override { return new RowsComputer(rows()); }
};

// The state IpIndex needs from an HNSW index whatever its storage type.
struct HnswHooks {
  RowSource* source = nullptr;
  // Set by IpIndex::add for the duration of one add (under the index's exclusive lock): Faiss's
  // IndexIDMap2::add_with_ids has no parameter to carry it through.
  ProgressMeter* progress = nullptr;
};

// IndexHNSWFlat / IndexHNSWSQ whose add builds the graph with hnsw_add_deterministic instead
// of Faiss's lock-based parallel insertion, so index bytes do not depend on thread timing
// (issue 11). It adds no state: write_index stores it as the plain type ("IHNf" / "IHNs").
template <class Base>
struct DeterministicHnsw : Base, HnswHooks {
  using idx_t = faiss::Index::idx_t;
  template <class... A>
  explicit DeterministicHnsw(A&&... a) : Base(std::forward<A>(a)...) {}
  void add(idx_t n, const float* x) override {
    const idx_t n0 = this->ntotal;
    this->storage->add(n, x);  // trains sq8 storage on the first add
    this->ntotal = this->storage->ntotal;
    this->is_trained = this->storage->is_trained;
    hnsw_add_deterministic(this->hnsw, source->rows(), n0, n, omp_get_max_threads(), progress);
  }
};

using HnswFlat = DeterministicHnsw<faiss::IndexHNSWFlat>;
using HnswSq = DeterministicHnsw<faiss::IndexHNSWSQ>;

// A new storage of our type; `source` gets its RowSource side.
faiss::Index* new_storage(int d, RowEncoding e, const KernelTable* kt, RowSource** source) {
  if (e == RowEncoding::kFp32) {
    auto* s = new FastIpStorage(d, kt);
    *source = s;
    return s;
  }
  auto* s = new FastSqStorage(d, e, kt);
  *source = s;
  return s;
}

// An HNSW index of our type over `storage` (taken), with Faiss's default graph for M.
faiss::IndexHNSW* new_hnsw(int d, int M, RowEncoding e, faiss::Index* storage, RowSource* source, HnswHooks** hooks) {
  faiss::IndexHNSW* h;
  if (e == RowEncoding::kFp32) {
    auto* f = new HnswFlat(d, M, faiss::METRIC_INNER_PRODUCT);
    f->source = source;
    *hooks = f;
    h = f;
  } else {
    auto* q = new HnswSq(d, qtype_of(e), M, faiss::METRIC_INNER_PRODUCT);
    q->source = source;
    *hooks = q;
    h = q;
  }
  delete h->storage;
  h->storage = storage;
  h->is_trained = storage->is_trained;
  return h;
}

template <class F>
Status guard(const char* what, F&& f) {
  try {
    f();
    return Status::Ok();
  } catch (const faiss::FaissException& e) {
    return Status::Error(StatusCode::kFaiss, std::string(what) + ": " + e.what());
  }
}

// The Faiss objects of one index, as create() and adopt() assemble them.
struct IndexParts {
  std::unique_ptr<faiss::IndexIDMap2> map;
  faiss::IndexHNSW* hnsw = nullptr;  // owned by map (null for flat)
  HnswHooks* hooks = nullptr;        // the same object as hnsw
  RowSource* rows = nullptr;         // the storage: owned by hnsw, or by map for flat
};

}  // namespace

struct IpIndex::Impl : IndexParts {
  std::mutex ef_mutex;
};

Status IpIndex::create(int d, const IpIndexParams& p, Kernel kernel, std::unique_ptr<IpIndex>* out) {
  std::unique_ptr<IpIndex> ix(new IpIndex());
  ix->impl_ = std::make_unique<Impl>();
  ix->d_ = d;
  ix->kind_ = p.kind;
  ix->M_ = p.M;
  ix->ef_construction_ = p.ef_construction;
  ix->storage_ = p.storage;
  LEMUR_RETURN_IF_ERROR(guard("create index", [&]() {
    Impl& im = *ix->impl_;
    faiss::Index* storage = new_storage(d, p.storage, &kernel_table(kernel), &im.rows);
    faiss::Index* sub = storage;
    if (p.kind == IpIndexKind::kHnsw) {
      im.hnsw = new_hnsw(d, p.M, p.storage, storage, im.rows, &im.hooks);
      im.hnsw->hnsw.efConstruction = p.ef_construction;
      sub = im.hnsw;
    }
    im.map = std::make_unique<faiss::IndexIDMap2>(sub);
    im.map->own_fields = true;
  }));
  *out = std::move(ix);
  return Status::Ok();
}

namespace {

// A storage read from a file -> ours (same fields; the codes are moved, not copied). Null with
// *error set when it is not one we write.
faiss::Index* adopt_storage(faiss::Index* read, int d, const KernelTable* kt, const std::string& where, RowEncoding* enc,
                            RowSource** source, Status* error) {
  const int64_t n = read->ntotal;
  if (auto* flat = dynamic_cast<faiss::IndexFlatIP*>(read)) {
    if (flat->codes.size() != static_cast<size_t>(n) * row_code_size(RowEncoding::kFp32, d)) {
      *error = Status::Error(StatusCode::kCorruptFile, where + ": flat storage holds " + std::to_string(flat->codes.size()) + " bytes for " + std::to_string(n) + " rows");
      return nullptr;
    }
    auto* fast = new FastIpStorage(d, kt);
    fast->codes = std::move(flat->codes);
    fast->ntotal = n;
    *enc = RowEncoding::kFp32;
    *source = fast;
    return fast;
  }
  auto* sq = dynamic_cast<faiss::IndexScalarQuantizer*>(read);
  if (!sq || sq->metric_type != faiss::METRIC_INNER_PRODUCT ||
      (sq->sq.qtype != faiss::ScalarQuantizer::QT_fp16 && sq->sq.qtype != faiss::ScalarQuantizer::QT_8bit)) {
    *error = Status::Error(StatusCode::kCorruptFile, where + ": storage is neither IndexFlatIP nor an inner-product IndexScalarQuantizer (fp16 or 8bit)");
    return nullptr;
  }
  const RowEncoding e = sq->sq.qtype == faiss::ScalarQuantizer::QT_fp16 ? RowEncoding::kFp16 : RowEncoding::kSq8;
  const bool trained_ok = e == RowEncoding::kFp16 || !sq->is_trained || sq->sq.trained.size() == 2 * static_cast<size_t>(d);
  if (static_cast<int>(sq->sq.d) != d || sq->code_size != row_code_size(e, d) || !trained_ok ||
      sq->codes.size() != static_cast<size_t>(n) * sq->code_size || (e == RowEncoding::kSq8 && n > 0 && !sq->is_trained)) {
    *error = Status::Error(StatusCode::kCorruptFile, where + ": scalar quantizer storage does not match d = " + std::to_string(d) + " and " + std::to_string(n) + " rows");
    return nullptr;
  }
  auto* fast = new FastSqStorage(d, e, kt);
  fast->sq.trained = std::move(sq->sq.trained);
  fast->codes = std::move(sq->codes);
  fast->ntotal = n;
  fast->is_trained = sq->is_trained;
  if (fast->is_trained) fast->derive();
  *enc = e;
  *source = fast;
  return fast;
}

struct Adopted {
  IpIndexParams params;
  int d = 0;
};

// Swaps what read_index made for our subclasses (same fields, same bytes), so searches use our
// distance computer and later adds build deterministically.
Status adopt(faiss::Index* raw, Kernel kernel, const std::string& where, IndexParts* im, Adopted* out) {
  std::unique_ptr<faiss::Index> idx(raw);
  auto* map = dynamic_cast<faiss::IndexIDMap2*>(idx.get());
  if (!map) return Status::Error(StatusCode::kCorruptFile, where + ": not an IndexIDMap2 index");
  if (map->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return Status::Error(StatusCode::kCorruptFile, where + ": index metric is not inner product");
  }
  const int d = static_cast<int>(map->d);
  const KernelTable* kt = &kernel_table(kernel);
  if (static_cast<int64_t>(map->id_map.size()) != map->ntotal || map->index->ntotal != map->ntotal) {
    return Status::Error(StatusCode::kCorruptFile, where + ": " + std::to_string(map->id_map.size()) + " ids for " + std::to_string(map->index->ntotal) + " rows");
  }
  idx.release();
  im->map.reset(map);
  Status error;
  IpIndexParams& p = out->params;
  out->d = d;
  if (auto* read = dynamic_cast<faiss::IndexHNSW*>(map->index)) {
    if (!dynamic_cast<faiss::IndexHNSWFlat*>(read) && !dynamic_cast<faiss::IndexHNSWSQ*>(read)) {
      return Status::Error(StatusCode::kCorruptFile, where + ": HNSW index is neither IndexHNSWFlat nor IndexHNSWSQ");
    }
    if (!read->storage || static_cast<int64_t>(read->hnsw.levels.size()) != read->storage->ntotal) {
      return Status::Error(StatusCode::kCorruptFile, where + ": HNSW graph does not match its storage");
    }
    faiss::Index* storage = adopt_storage(read->storage, d, kt, where, &p.storage, &im->rows, &error);
    if (!storage) return error;
    faiss::IndexHNSW* h = new_hnsw(d, 2, p.storage, storage, im->rows, &im->hooks);
    h->hnsw = std::move(read->hnsw);
    h->ntotal = read->ntotal;
    h->is_trained = storage->is_trained;
    h->verbose = read->verbose;
    delete read;  // owns its storage, whose codes have moved
    map->index = h;
    im->hnsw = h;
    p.kind = IpIndexKind::kHnsw;
    p.M = h->hnsw.nb_neighbors(1);
    p.ef_construction = h->hnsw.efConstruction;
    return Status::Ok();
  }
  faiss::Index* storage = adopt_storage(map->index, d, kt, where, &p.storage, &im->rows, &error);
  if (!storage) {
    return Status::Error(StatusCode::kCorruptFile, where + ": inner index is neither an HNSW index nor a flat storage (" + error.message + ")");
  }
  delete map->index;
  map->index = storage;
  p.kind = IpIndexKind::kFlat;
  p.M = 0;
  p.ef_construction = 0;
  return Status::Ok();
}

}  // namespace

Status IpIndex::read_file(const std::string& path, Kernel kernel, std::unique_ptr<IpIndex>* out) {
  faiss::Index* raw = nullptr;
  Status st = guard("read index", [&]() { raw = faiss::read_index(path.c_str()); });
  if (!st.ok()) return Status::Error(StatusCode::kCorruptFile, "index " + path + ": " + st.message);
  std::unique_ptr<IpIndex> ix(new IpIndex());
  ix->impl_ = std::make_unique<Impl>();
  Adopted a;
  LEMUR_RETURN_IF_ERROR(adopt(raw, kernel, "index " + path, ix->impl_.get(), &a));
  ix->d_ = a.d;
  ix->kind_ = a.params.kind;
  ix->M_ = a.params.M;
  ix->ef_construction_ = a.params.ef_construction;
  ix->storage_ = a.params.storage;
  *out = std::move(ix);
  return Status::Ok();
}

Status IpIndex::deserialize(const uint8_t* data, size_t size, Kernel kernel, std::unique_ptr<IpIndex>* out) {
  faiss::Index* raw = nullptr;
  Status st = guard("read index", [&]() {
    faiss::VectorIOReader r;
    r.data.assign(data, data + size);
    raw = faiss::read_index(&r);
  });
  if (!st.ok()) return Status::Error(StatusCode::kCorruptFile, "index buffer: " + st.message);
  std::unique_ptr<IpIndex> ix(new IpIndex());
  ix->impl_ = std::make_unique<Impl>();
  Adopted a;
  LEMUR_RETURN_IF_ERROR(adopt(raw, kernel, "index buffer", ix->impl_.get(), &a));
  ix->d_ = a.d;
  ix->kind_ = a.params.kind;
  ix->M_ = a.params.M;
  ix->ef_construction_ = a.params.ef_construction;
  ix->storage_ = a.params.storage;
  *out = std::move(ix);
  return Status::Ok();
}

IpIndex::~IpIndex() = default;

int64_t IpIndex::ntotal() const { return impl_->map->ntotal; }

Status IpIndex::add(const float* x, const int64_t* ids, int64_t n, int threads, const ProgressFn& progress) {
  LEMUR_RETURN_IF_ERROR(check_encodable(storage_, x, n, d_));
  // omp_set_num_threads sets this (pool) thread's ICV only: calls from other threads keep theirs.
  omp_set_num_threads(threads);
  ProgressMeter meter(progress, static_cast<uint64_t>(std::max<int64_t>(n, 0)));
  struct Attach {  // detached however add ends: the meter dies with this frame
    HnswHooks* h;
    Attach(HnswHooks* hh, ProgressMeter* m) : h(hh) { if (h) h->progress = m; }
    ~Attach() { if (h) h->progress = nullptr; }
  } attach(impl_->hooks, meter.active() ? &meter : nullptr);
  LEMUR_RETURN_IF_ERROR(guard("add", [&]() {
    impl_->map->add_with_ids(n, x, ids);
    impl_->map->is_trained = impl_->map->index->is_trained;
  }));
  meter.finish();
  return Status::Ok();
}

Status IpIndex::search(const float* q, int64_t nq, int64_t k, int ef_search, int threads, int64_t* labels,
                       float* distances) const {
  omp_set_num_threads(threads);
  LEMUR_RETURN_IF_ERROR(guard("search", [&]() {
    faiss::Index* sub = impl_->map->index;
    if (impl_->hnsw) {
      // Faiss 1.7.3's IndexHNSW::search does not apply SearchParametersHNSW::efSearch (measured:
      // recall identical for efSearch 100..400), so the index's own efSearch is set for this
      // call, under a mutex so concurrent searches with different beams cannot mix them up.
      std::lock_guard<std::mutex> g(impl_->ef_mutex);
      impl_->hnsw->hnsw.efSearch = ef_search;
      sub->search(nq, q, k, distances, labels);
    } else {
      sub->search(nq, q, k, distances, labels);
    }
  }));
  to_external(nq * k, labels, distances);
  return Status::Ok();
}

RowsView IpIndex::rows() const { return impl_->rows->rows(); }

const int64_t* IpIndex::ids() const {
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "Faiss idx_t is 64-bit");
  return reinterpret_cast<const int64_t*>(impl_->map->id_map.data());
}

bool IpIndex::position_of(int64_t id, int64_t* pos) const {
  const auto& rev = impl_->map->rev_map;
  auto it = rev.find(id);
  if (it == rev.end()) return false;
  *pos = it->second;
  return true;
}

void IpIndexBase::to_external(int64_t count, int64_t* labels, float* distances) const {
  const int64_t* map = ids();
  for (int64_t i = 0; i < count; ++i) {
    if (labels[i] >= 0) {
      labels[i] = map[labels[i]];
    } else {
      distances[i] = -std::numeric_limits<float>::infinity();  // Faiss pads with -1 and +-FLT_MAX
    }
  }
}

Status IpIndexBase::reconstruct(const int64_t* ids, int64_t n, int threads, float* out) const {
  std::vector<int64_t> pos(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (!position_of(ids[i], &pos[i])) {
      return Status::Error(StatusCode::kInvalidArgument, "ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is not in the index");
    }
  }
  const RowsView v = rows();
  parallel_for(n, threads, 64, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) v.decode(pos[i], out + i * d_);
  });
  return Status::Ok();
}

Status IpIndexBase::reconstruct_range(int64_t i0, int64_t n, int threads, float* out) const {
  const RowsView v = rows();
  if (i0 < 0 || n < 0 || i0 + n > v.n) {
    return Status::Error(StatusCode::kInvalidArgument, "rows [" + std::to_string(i0) + ", " + std::to_string(i0 + n) + ") are outside [0, " + std::to_string(v.n) + ")");
  }
  parallel_for(n, threads, 64, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) v.decode(i0 + i, out + i * d_);
  });
  return Status::Ok();
}

Status IpIndexBase::scan(const float* q, int64_t nq, int64_t k, int threads, int64_t* labels, float* distances) const {
  LEMUR_RETURN_IF_ERROR(scan_topk(rows(), q, nq, k, threads, labels, distances));
  to_external(nq * k, labels, distances);
  return Status::Ok();
}

Status IpIndex::write_file(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  Status st = guard("write index", [&]() { faiss::write_index(impl_->map.get(), tmp.c_str()); });
  if (!st.ok()) return Status::Error(StatusCode::kIo, "index " + path + ": " + st.message);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::Error(StatusCode::kIo, "index " + path + ": rename failed");
  }
  return Status::Ok();
}

Status IpIndex::serialize(std::vector<uint8_t>* out) const {
  return guard("serialize index", [&]() {
    faiss::VectorIOWriter w;
    faiss::write_index(impl_->map.get(), &w);
    *out = std::move(w.data);
  });
}

}  // namespace lemur
