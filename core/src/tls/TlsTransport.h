// TlsTransport: a connection's bytes over TLS, OpenSSL driven directly on the socket
// (as nginx's ngx_event_openssl does), never blocking; the reactor waits for whatever
// readiness OpenSSL needs next.
//
//  - Want-read during a write, want-write during a read: each direction remembers what
//    its last incomplete call waits for, and interest() turns "the session wants to read"
//    into "wait until writable" when OpenSSL must send before it can read (a TLS 1.3
//    KeyUpdate answer, an alert), and the reverse. The session retries the same call when
//    the socket is ready (HttpConnection and ServicePeer retry whatever they are doing,
//    whichever readiness arrives).
//  - A write that returned kAgain is retried with the same bytes (at least as many), as
//    OpenSSL requires; the buffer may have moved (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
//    OutputQueue and ServicePeer's queue keep unsent bytes at their front, so they do.
//  - Files cannot go through sendfile(2) (no kTLS on this kernel): sendFile() reads a
//    range into a bounded per-thread buffer and encrypts it, at most kFileBudget per call.
//  - TLS 1.3 post-handshake messages (session tickets after the handshake, KeyUpdate)
//    are OpenSSL's business inside SSL_read/SSL_write.
//  - Shutdown: the peer's close_notify (or a TCP close without one: HTTP frames its
//    messages, so a truncation cannot go unnoticed) reads as kEof; ours is sent by
//    shutdownWrite() or beforeClose(), never after a fatal error.
//  - Idle memory: OpenSSL's record buffers are released between records
//    (SSL_MODE_RELEASE_BUFFERS); what stays is the SSL object and this small one.
//
// OpenSSL keeps an error queue per thread: every call here clears it first, and failures
// clear what they leave, so one connection's error never shows up on another's.
#pragma once

#include <cstdint>
#include <string>

#include "net/Transport.h"

struct ssl_st;

namespace microserver::core {

class TlsTransport final : public Transport {
 public:
  // Takes `ssl` (a server-side SSL on `fd`, from TlsContext::newConnection).
  TlsTransport(int fd, ssl_st* ssl);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  enum class Handshake { Done, Again, Failed };
  // Advances the handshake; on Again, interest(true, false) says what to wait for; on
  // Failed, `why` says why (for the log).
  Handshake handshake(std::string& why);

  long read(char* buffer, std::size_t size) override;
  long write(const char* data, std::size_t size, bool more = false) override;
  long writev(const struct iovec* iov, int count) override;
  long sendFile(int fd, std::uint64_t& offset, std::uint64_t length) override;
  Interest interest(bool wantRead, bool wantWrite) const override;
  void shutdownWrite() override;
  void beforeClose() override;
  int fd() const override { return fd_; }
  std::string_view protocol() const override;
  bool secure() const override { return true; }

  // The TLS version and cipher ("TLSv1.3 TLS_AES_256_GCM_SHA384"), for logs.
  std::string description() const;
  // The server name the client asked for (SNI), or "".
  std::string_view serverName() const;
  bool resumed() const;

 private:
  enum class Want : std::uint8_t { Nothing, Read, Write };
  // After a call returned `result` <= 0: what to wait for (kAgain), or kEof / kFailed.
  long failure(int result, Want& want, bool reading);

  ssl_st* ssl_;
  int fd_;
  Want readWants_ = Want::Nothing;   // what the last unfinished read (or the handshake) waits for
  Want writeWants_ = Want::Nothing;  // what the last unfinished write waits for
  bool established_ = false;         // the handshake is done
  bool failed_ = false;              // a fatal error: no close_notify, no more I/O
  bool closeSent_ = false;           // our close_notify is out (or was tried)
};

}  // namespace microserver::core
