// ProxyHeaderReader: a connection on a `proxy_protocol: true` listener until its PROXY
// header (see ProxyProtocol.h) is read, on its reactor's thread.
//
// It reads the header without ever taking a byte beyond it (it peeks, then consumes only
// header bytes), so what follows, a TLS ClientHello or an HTTP request or a chat line,
// is left on the socket for the next stage; then it hands the socket over with the real
// client's address in place of the balancer's (or the socket's own address for LOCAL and
// UNKNOWN). A connection that sends anything else, too much, or nothing within
// limits.header_timeout is closed (logged at debug): a client that connects directly
// to such a port cannot claim any address at all.
//
// Like TlsHandshake, it counts as an open connection from the start.
#pragma once

#include <Poco/Net/StreamSocket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/Reactor.h"
#include "net/SocketWatch.h"

namespace microserver::core {

class ProxyHeaderReader final : public ReactorClient {
 public:
  // What runs next (a TLS handshake or the protocol session), with the real client.
  using Next = std::function<void(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote)>;

  // On `reactor`'s thread, for an accepted non-blocking socket from `remote` (the peer).
  static void start(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                    std::shared_ptr<const Next> next);

  void onReadable();
  void onWritable() {}

  void checkDeadline(std::int64_t nowMs) override;
  void beginDrain() override { close(); }
  void abandon() override { close(); }

 private:
  ProxyHeaderReader(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                    std::shared_ptr<const Next> next);
  ~ProxyHeaderReader() override;
  void finish(std::string client);
  void close();

  Poco::Net::StreamSocket socket_;
  Reactor& reactor_;
  std::string remote_;
  std::shared_ptr<const Next> next_;  // the listener's (shared by its readers)
  std::string received_;              // the header's bytes so far (all consumed from the socket)
  SocketWatch<ProxyHeaderReader, &ProxyHeaderReader::onReadable, &ProxyHeaderReader::onWritable> watch_;
  std::int64_t deadlineMs_;
};

}  // namespace microserver::core
