// TlsContext: what a TLS listener hands every new connection: its certificates (the
// first is the default; the others are chosen by the name the client asks for, SNI), and
// one OpenSSL SSL_CTX per certificate, all with the same settings: TLS 1.2 and 1.3 only,
// no renegotiation, modern ciphers, session resumption (tickets with keys shared by every
// context of the process, so a ticket survives a reload, and a server-side session cache
// for clients without tickets), read/write buffers released while a connection is idle.
//
// Built from the configuration on the main thread (at start and at every reload), then
// shared, immutable, by every reactor: a reload builds new contexts for new handshakes,
// and connections already established keep the SSL_CTX they started with (OpenSSL counts
// its references).
//
// Certificate problems are configuration errors, each with the file:line:col of the value
// in routes.yaml: a file that cannot be read, holds no PEM certificate or key, a key that
// needs a passphrase, a key that does not match its certificate.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Config.h"

struct ssl_st;
struct ssl_ctx_st;

namespace microserver::core {

class TlsContext {
 public:
  // Loads every certificate of `config`; `file` is the configuration file (for messages).
  // `alpn`: the application protocols offered, in order of preference ("http/1.1"; "h2"
  // later); empty: no ALPN (a raw TCP service). Returns nullptr with `errors` filled.
  static std::shared_ptr<const TlsContext> create(const TlsConfig& config, const std::string& file,
                                                  std::vector<std::string> alpn, std::vector<std::string>& errors);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A new server-side connection on `fd` (SSL_new on the default context), or nullptr.
  ssl_st* newConnection(int fd) const;

  // The names each certificate answers to (its DNS subject alternative names, else its
  // common name), in configuration order.
  std::vector<std::vector<std::string>> names() const;
  // The index of the certificate a client asking for `serverName` gets (0: the default).
  std::size_t select(std::string_view serverName) const;

 private:
  struct Certificate {
    ssl_ctx_st* ctx = nullptr;
    std::vector<std::string> names;  // lower case; "*.example.com" for wildcards
  };
  TlsContext() = default;
  static int onServerName(ssl_st* ssl, int* alert, void* arg);
  static int onAlpn(ssl_st* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                    unsigned int inlen, void* arg);

  std::vector<Certificate> certificates_;
  std::string alpnWire_;  // the protocols in ALPN's wire format (length-prefixed)
};

// Every TLS context one configuration needs: per listener of server.listen and per
// service, null where the listener is plain.
struct TlsContexts {
  std::vector<std::shared_ptr<const TlsContext>> listeners;
  std::vector<std::shared_ptr<const TlsContext>> services;

  // Throws ConfigLoadError listing every certificate problem.
  static TlsContexts load(const Config& config);
};

}  // namespace microserver::core
