// TlsClient: a blocking TLS client for end-to-end tests (OpenSSL), for what curl and
// `openssl s_client` cannot show from the outside: a connection kept open across a reload,
// a reader slow enough to fill the server's socket, the certificate one connection got.
//
//   e2e::TlsClient c(port, "a.test");          // connect + handshake (SNI a.test); throws
//   EXPECT_EQ(c.peerCommonName(), "a.test");
//   c.sendAll("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
//   e2e::HttpResponse r = c.readResponse();
//
// The server's certificate is not verified (tests check it by name instead). Every read
// and write is bounded by the timeout, so a broken server fails a test instead of hanging.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "TestClient.h"

struct ssl_st;
struct ssl_ctx_st;

namespace e2e {

class TempDir;

// A self-signed P-256 certificate and its key (PEM files in a test's folder).
struct Certificate {
  std::string certificate, key;
};
// Made by `openssl req` as dir/name.crt and dir/name.key, for `commonName` with the given
// subjectAltName ("DNS:localhost,IP:127.0.0.1"); throws with openssl's output if it fails.
Certificate makeCertificate(const TempDir& dir, const std::string& name, const std::string& commonName,
                            const std::string& altNames);

class TlsClient {
 public:
  struct Options {
    std::string serverName;  // SNI; none when empty
    int receiveBuffer = 0;   // > 0: SO_RCVBUF, so a slow reader fills the server's socket
    std::string alpn;        // one protocol to offer ("http/1.1"); none when empty
    std::string session;     // PEM of a session to resume (from session()); none when empty
  };

  // Connects to 127.0.0.1:port and completes the handshake; throws std::runtime_error
  // with OpenSSL's reason otherwise.
  TlsClient(int port, const Options& options, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  explicit TlsClient(int port, const std::string& serverName = "");
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  std::string peerCommonName() const;  // the CN of the certificate the server sent
  std::string version() const;         // "TLSv1.3"
  std::string alpn() const;            // the protocol the server chose, or ""
  bool resumed() const;
  std::string session() const;  // this connection's session, PEM (for Options::session)

  void sendAll(std::string_view data);
  // Sends close_notify (our side is done; TLS 1.3 lets us go on reading).
  void sendCloseNotify();
  // One response (Content-Length or chunked body; HEAD and 1xx/204/304 have none).
  HttpResponse readResponse(std::string_view requestMethod = "GET");
  // Up to and without "\n" (a "\r" before it is removed), for line protocols (chat).
  std::string readLine();
  // One read's worth of bytes (a TLS record), whatever they are.
  std::string readSome();
  // Waits up to `timeout` for the server to close (close_notify or TCP close); bytes that
  // arrive meanwhile are discarded.
  bool isClosedByPeer(std::chrono::milliseconds timeout);

 private:
  // One SSL_read into buf_; false on close (throws on timeout and errors).
  bool fill(const char* waitingFor);

  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  std::chrono::milliseconds timeout_;
  std::string buf_;
};

}  // namespace e2e
