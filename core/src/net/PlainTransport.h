// PlainTransport: a connection's bytes over plain TCP: recv, send, sendmsg and
// sendfile(2) on its descriptor, never blocking (the socket is non-blocking from accept4).
#pragma once

#include "net/Transport.h"

namespace microserver::core {

class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}

  long read(char* buffer, std::size_t size) override;
  long write(const char* data, std::size_t size, bool more = false) override;
  long writev(const struct iovec* iov, int count) override;
  long sendFile(int fd, std::uint64_t& offset, std::uint64_t length) override;
  void shutdownWrite() override;
  int fd() const override { return fd_; }

 private:
  int fd_;
};

}  // namespace microserver::core
