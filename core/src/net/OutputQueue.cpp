// OutputQueue: see OutputQueue.h.
#include "net/OutputQueue.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "base/Log.h"

namespace microserver::core {

namespace {
// One event sends at most this much of a file (in 1 MiB sendfile(2) calls), then lets the
// reactor serve others; the socket is still writable, so the next event comes at once.
constexpr std::uint64_t kFileSlice = 1 << 20;
constexpr std::uint64_t kFileBudget = 4 << 20;
}  // namespace

OutputQueue::~OutputQueue() {
  for (Segment& s : segments_)
    if (s.fd >= 0) ::close(s.fd);
}

void OutputQueue::pushBytes(std::string_view bytes) {
  if (bytes.empty()) return;
  // Coalesce into the previous byte segment: many small queued responses, one send.
  if (!segments_.empty() && segments_.back().fd < 0) {
    segments_.back().bytes.append(bytes.data(), bytes.size());
  } else {
    Segment s;
    s.bytes.assign(bytes.data(), bytes.size());
    segments_.push_back(std::move(s));
  }
  pendingBytes_ += bytes.size();
}

void OutputQueue::pushFile(int fd, std::uint64_t offset, std::uint64_t length) {
  if (length == 0) {
    ::close(fd);
    return;
  }
  Segment s;
  s.fd = fd;
  s.offset = offset;
  s.remaining = length;
  segments_.push_back(std::move(s));
  pendingBytes_ += length;
}

long OutputQueue::sendDirect(int socketFd, const char* data, std::size_t len, bool more) {
  std::size_t sent = 0;
  int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0);
  while (sent < len) {
    ssize_t n = ::send(socketFd, data + sent, len - sent, flags);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return -1;
  }
  return static_cast<long>(sent);
}

long OutputQueue::sendFileDirect(int socketFd, int fileFd, std::uint64_t& offset, std::uint64_t length) {
  std::uint64_t sent = 0;
  while (sent < length && sent < kFileBudget) {
    off_t off = static_cast<off_t>(offset);
    std::size_t chunk = static_cast<std::size_t>(std::min(length - sent, kFileSlice));
    ssize_t n = ::sendfile(socketFd, fileFd, &off, chunk);
    if (n > 0) {
      sent += static_cast<std::uint64_t>(n);
      offset = static_cast<std::uint64_t>(off);
      continue;
    }
    if (n == 0) return -2;  // end of file before `length`: it was truncated under us
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINVAL || errno == ENOSYS)
      log::error("sendfile(2) is not supported for this file (its file system cannot splice): the response was cut");
    return -1;
  }
  return static_cast<long>(sent);
}

OutputQueue::Result OutputQueue::drain(int socketFd) {
  while (!segments_.empty()) {
    Segment& s = segments_.front();
    if (s.fd < 0) {
      long n = sendDirect(socketFd, s.bytes.data() + s.sent, s.bytes.size() - s.sent);
      if (n < 0) return Result::PeerGone;
      s.sent += static_cast<std::size_t>(n);
      pendingBytes_ -= static_cast<std::uint64_t>(n);
      if (s.sent < s.bytes.size()) return Result::WouldBlock;
    } else {
      long n = sendFileDirect(socketFd, s.fd, s.offset, s.remaining);
      if (n == -1) return Result::PeerGone;
      if (n == -2) return Result::FileShrank;
      s.remaining -= static_cast<std::uint64_t>(n);
      pendingBytes_ -= static_cast<std::uint64_t>(n);
      if (s.remaining > 0) return Result::WouldBlock;
      ::close(s.fd);
    }
    segments_.pop_front();
  }
  return Result::Drained;
}

}  // namespace microserver::core
