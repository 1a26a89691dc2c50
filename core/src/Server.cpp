// Server: see Server.h.
#include "Server.h"

#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>

#include <signal.h>

#include <algorithm>
#include <thread>

#include "Log.h"

namespace microserver::core {

namespace {
constexpr int kListenBacklog = 4096;  // the kernel caps it at net.core.somaxconn

std::string hostForUrl(const Poco::Net::SocketAddress& address) {
  std::string host = address.host().toString();
  return address.family() == Poco::Net::SocketAddress::IPv6 ? "[" + host + "]" : host;
}
}  // namespace

unsigned resolveReactorCount(unsigned configured) {
  if (configured > 0) return configured;
  unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? cores : 1;
}

Server::Server(std::shared_ptr<const Site> site, std::unique_ptr<AccessLog> accessLog)
    : accessLog_(std::move(accessLog)),
      workers_(std::make_unique<WorkerPool>(site->config().server.workers, site->config().server.limits.workerQueue)),
      context_(std::make_unique<ServerContext>(std::move(site), accessLog_.get(), workers_.get())) {}

Server::~Server() {
  if (listener_) stop(std::chrono::milliseconds(0));
}

void Server::start() {
  ::signal(SIGPIPE, SIG_IGN);  // sendfile(2) has no MSG_NOSIGNAL: a vanished peer must not kill us
  std::shared_ptr<const Site> site = context_->site();
  const ServerConfig& server = site->config().server;
  std::string where = server.listenHost + ":" + std::to_string(server.listenPort);
  try {
    Poco::Net::SocketAddress address(server.listenHost, server.listenPort);
    // SO_REUSEADDR (restart while old connections linger) but not SO_REUSEPORT, which
    // Poco turns on with the two-argument bind: a second server must fail, not share.
    socket_.bind(address, true, false);
    socket_.listen(kListenBacklog);
  } catch (const Poco::Exception& e) {
    std::string hint = e.code() == EADDRINUSE ? " (another process uses this port: stop it, or pick another with "
                                                "--listen HOST:PORT or server.listen in " + site->config().file + ")"
                     : e.code() == EACCES ? " (ports below 1024 need privileges: use a port above 1024)"
                                          : " (check server.listen in " + site->config().file + ")";
    throw std::runtime_error("cannot listen on " + where + ": " + e.displayText() + hint);
  }
  reactorCount_ = resolveReactorCount(server.reactors);
  listener_ = std::make_unique<Listener>(socket_, reactorCount_, *context_, server.limits.maxConnections);
  url_ = "http://" + hostForUrl(socket_.address()) + ":" + std::to_string(socket_.address().port());
}

std::string Server::url() const { return url_; }

void Server::reload(std::shared_ptr<const Site> site) { context_->setSite(std::move(site)); }

void Server::stop(std::chrono::milliseconds grace) {
  if (!listener_) return;
  listener_->stopAccepting();
  // Closed now, not at the end: a client connecting during the drain is refused at once
  // instead of waiting in the kernel's queue for a server that will never answer.
  socket_.close();
  context_->draining = true;
  for (std::size_t i = 0; i < listener_->reactorCount(); ++i) {
    Reactor& reactor = listener_->reactorAt(i);
    reactor.post([&reactor] { reactor.drainAll(); });
  }
  // Wait for in-flight requests; the count only falls from here on (no accepts).
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (context_->openConnections.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Blocking handlers of those connections have finished by now, or are stuck: give the
  // pool what is left of the grace, then leave stuck workers behind.
  auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (!workers_->shutdown(std::max(left_ms, std::chrono::milliseconds(0))))
    log::warning("a blocking handler is still running after the shutdown grace; exiting without it");
  std::size_t left = context_->openConnections.load();
  if (left > 0)
    log::warning(std::to_string(left) + " connection(s) still busy after the " + std::to_string(grace.count()) +
                 " ms shutdown grace; closing them (server.limits.shutdown_grace sets the grace)");
  for (std::size_t i = 0; i < listener_->reactorCount(); ++i) listener_->reactorAt(i).stopNow();
  // Every loop must have ended (and closed what was left) before the Listener goes.
  for (std::size_t i = 0; i < listener_->reactorCount(); ++i) listener_->reactorAt(i).waitUntilStopped();
  listener_.reset();  // joins the reactor threads
}

}  // namespace microserver::core
