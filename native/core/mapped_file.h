// MappedFile: a whole file mapped read-only and shared (MAP_SHARED, PROT_READ), unmapped when the
// object dies. Its pages are the page cache's: they count as the process's RssFile while touched,
// never as anonymous memory, and the kernel may drop and re-read them under memory pressure.
// Not here: any file format (token_store.cc, faiss_index_file.cc read the bytes).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "status.h"

namespace lemur {

class MappedFile {
 public:
  // Maps `path`; `what` names the file's kind in messages ("token store /x: cannot open: ...").
  // A file shorter than `min_size` bytes is kCorruptFile (nothing is mapped then). An empty file
  // maps to no pages (data() is null, size() 0).
  static Status open(const std::string& path, const std::string& what, uint64_t min_size,
                     std::unique_ptr<MappedFile>* out);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return static_cast<const uint8_t*>(base_); }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Unmaps every page of the file from this process (MADV_DONTNEED; the file is read-only and
  // shared, so the pages stay in the page cache and fault back in when read again). After a pass
  // over scattered pages: each fault maps its neighbours too (fault-around), and a trainer
  // sampling a few tokens per page of a 1 M-document corpus would otherwise keep GBs resident.
  void drop_resident() const;

 private:
  MappedFile() = default;
  std::string path_;
  void* base_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace lemur
