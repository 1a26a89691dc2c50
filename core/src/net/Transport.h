// Transport: moves one connection's bytes, for the protocol session on top of it (HTTP/1,
// HTTP/2, a service's clients): plain TCP (PlainTransport) or TLS (tls/TlsTransport), always
// non-blocking. The session never touches the socket itself: it reads, writes and sends
// files through this, and asks which readiness to wait for (TLS may need to read in order
// to write, or to write in order to read).
//
// Results of read/write/writev/sendFile:
//   > 0         bytes moved
//   kEof        (read) the peer closed its side
//   kAgain      nothing moved now; wait for readiness (interest())
//   kFailed     the connection is broken (a reset, a TLS error): close it
//   kFileShrank (sendFile) the file ended before `length`: the response cannot be completed
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace microserver::core {

class Transport {
 public:
  static constexpr long kEof = 0;
  static constexpr long kAgain = -1;
  static constexpr long kFailed = -2;
  static constexpr long kFileShrank = -3;

  virtual ~Transport() = default;

  virtual long read(char* buffer, std::size_t size) = 0;
  // `more`: more bytes follow at once (a file after its headers): coalesce them.
  virtual long write(const char* data, std::size_t size, bool more = false) = 0;
  virtual long writev(const struct iovec* iov, int count) = 0;
  // Sends [offset, offset + length) of `fd` and advances `offset`: sendfile(2) on plain TCP;
  // read into a bounded buffer and written on TLS. At most a few MiB per call, so one
  // large file does not hold the reactor.
  virtual long sendFile(int fd, std::uint64_t& offset, std::uint64_t length) = 0;

  // The readiness to wait for, given what the session wants to do next.
  struct Interest {
    bool readable, writable;
  };
  virtual Interest interest(bool wantRead, bool wantWrite) const { return {wantRead, wantWrite}; }

  // No more bytes from us (TLS: close_notify first); reading goes on.
  virtual void shutdownWrite() = 0;
  // The session is about to close the socket: a last word if the protocol has one (TLS:
  // close_notify, once, never blocking). Nothing may touch the descriptor afterwards.
  virtual void beforeClose() {}
  virtual int fd() const = 0;
  // The application protocol agreed during the handshake ("h2", "http/1.1"), or "".
  virtual std::string_view protocol() const { return {}; }
  virtual bool secure() const { return false; }
};

}  // namespace microserver::core
