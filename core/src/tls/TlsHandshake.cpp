// TlsHandshake: see TlsHandshake.h.
#include "tls/TlsHandshake.h"

#include "base/Log.h"

namespace microserver::core {

void TlsHandshake::start(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                         std::shared_ptr<const TlsContext> context, std::shared_ptr<const Next> next) {
  ssl_st* ssl = context->newConnection(socket.impl()->sockfd());
  if (!ssl) {
    log::error("TLS: cannot set up a connection from " + remote + " (out of memory?); closing it");
    socket.close();
    return;
  }
  new TlsHandshake(socket, reactor, remote, std::move(context), std::move(next), ssl);  // owns itself
}

TlsHandshake::TlsHandshake(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                           std::shared_ptr<const TlsContext> context, std::shared_ptr<const Next> next, ssl_st* ssl)
    : socket_(socket),
      reactor_(reactor),
      remote_(remote),
      context_(std::move(context)),
      next_(std::move(next)),
      transport_(std::make_unique<TlsTransport>(socket_.impl()->sockfd(), ssl)),
      watch_(reactor, socket_.impl()->sockfd(), *this),
      deadlineMs_(Reactor::monotonicMs() + reactor.site().config().server.limits.headerTimeout.count()) {
  reactor_.context().openConnections.fetch_add(1, std::memory_order_relaxed);
  reactor_.attach(this);
  // Last: from here on the reactor may call us. The client speaks first (ClientHello).
  watch_.want(true, false);
}

TlsHandshake::~TlsHandshake() = default;

void TlsHandshake::step() {
  std::string why;
  TlsTransport::Handshake state = transport_->handshake(why);
  if (state == TlsTransport::Handshake::Again) {
    Transport::Interest interest = transport_->interest(true, false);
    watch_.want(interest.readable, interest.writable);
    return;
  }
  if (state == TlsTransport::Handshake::Failed) {
    reactor_.metrics().tlsFailed.add(1);
    log::debug("TLS handshake with " + remote_ + " failed: " + why + "; closed the connection");
    return close();
  }
  reactor_.metrics().tlsHandshakes.add(1);
  if (transport_->resumed()) reactor_.metrics().tlsResumed.add(1);
  if (log::enabled(log::Level::Debug)) {
    std::string_view name = transport_->serverName();
    log::debug("TLS handshake with " + remote_ + " done: " + transport_->description() +
               (transport_->resumed() ? ", resumed" : "") + (name.empty() ? "" : ", server name " + std::string(name)) +
               (transport_->protocol().empty() ? "" : ", protocol " + std::string(transport_->protocol())));
  }
  finish();
}

void TlsHandshake::finish() {
  // Hand over: this object leaves the reactor, the protocol session takes the socket.
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  Poco::Net::StreamSocket socket = socket_;
  Reactor& reactor = reactor_;
  std::string remote = std::move(remote_);
  std::unique_ptr<Transport> transport = std::move(transport_);
  std::shared_ptr<const Next> next = std::move(next_);
  delete this;
  try {
    (*next)(socket, reactor, remote, std::move(transport));
  } catch (const std::exception& e) {
    log::error("connection " + remote + ": cannot start its session after the TLS handshake: " + e.what());
    try {
      socket.close();
    } catch (...) {
    }
  }
}

void TlsHandshake::checkDeadline(std::int64_t nowMs) {
  if (nowMs < deadlineMs_) return;
  reactor_.metrics().tlsTimedOut.add(1);
  log::debug("closed a connection from " + remote_ + ": its TLS handshake was not done within limits.header_timeout");
  close();
}

void TlsHandshake::close() {
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  transport_.reset();  // no close_notify: nothing was established
  try {
    socket_.close();
  } catch (...) {
  }
  delete this;
}

}  // namespace microserver::core
