// TlsTransport: see TlsTransport.h.
#include "tls/TlsTransport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

#include "base/Log.h"

namespace microserver::core {

namespace {
// writev() gathers small pieces (chat lines, WebSocket frames) into one record's worth.
constexpr std::size_t kGatherBytes = 16 * 1024;
// sendFile() reads this much of a file at a time, and encrypts at most kFileBudget per
// call, so one large download does not hold the reactor.
constexpr std::size_t kFileChunk = 64 * 1024;
constexpr std::uint64_t kFileBudget = 1 << 20;
// One SSL_write at most this much (it takes an int).
constexpr std::size_t kMaxWrite = 1 << 30;

// Per reactor thread, shared by its connections: nothing stays in them between calls (a
// retried write gathers or reads the same bytes again).
char* gatherBuffer() {
  thread_local std::unique_ptr<char[]> buffer(new char[kGatherBytes]);
  return buffer.get();
}
char* fileBuffer() {
  thread_local std::unique_ptr<char[]> buffer(new char[kFileChunk]);
  return buffer.get();
}

std::string lastReason(const char* fallback) {
  unsigned long code = ERR_peek_last_error();
  const char* reason = code ? ERR_reason_error_string(code) : nullptr;
  ERR_clear_error();
  return reason ? reason : fallback;
}
}  // namespace

TlsTransport::TlsTransport(int fd, SSL* ssl) : ssl_(ssl), fd_(fd) {}

TlsTransport::~TlsTransport() { SSL_free(ssl_); }  // no I/O: the socket BIO does not close the fd

TlsTransport::Handshake TlsTransport::handshake(std::string& why) {
  ERR_clear_error();
  int result = SSL_do_handshake(ssl_);
  if (result == 1) {
    established_ = true;
    readWants_ = Want::Nothing;
    return Handshake::Done;
  }
  int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    readWants_ = error == SSL_ERROR_WANT_READ ? Want::Read : Want::Write;
    return Handshake::Again;
  }
  failed_ = true;
  if (error == SSL_ERROR_SYSCALL && errno != 0 && ERR_peek_last_error() == 0) {
    why = std::strerror(errno);
  } else if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)) {
    why = "the client closed the connection";
  } else {
    why = lastReason("a TLS protocol error");
  }
  ERR_clear_error();
  return Handshake::Failed;
}

long TlsTransport::failure(int result, Want& want, bool reading) {
  int error = SSL_get_error(ssl_, result);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      want = Want::Read;
      return kAgain;
    case SSL_ERROR_WANT_WRITE:
      want = Want::Write;
      return kAgain;
    case SSL_ERROR_ZERO_RETURN:
      // The peer's close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a TCP close without one.
      ERR_clear_error();
      want = Want::Nothing;
      if (reading) return kEof;
      failed_ = true;
      return kFailed;
    default:
      // A reset, a broken record, a protocol violation: nothing more may be sent.
      failed_ = true;
      if (log::enabled(log::Level::Debug))
        log::debug(std::string("TLS connection failed: ") + (error == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0
                                                                 ? std::strerror(errno)
                                                                 : lastReason("protocol error")));
      ERR_clear_error();
      return kFailed;
  }
}

long TlsTransport::read(char* buffer, std::size_t size) {
  if (failed_) return kFailed;
  ERR_clear_error();
  std::size_t total = 0;
  while (total < size) {
    int n = SSL_read(ssl_, buffer + total, static_cast<int>(std::min(size - total, kMaxWrite)));
    if (n > 0) {
      total += static_cast<std::size_t>(n);
      readWants_ = Want::Nothing;
      // Bytes OpenSSL already decrypted would never wake the reactor: take them now. The
      // next record, still in the socket, waits for the next event (one read per event).
      if (SSL_pending(ssl_) <= 0) break;
      continue;
    }
    if (total > 0) break;  // the condition comes back on the next call
    return failure(n, readWants_, true);
  }
  return static_cast<long>(total);
}

