// MappedFile (see mapped_file.h): open, fstat, mmap; the descriptor is closed at once because
// the mapping keeps the file alive (also after an unlink or a rename over it).
#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lemur {

Status MappedFile::open(const std::string& path, const std::string& what, uint64_t min_size,
                        std::unique_ptr<MappedFile>* out) {
  const auto io_error = [&](const char* step) {
    return Status::Error(StatusCode::kIo, what + " " + path + ": " + step + ": " + std::strerror(errno));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const Status s = io_error("cannot stat");
    ::close(fd);
    return s;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < min_size) {
    ::close(fd);
    return Status::Error(StatusCode::kCorruptFile, what + " " + path + ": file is " + std::to_string(size) +
                                                       " bytes, shorter than the " + std::to_string(min_size) +
                                                       "-byte header");
  }
  void* base = nullptr;
  if (size > 0) {
    base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
      const Status s = io_error("mmap failed");
      ::close(fd);
      return s;
    }
  }
  ::close(fd);
  std::unique_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->base_ = base;
  f->size_ = size;
  *out = std::move(f);
  return Status::Ok();
}

MappedFile::~MappedFile() {
  if (base_) ::munmap(base_, size_);
}

void MappedFile::drop_resident() const {
  if (size_ > 0) ::madvise(base_, size_, MADV_DONTNEED);
}

}  // namespace lemur
