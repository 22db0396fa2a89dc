// IpIndex on Faiss (see ip_index.h). Every Faiss call is wrapped: FaissException -> kFaiss with
// its message, so nothing escapes to the napi layer.
#include "ip_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
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

namespace lemur {

namespace {

// Flat inner-product storage whose distance computer uses our dispatched dot product.
struct FastIpStorage : faiss::IndexFlatIP {
  const KernelTable* kt;
  FastIpStorage(int d, const KernelTable* table) : faiss::IndexFlatIP(d), kt(table) {}

  struct Computer : faiss::FlatCodesDistanceComputer {
    const float* xb;
    int d;
    const float* q = nullptr;
    const KernelTable* kt;
    explicit Computer(const FastIpStorage& s)
        : faiss::FlatCodesDistanceComputer(s.codes.data(), s.code_size), xb(s.get_xb()), d(static_cast<int>(s.d)), kt(s.kt) {}
    void set_query(const float* x) override { q = x; }
    float distance_to_code(const uint8_t* code) override { return kt->dot(q, reinterpret_cast<const float*>(code), d); }
    float symmetric_dis(idx_t i, idx_t j) override { return kt->dot(xb + i * d, xb + j * d, d); }
  };

  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override { return new Computer(*this); }
};

// IndexHNSWFlat whose add builds the graph with hnsw_add_deterministic instead of Faiss's
// lock-based parallel insertion, so index bytes do not depend on thread timing (issue 11).
// It adds no state: write_index stores it as a plain IndexHNSWFlat ("IHNf").
struct DeterministicHnswFlat : faiss::IndexHNSWFlat {
  const KernelTable* kt;
  // Set by IpIndex::add for the duration of one add (under the index's exclusive lock): Faiss's
  // IndexIDMap2::add_with_ids has no parameter to carry it through.
  ProgressMeter* progress = nullptr;
  DeterministicHnswFlat(int d, int M, const KernelTable* table)
      : faiss::IndexHNSWFlat(d, M, faiss::METRIC_INNER_PRODUCT), kt(table) {
    delete storage;
    storage = new FastIpStorage(d, table);
  }
  void add(idx_t n, const float* x) override {
    FAISS_THROW_IF_NOT_MSG(is_trained, "HNSW index is not trained");
    const idx_t n0 = ntotal;
    storage->add(n, x);
    ntotal = storage->ntotal;
    const float* xb = static_cast<const FastIpStorage*>(storage)->get_xb();
    hnsw_add_deterministic(hnsw, xb, static_cast<int>(d), kt->dot, n0, n, omp_get_max_threads(), progress);
  }
};

template <class F>
Status guard(const char* what, F&& f) {
  try {
    f();
    return Status::Ok();
  } catch (const faiss::FaissException& e) {
    return Status::Error(StatusCode::kFaiss, std::string(what) + ": " + e.what());
  }
}

}  // namespace

struct IpIndex::Impl {
  std::unique_ptr<faiss::IndexIDMap2> map;
  DeterministicHnswFlat* hnsw = nullptr;  // owned by map (null for flat)
  std::mutex ef_mutex;
};

Status IpIndex::create(int d, const IpIndexParams& p, Kernel kernel, std::unique_ptr<IpIndex>* out) {
  std::unique_ptr<IpIndex> ix(new IpIndex());
  ix->impl_ = std::make_unique<Impl>();
  ix->d_ = d;
  ix->kind_ = p.kind;
  ix->M_ = p.M;
  ix->ef_construction_ = p.ef_construction;
  LEMUR_RETURN_IF_ERROR(guard("create index", [&]() {
    faiss::Index* sub;
    if (p.kind == IpIndexKind::kHnsw) {
      auto* h = new DeterministicHnswFlat(d, p.M, &kernel_table(kernel));
      h->hnsw.efConstruction = p.ef_construction;
      ix->impl_->hnsw = h;
      sub = h;
    } else {
      sub = new faiss::IndexFlatIP(d);
    }
    ix->impl_->map = std::make_unique<faiss::IndexIDMap2>(sub);
    ix->impl_->map->own_fields = true;
  }));
  *out = std::move(ix);
  return Status::Ok();
}

namespace {

Status adopt(faiss::Index* raw, Kernel kernel, const std::string& where, std::unique_ptr<faiss::IndexIDMap2>* map_out, DeterministicHnswFlat** hnsw_out, IpIndexParams* params) {
  std::unique_ptr<faiss::Index> idx(raw);
  auto* map = dynamic_cast<faiss::IndexIDMap2*>(idx.get());
  if (!map) return Status::Error(StatusCode::kCorruptFile, where + ": not an IndexIDMap2 index");
  if (map->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return Status::Error(StatusCode::kCorruptFile, where + ": index metric is not inner product");
  }
  idx.release();
  map_out->reset(map);
  if (auto* read = dynamic_cast<faiss::IndexHNSWFlat*>(map->index)) {
    auto* flat = dynamic_cast<faiss::IndexFlat*>(read->storage);
    if (!flat) return Status::Error(StatusCode::kCorruptFile, where + ": HNSW storage is not flat");
    // Swap in the deterministic subclass (same fields, same bytes) so later adds use it too.
    const KernelTable* kt = &kernel_table(kernel);
    auto* h = new DeterministicHnswFlat(static_cast<int>(read->d), 2, kt);
    auto* fast = static_cast<FastIpStorage*>(h->storage);
    fast->codes = std::move(flat->codes);
    fast->ntotal = flat->ntotal;
    h->hnsw = std::move(read->hnsw);
    h->ntotal = read->ntotal;
    h->is_trained = read->is_trained;
    h->verbose = read->verbose;
    delete read;  // owns its (now empty) storage
    map->index = h;
    *hnsw_out = h;
    params->kind = IpIndexKind::kHnsw;
    params->M = h->hnsw.nb_neighbors(1);
    params->ef_construction = h->hnsw.efConstruction;
  } else if (dynamic_cast<faiss::IndexFlatIP*>(map->index)) {
    params->kind = IpIndexKind::kFlat;
    params->M = 0;
    params->ef_construction = 0;
  } else {
    return Status::Error(StatusCode::kCorruptFile, where + ": inner index is neither IndexHNSWFlat nor IndexFlatIP");
  }
  return Status::Ok();
}

}  // namespace

Status IpIndex::read_file(const std::string& path, Kernel kernel, std::unique_ptr<IpIndex>* out) {
  faiss::Index* raw = nullptr;
  Status st = guard("read index", [&]() { raw = faiss::read_index(path.c_str()); });
  if (!st.ok()) return Status::Error(StatusCode::kCorruptFile, "index " + path + ": " + st.message);
  std::unique_ptr<IpIndex> ix(new IpIndex());
  ix->impl_ = std::make_unique<Impl>();
  IpIndexParams p;
  LEMUR_RETURN_IF_ERROR(adopt(raw, kernel, "index " + path, &ix->impl_->map, &ix->impl_->hnsw, &p));
  ix->d_ = static_cast<int>(ix->impl_->map->d);
  ix->kind_ = p.kind;
  ix->M_ = p.M;
  ix->ef_construction_ = p.ef_construction;
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
  IpIndexParams p;
  LEMUR_RETURN_IF_ERROR(adopt(raw, kernel, "index buffer", &ix->impl_->map, &ix->impl_->hnsw, &p));
  ix->d_ = static_cast<int>(ix->impl_->map->d);
  ix->kind_ = p.kind;
  ix->M_ = p.M;
  ix->ef_construction_ = p.ef_construction;
  *out = std::move(ix);
  return Status::Ok();
}

IpIndex::~IpIndex() = default;

int64_t IpIndex::ntotal() const { return impl_->map->ntotal; }

Status IpIndex::add(const float* x, const int64_t* ids, int64_t n, int threads, const ProgressFn& progress) {
  // omp_set_num_threads sets this (pool) thread's ICV only: calls from other threads keep theirs.
  omp_set_num_threads(threads);
  ProgressMeter meter(progress, static_cast<uint64_t>(std::max<int64_t>(n, 0)));
  struct Attach {  // detached however add ends: the meter dies with this frame
    DeterministicHnswFlat* h;
    Attach(DeterministicHnswFlat* hh, ProgressMeter* m) : h(hh) { if (h) h->progress = m; }
    ~Attach() { if (h) h->progress = nullptr; }
  } attach(impl_->hnsw, meter.active() ? &meter : nullptr);
  LEMUR_RETURN_IF_ERROR(guard("add", [&]() { impl_->map->add_with_ids(n, x, ids); }));
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
  // internal positions -> external ids; Faiss pads missing results with -1
  const std::vector<faiss::Index::idx_t>& ids = impl_->map->id_map;
  for (int64_t i = 0; i < nq * k; ++i) {
    if (labels[i] >= 0) {
      labels[i] = ids[labels[i]];
    } else {
      distances[i] = -std::numeric_limits<float>::infinity();
    }
  }
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
