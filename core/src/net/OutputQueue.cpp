// OutputQueue: see OutputQueue.h.
#include "net/OutputQueue.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "base/Log.h"

namespace microserver::core {



void OutputQueue::pushBytes(std::string_view bytes) {
  if (bytes.empty()) return;
  // Coalesce into the previous byte segment: many small queued responses, one send.
  if (!segments_.empty() && !segments_.back().file) {
    segments_.back().bytes.append(bytes.data(), bytes.size());
  } else {
    Segment s;
    s.bytes.assign(bytes.data(), bytes.size());
    segments_.push_back(std::move(s));
  }
  pendingBytes_ += bytes.size();
}

void OutputQueue::pushFile(FileRef file, std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return;
  Segment s;
  s.file = std::move(file);
  s.offset = offset;
  s.remaining = length;
  segments_.push_back(std::move(s));
  pendingBytes_ += length;
}

OutputQueue::Result OutputQueue::drain(Transport& transport) {
  while (!segments_.empty()) {
    Segment& s = segments_.front();
    if (!s.file) {
      long n = transport.write(s.bytes.data() + s.sent, s.bytes.size() - s.sent);
      if (n == Transport::kAgain) return Result::WouldBlock;
      if (n < 0) return Result::PeerGone;
      s.sent += static_cast<std::size_t>(n);
      pendingBytes_ -= static_cast<std::uint64_t>(n);
      if (s.sent < s.bytes.size()) return Result::WouldBlock;
    } else {
      long n = transport.sendFile(s.file->fd(), s.offset, s.remaining);
      if (n == Transport::kAgain) return Result::WouldBlock;
      if (n == Transport::kFileShrank) return Result::FileShrank;
      if (n < 0) return Result::PeerGone;
      s.remaining -= static_cast<std::uint64_t>(n);
      pendingBytes_ -= static_cast<std::uint64_t>(n);
      if (s.remaining > 0) return Result::WouldBlock;
    }
    segments_.pop_front();
  }
  return Result::Drained;
}

}  // namespace microserver::core
