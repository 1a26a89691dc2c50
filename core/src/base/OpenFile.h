// OpenFile: the descriptor of a file being served, closed when its last holder lets go.
// The open-file cache and every response sending from the file share one open: a hot file
// costs no open(2), fstat(2) or close(2) per request, and a file evicted from the cache
// while responses still send from it stays open until they are done (sendfile and pread
// take their own offsets, so any number may read it at once).
#pragma once

#include <unistd.h>

#include <memory>

namespace microserver::core {

class OpenFile {
 public:
  explicit OpenFile(int fd) : fd_(fd) {}
  ~OpenFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

using FileRef = std::shared_ptr<const OpenFile>;

}  // namespace microserver::core
