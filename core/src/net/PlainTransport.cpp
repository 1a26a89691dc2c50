// PlainTransport: see PlainTransport.h.
#include "net/PlainTransport.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "base/Log.h"

namespace microserver::core {

namespace {
// One call sends at most this much of a file (in 1 MiB sendfile(2) calls), then lets the
// reactor serve others; the socket is still writable, so the next event comes at once.
constexpr std::uint64_t kFileSlice = 1 << 20;
constexpr std::uint64_t kFileBudget = 4 << 20;
}  // namespace

long PlainTransport::read(char* buffer, std::size_t size) {
  while (true) {
    ssize_t n = ::recv(fd_, buffer, size, 0);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? kAgain : kFailed;
  }
}

long PlainTransport::write(const char* data, std::size_t size, bool more) {
  std::size_t sent = 0;
  int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0);
  while (sent < size) {
    ssize_t n = ::send(fd_, data + sent, size - sent, flags);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return kFailed;
  }
  return sent > 0 || size == 0 ? static_cast<long>(sent) : kAgain;
}

long PlainTransport::writev(const struct iovec* iov, int count) {
  struct msghdr message {};
  message.msg_iov = const_cast<struct iovec*>(iov);
  message.msg_iovlen = static_cast<std::size_t>(count);
  while (true) {
    ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? kAgain : kFailed;
  }
}

long PlainTransport::sendFile(int fd, std::uint64_t& offset, std::uint64_t length) {
  std::uint64_t sent = 0;
  while (sent < length && sent < kFileBudget) {
    off_t off = static_cast<off_t>(offset);
    std::size_t chunk = static_cast<std::size_t>(std::min(length - sent, kFileSlice));
    ssize_t n = ::sendfile(fd_, fd, &off, chunk);
    if (n > 0) {
      sent += static_cast<std::uint64_t>(n);
      offset = static_cast<std::uint64_t>(off);
      continue;
    }
    if (n == 0) return kFileShrank;  // end of file before `length`: it was truncated under us
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINVAL || errno == ENOSYS)
      log::error("sendfile(2) is not supported for this file (its file system cannot splice): the response was cut");
    return kFailed;
  }
  return sent > 0 ? static_cast<long>(sent) : kAgain;
}

void PlainTransport::shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

}  // namespace microserver::core
