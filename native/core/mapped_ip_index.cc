// MappedIpIndex (see mapped_ip_index.h): map, parse, point the row and graph views into the
// mapping; search goes through hnsw_search, scan and reconstruct through IpIndexBase.
#include "mapped_ip_index.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace lemur {

Status MappedIpIndex::open(const std::string& path, Kernel kernel, std::unique_ptr<MappedIpIndex>* out) {
  std::unique_ptr<MappedIpIndex> ix(new MappedIpIndex());
  LEMUR_RETURN_IF_ERROR(MappedFile::open(path, "index", 0, &ix->file_));
  IpIndexFileLayout& l = ix->layout_;
  LEMUR_RETURN_IF_ERROR(parse_ip_index_file(ix->file_->data(), ix->file_->size(), "index " + path, &l));
  ix->d_ = l.d;
  ix->kind_ = l.kind;
  ix->storage_ = l.storage;
  ix->M_ = l.kind == IpIndexKind::kHnsw ? l.M : 0;
  ix->ef_construction_ = l.kind == IpIndexKind::kHnsw ? l.ef_construction : 0;

  RowsView& v = ix->rows_;
  v.enc = l.storage;
  v.d = l.d;
  v.codes = ix->file_->data() + l.codes_at;
  v.code_size = row_code_size(l.storage, l.d);
  v.n = l.ntotal;
  v.kt = &kernel_table(kernel);
  if (l.storage == RowEncoding::kSq8 && !l.sq_trained.empty()) {
    ix->sq8_.derive(l.sq_trained, l.d);
    v.trained = l.sq_trained.data();
    v.step = ix->sq8_.step.data();
    v.offset = ix->sq8_.offset.data();
  }
  if (l.kind == IpIndexKind::kHnsw) {
    HnswGraphView& g = ix->graph_;
    g.ntotal = l.ntotal;
    g.cum = l.cum_nneighbor_per_level.data();
    g.offsets = l.offsets.data();
    g.neighbors = ix->file_->data() + l.neighbors_at;
    g.entry_point = l.entry_point;
    g.max_level = l.max_level;
  }

  bool identity = true;
  for (int64_t i = 0; i < l.ntotal && identity; ++i) identity = l.ids[i] == i;
  if (!identity) {
    ix->by_id_.resize(static_cast<size_t>(l.ntotal));
    for (int64_t i = 0; i < l.ntotal; ++i) ix->by_id_[i] = {l.ids[i], i};
    std::sort(ix->by_id_.begin(), ix->by_id_.end());
  }
  *out = std::move(ix);
  return Status::Ok();
}

MappedIpIndex::~MappedIpIndex() = default;

uint64_t MappedIpIndex::heap_bytes() const {
  const IpIndexFileLayout& l = layout_;
  return sizeof(int64_t) * l.ids.size() + sizeof(uint64_t) * l.offsets.size() + sizeof(int) * l.cum_nneighbor_per_level.size() +
         sizeof(float) * (l.sq_trained.size() + sq8_.step.size() + sq8_.offset.size()) + sizeof(by_id_[0]) * by_id_.size();
}

bool MappedIpIndex::position_of(int64_t id, int64_t* pos) const {
  if (by_id_.empty()) {
    if (id < 0 || id >= layout_.ntotal) return false;
    *pos = id;
    return true;
  }
  // the last position holding the id, as IndexIDMap2's rev_map keeps it
  auto it = std::upper_bound(by_id_.begin(), by_id_.end(), std::make_pair(id, INT64_MAX));
  if (it == by_id_.begin() || (it - 1)->first != id) return false;
  *pos = (it - 1)->second;
  return true;
}

Status MappedIpIndex::search(const float* q, int64_t nq, int64_t k, int ef_search, int threads, int64_t* labels,
                             float* distances) const {
  if (kind_ == IpIndexKind::kFlat) return scan(q, nq, k, threads, labels, distances);
  Status st = hnsw_search(graph_, rows_, q, nq, k, ef_search, threads, labels, distances);
  if (!st.ok()) return Status::Error(st.code, "index " + file_->path() + ": " + st.message);
  to_external(nq * k, labels, distances);
  return Status::Ok();
}

Status MappedIpIndex::write_file(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  const auto fail = [&](const char* step) {
    return Status::Error(StatusCode::kIo, "index " + path + ": " + step + ": " + std::strerror(errno));
  };
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return fail("cannot create the temp file");
  const bool wrote = std::fwrite(file_->data(), 1, file_->size(), f) == file_->size();
  if (std::fclose(f) != 0 || !wrote) {
    const Status st = fail("write failed");
    std::remove(tmp.c_str());
    return st;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename failed");
  return Status::Ok();
}

Status MappedIpIndex::serialize(std::vector<uint8_t>* out) const {
  out->assign(file_->data(), file_->data() + file_->size());
  return Status::Ok();
}

}  // namespace lemur
