// ProxyHeaderReader: see ProxyHeaderReader.h.
#include "net/ProxyHeaderReader.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/Log.h"
#include "net/ProxyProtocol.h"

namespace microserver::core {

void ProxyHeaderReader::start(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                              std::shared_ptr<const Next> next) {
  new ProxyHeaderReader(socket, reactor, remote, std::move(next));  // owns itself
}

ProxyHeaderReader::ProxyHeaderReader(Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                                     std::shared_ptr<const Next> next)
    : socket_(socket),
      reactor_(reactor),
      remote_(remote),
      next_(std::move(next)),
      watch_(reactor, socket_.impl()->sockfd(), *this),
      deadlineMs_(Reactor::monotonicMs() + reactor.site().config().server.limits.headerTimeout.count()) {
  reactor_.context().openConnections.fetch_add(1, std::memory_order_relaxed);
  reactor_.attach(this);
  // Last: from here on the reactor may call us. The balancer speaks first.
  watch_.want(true, false);
}

ProxyHeaderReader::~ProxyHeaderReader() = default;

void ProxyHeaderReader::onReadable() {
  const int fd = socket_.impl()->sockfd();
  char buffer[kMaxProxyHeaderBytes];
  // Peek: the bytes after the header belong to the next stage and must stay on the socket.
  const std::size_t room = kMaxProxyHeaderBytes - received_.size();
  const ssize_t peeked = ::recv(fd, buffer, room, MSG_PEEK);
  if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (peeked <= 0) {
    log::debug("closed a connection from " + remote_ + ": " +
               (peeked == 0 ? std::string("it ended") : std::string(std::strerror(errno))) +
               " before its PROXY protocol header was complete");
    return close();
  }
  const std::size_t before = received_.size();
  received_.append(buffer, static_cast<std::size_t>(peeked));
  ProxyHeader header = parseProxyHeader(received_);
  if (header.status == ProxyHeader::Status::Invalid ||
      (header.status == ProxyHeader::Status::NeedMore && received_.size() >= kMaxProxyHeaderBytes)) {
    log::debug("closed a connection from " + remote_ + " on a proxy_protocol listener: " +
               (header.why.empty() ? std::string("its PROXY header is too long") : header.why));
    return close();
  }
  // Consume what belongs to the header: all of the peeked bytes while it is incomplete
  // (so the socket is not readable again for the same bytes), else up to its end.
  const std::size_t take =
      header.status == ProxyHeader::Status::Done ? header.length - before : static_cast<std::size_t>(peeked);
  received_.resize(before + take);
  const ssize_t consumed = ::recv(fd, buffer, take, 0);
  if (consumed != static_cast<ssize_t>(take)) {
    log::debug("closed a connection from " + remote_ + ": reading its PROXY header failed");
    return close();
  }
  if (header.status == ProxyHeader::Status::Done) finish(header.source.empty() ? remote_ : header.source);
}

void ProxyHeaderReader::finish(std::string client) {
  if (log::enabled(log::Level::Debug) && client != remote_)
    log::debug("PROXY protocol: connection from " + remote_ + " is for client " + client);
  // Hand over: this object leaves the reactor, the next stage takes the socket.
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  Poco::Net::StreamSocket socket = socket_;
  Reactor& reactor = reactor_;
  std::shared_ptr<const Next> next = std::move(next_);
  delete this;
  try {
    (*next)(socket, reactor, client);
  } catch (const std::exception& e) {
    log::error("connection " + client + ": cannot start its session after the PROXY header: " + e.what());
    try {
      socket.close();
    } catch (...) {
    }
  }
}

void ProxyHeaderReader::checkDeadline(std::int64_t nowMs) {
  if (nowMs < deadlineMs_) return;
  log::debug("closed a connection from " + remote_ +
             ": its PROXY protocol header did not arrive within limits.header_timeout");
  close();
}

void ProxyHeaderReader::close() {
  watch_.stop();
  reactor_.detach(this);
  reactor_.context().openConnections.fetch_sub(1, std::memory_order_relaxed);
  try {
    socket_.close();
  } catch (...) {
  }
  delete this;
}

}  // namespace microserver::core