long TlsTransport::write(const char* data, std::size_t size, bool) {
  if (failed_) return kFailed;
  ERR_clear_error();
  std::size_t sent = 0;
  while (sent < size) {
    // With SSL_MODE_ENABLE_PARTIAL_WRITE each call sends one record (16 KiB) at most.
    int n = SSL_write(ssl_, data + sent, static_cast<int>(std::min(size - sent, kMaxWrite)));
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      writeWants_ = Want::Nothing;
      continue;
    }
    long result = failure(n, writeWants_, false);
    if (result != kAgain) return result;
    break;
  }
  return sent > 0 || size == 0 ? static_cast<long>(sent) : kAgain;
}

long TlsTransport::writev(const struct iovec* iov, int count) {
  if (count == 1) return write(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len);
  char* buffer = gatherBuffer();
  std::size_t total = 0;  // bytes of the whole vector sent so far
  bool blocked = false;
  while (true) {
    // Gather what follows `total` into one record's worth.
    std::size_t length = 0, skip = total;
    for (int i = 0; i < count && length < kGatherBytes; ++i) {
      std::size_t size = iov[i].iov_len;
      if (skip >= size) {
        skip -= size;
        continue;
      }
      std::size_t take = std::min(size - skip, kGatherBytes - length);
      std::memcpy(buffer + length, static_cast<const char*>(iov[i].iov_base) + skip, take);
      length += take;
      skip = 0;
    }
    if (length == 0) break;
    long n = write(buffer, length);
    if (n == kAgain) {
      blocked = true;
      break;
    }
    if (n < 0) return n;
    total += static_cast<std::size_t>(n);
    if (static_cast<std::size_t>(n) < length) break;
  }
  return total == 0 && blocked ? kAgain : static_cast<long>(total);
}

long TlsTransport::sendFile(int fd, std::uint64_t& offset, std::uint64_t length) {
  char* buffer = fileBuffer();
  std::uint64_t sent = 0;
  while (sent < length && sent < kFileBudget) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length - sent, kFileChunk));
    ssize_t got = ::pread(fd, buffer, want, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      log::error(std::string("reading a file to send over TLS failed: ") + std::strerror(errno) +
                 "; the response was cut");
      return kFailed;
    }
    if (got == 0) return kFileShrank;  // end of file before `length`: truncated under us
    long n = write(buffer, static_cast<std::size_t>(got));
    if (n == kAgain) break;
    if (n < 0) return n;
    offset += static_cast<std::uint64_t>(n);
    sent += static_cast<std::uint64_t>(n);
    if (n < got) break;  // the socket is full
  }
  return sent > 0 ? static_cast<long>(sent) : kAgain;
}

Transport::Interest TlsTransport::interest(bool wantRead, bool wantWrite) const {
  Interest interest{false, false};
  if (wantRead) (readWants_ == Want::Write ? interest.writable : interest.readable) = true;
  if (wantWrite) (writeWants_ == Want::Read ? interest.readable : interest.writable) = true;
  return interest;
}

void TlsTransport::shutdownWrite() {
  if (!failed_ && established_ && !closeSent_) {
    closeSent_ = true;
    ERR_clear_error();
    int result = SSL_shutdown(ssl_);
    ERR_clear_error();
    // The close_notify did not fit in the socket: a TCP half-close now would cut it. The
    // session lingers and closes the socket when it is done.
    if (result < 0) return;
  }
  ::shutdown(fd_, SHUT_WR);
}

void TlsTransport::beforeClose() {
  if (failed_ || !established_ || closeSent_) return;
  closeSent_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // one try: the socket closes next, whether it fit or not
  ERR_clear_error();
}

std::string_view TlsTransport::protocol() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &data, &length);
  return data ? std::string_view(reinterpret_cast<const char*>(data), length) : std::string_view();
}

std::string TlsTransport::description() const {
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

std::string_view TlsTransport::serverName() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

bool TlsTransport::resumed() const { return SSL_session_reused(ssl_) == 1; }

}  // namespace microserver::core
