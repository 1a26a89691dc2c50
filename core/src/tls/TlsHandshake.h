// TlsHandshake: a TLS connection until its handshake is done, on its reactor's thread.
//
// The listener of a TLS port starts one per accepted socket: it drives SSL_do_handshake
// as the socket becomes ready, within limits.header_timeout (a client that connects and
// says nothing, or stalls mid-handshake, is closed then), and closes the connection on
// anything that is not TLS 1.2 or 1.3 (garbage, plain HTTP, an old client) without
// touching anything else. Once the handshake is done it hands the socket and its
// TlsTransport to `next`, which starts the protocol session: the one the listener
// serves, or later the one ALPN chose (transport->protocol()), and deletes itself.
//
// It counts as an open connection (max_connections, a graceful stop) from the start.
#pragma once

#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/Reactor.h"
#include "net/SocketWatch.h"
#include "tls/TlsContext.h"
#include "tls/TlsTransport.h"

namespace microserver::core {

class TlsHandshake final : public ReactorClient {
 public:
  using Next = std::function<void(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                                  std::unique_ptr<Transport> transport)>;

  // On `reactor`'s thread, for an accepted non-blocking socket.
  static void start(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                    std::shared_ptr<const TlsContext> context, std::shared_ptr<const Next> next);

  void onReadable() { step(); }
  void onWritable() { step(); }

  void checkDeadline(std::int64_t nowMs) override;
  void beginDrain() override { close(); }
  void abandon() override { close(); }

 private:
  TlsHandshake(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
               std::shared_ptr<const TlsContext> context, std::shared_ptr<const Next> next, ssl_st* ssl);
  ~TlsHandshake() override;
  void step();
  void finish();
  void close();

  Poco::Net::StreamSocket socket_;
  Reactor& reactor_;
  std::string remote_;
  // Keeps the SNI callback's certificates alive while the handshake runs (a reload may
  // replace the listener's context meanwhile).
  std::shared_ptr<const TlsContext> context_;
  std::shared_ptr<const Next> next_;  // the listener's (shared by its handshakes)
  std::unique_ptr<TlsTransport> transport_;
  SocketWatch<TlsHandshake, &TlsHandshake::onReadable, &TlsHandshake::onWritable> watch_;
  std::int64_t deadlineMs_;
};

}  // namespace microserver::core
