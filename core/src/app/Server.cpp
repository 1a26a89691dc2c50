// Server: see Server.h.
#include "app/Server.h"

#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <signal.h>

#include <algorithm>
#include <thread>

#include "base/Log.h"
#include "base/Metrics.h"
#include "http1/ResponseWriter.h"
#include "http2/Http2Session.h"
#include "net/ProxyHeaderReader.h"
#include "ws/ServicePeer.h"

namespace microserver::core {

namespace {
constexpr int kListenBacklog = 4096;  // the kernel caps it at net.core.somaxconn

std::string hostForUrl(const Poco::Net::SocketAddress& address) {
  std::string host = address.host().toString();
  return address.family() == Poco::Net::SocketAddress::IPv6 ? "[" + host + "]" : host;
}

// Binds a listening socket, or throws a message that says what to do.
Poco::Net::ServerSocket bindListener(const std::string& host, std::uint16_t port, const std::string& key,
                                     const std::string& file) {
  std::string where = host + ":" + std::to_string(port);
  try {
    Poco::Net::ServerSocket socket;
    // SO_REUSEADDR (restart while old connections linger) but not SO_REUSEPORT, which
    // Poco turns on with the two-argument bind: a second server must fail, not share.
    socket.bind(Poco::Net::SocketAddress(host, port), true, false);
    socket.listen(kListenBacklog);
    return socket;
  } catch (const Poco::Exception& e) {
    const bool first = key == "server.listen" || key == "server.listen[0]";
    std::string hint = e.code() == EADDRINUSE ? " (another process uses this port: stop it, or pick another in " + key +
                                                    " in " + file + (first ? " or with --listen" : "") + ")"
                       : e.code() == EACCES ? " (ports below 1024 need privileges: use a port above 1024)"
                                            : " (check " + key + " in " + file + ")";
    throw std::runtime_error("cannot listen on " + where + ": " + e.displayText() + hint);
  }
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
      fileThreads_(
          std::make_unique<WorkerPool>(site->config().server.fileThreads, site->config().server.limits.workerQueue)),
      context_(std::make_unique<ServerContext>(std::move(site), accessLog_.get(), workers_.get(), fileThreads_.get())) {}

Server::~Server() {
  if (reactors_) stop(std::chrono::milliseconds(0));
}

Listener::Starter Server::starter(const ListenConfig& listen, std::shared_ptr<TlsSlot> tls, TlsHandshake::Next next) {
  Listener::Starter start;
  if (!tls) {
    start = [next = std::move(next)](Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote) {
      next(socket, reactor, remote, nullptr);
    };
  } else {
    auto shared = std::make_shared<const TlsHandshake::Next>(std::move(next));
    start = [tls = std::move(tls), shared](Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote) {
      TlsHandshake::start(socket, reactor, remote, tls->get(), shared);
    };
  }
  if (!listen.proxyProtocol) return start;
  // The PROXY header comes first, before TLS: the balancer sends it, not the client.
  auto afterHeader = std::make_shared<const ProxyHeaderReader::Next>(std::move(start));
  return [afterHeader](Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote) {
    ProxyHeaderReader::start(socket, reactor, remote, afterHeader);
  };
}

Poco::Net::ServerSocket Server::openListener(const ListenConfig& listen, const std::string& file) {
  std::string how;
  if (std::optional<Poco::Net::ServerSocket> socket = inherited_.take(listen.host, listen.port, how)) {
    log::info(listen.path + " " + listen.address() + ": using the socket " +
              (inherited_.fromUpgrade() ? "the old process handed over, " : "the service manager passed, ") + how);
    return *socket;
  }
  if (activated_) log::info(listen.path + " " + listen.address() + ": no inherited socket has this address; opened it");
  return bindListener(listen.host, listen.port, listen.path, file);
}

void Server::start(TlsContexts tls, InheritedSockets inherited) {
  inherited_ = std::move(inherited);
  activated_ = !inherited_.empty();
  ::signal(SIGPIPE, SIG_IGN);  // sendfile(2) has no MSG_NOSIGNAL: a vanished peer must not kill us
  std::shared_ptr<const Site> site = context_->site();
  const ServerConfig& server = site->config().server;
  for (std::size_t i = 0; i < server.listen.size(); ++i) {
    const ListenConfig& config = server.listen[i];
    RunningListener running;
    running.socket = openListener(config, site->config().file);
    if (config.secure()) {
      std::shared_ptr<const TlsContext> context = i < tls.listeners.size() ? tls.listeners[i] : nullptr;
      if (!context) throw std::runtime_error("the certificates of " + config.path + " were not loaded");
      running.tls = std::make_shared<TlsSlot>(std::move(context));
    }
    HttpListenerOptions options;
    if (config.hsts) options.hsts = "max-age=" + std::to_string(config.hsts->count() / 1000);
    options.redirectPort = config.redirectPort;
    options.redirectUrl = config.redirectUrl;
    context_->httpListeners.push_back(std::move(options));
    running.url = std::string(config.secure() ? "https://" : "http://") + hostForUrl(running.socket.address()) + ":" +
                  std::to_string(running.socket.address().port());
    listeners_.push_back(std::move(running));
  }
  reactorCount_ = resolveReactorCount(server.reactors);
  reactors_ = std::make_unique<ReactorPool>(listeners_.front().socket, reactorCount_, *context_);
  std::string busy;
  writeErrorResponse(503, "too many connections, try again later", false, busy);
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    RunningListener& running = listeners_[i];
    auto index = static_cast<std::uint8_t>(i);  // (at most kMaxListeners: fits)
    // A TLS client beyond max_connections is closed: a plain-text 503 would be garbage to it.
    running.listener = std::make_unique<Listener>(
        running.socket, reactors_->all(), *context_, server.limits.maxConnections, running.tls ? "" : busy,
        starter(server.listen[i], running.tls,
                [index](Poco::Net::StreamSocket& socket, Reactor& reactor, const std::string& remote,
                        std::unique_ptr<Transport> transport) {
                  // The protocol ALPN chose on TLS; HTTP/1.1 otherwise (a plain connection that
                  // begins with the HTTP/2 preface switches itself over: see HttpConnection).
                  if (transport && transport->protocol() == "h2")
                    Http2Session::start(socket, reactor, remote, std::move(transport), index, {});  // owns itself
                  else
                    new HttpConnection(socket, reactor, remote, std::move(transport), index);  // owns itself
                }));
  }
  startServices(tls);
  for (RunningListener& running : listeners_) running.listener->startAccepting();
}

std::shared_ptr<PluginService> createService(const Config& config, std::size_t index, const PluginSet& plugins,
                                             std::vector<std::string>& errors) {
  const ServiceConfig& sc = config.services[index];
  std::string key = "services[" + std::to_string(index) + "]";
  std::string place = config.file + ":" + std::to_string(sc.pluginMark.line) + ":" + std::to_string(sc.pluginMark.column) +
                      ": " + key + ".plugin: ";
  auto found = plugins.find(sc.plugin);
  if (found == plugins.end()) {
    errors.push_back(place + "no plugin '" + sc.plugin + "' in " + config.server.plugins);
    return nullptr;
  }
  if (!found->second->hasService()) {
    errors.push_back(place + "plugin '" + sc.plugin + "' offers no TCP service");
    return nullptr;
  }
  try {
    return std::make_shared<PluginService>(found->second, sc.config, config.file, place);
  } catch (const std::exception& e) {
    errors.push_back(e.what());  // with its place
  }
  return nullptr;
}

std::vector<std::string> checkServices(const Site& site) {
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < site.config().services.size(); ++i)
    createService(site.config(), i, site.plugins(), errors);  // created, checked, destroyed
  return errors;
}

void Server::startServices(const TlsContexts& tls) {
  std::shared_ptr<const Site> site = context_->site();
  const Config& config = site->config();
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < config.services.size(); ++i) {
    const ServiceConfig& sc = config.services[i];
    RunningService running;
    running.name = sc.plugin;
    running.index = i;
    running.slot = std::make_shared<ServiceSlot>();
    std::shared_ptr<PluginService> service = createService(config, i, site->plugins(), errors);
    if (!service) continue;
    running.slot->exchange(std::move(service));
    Poco::Net::ServerSocket socket = openListener(sc.listen, config.file);
    running.where = hostForUrl(socket.address()) + ":" + std::to_string(socket.address().port());
    if (sc.listen.secure()) {
      std::shared_ptr<const TlsContext> context = i < tls.services.size() ? tls.services[i] : nullptr;
      if (!context) throw std::runtime_error("the certificates of " + sc.listen.path + " were not loaded");
      running.tls = std::make_shared<TlsSlot>(std::move(context));
      running.where += " (tls)";
    }
    std::shared_ptr<ServiceSlot> slot = running.slot;
    running.listener = std::make_unique<Listener>(
        socket, reactors_->all(), *context_, config.server.limits.maxConnections, std::string(),
        starter(sc.listen, running.tls,
                [slot](Poco::Net::StreamSocket& s, Reactor& reactor, const std::string& remote,
                       std::unique_ptr<Transport> transport) {
                  ServicePeer::startTcp(s, reactor, std::move(transport), slot->get(), remote);
                }));
    services_.push_back(std::move(running));
  }
  if (!errors.empty()) throw ConfigLoadError(errors);
  if (std::vector<std::string> unused = inherited_.unused(); !unused.empty()) {
    std::string list;
    for (const std::string& u : unused) list += (list.empty() ? "" : ", ") + u;
    // After an upgrade a listener may have left routes.yaml on purpose: its socket closes
    // (with the old process's copy, once that one has finished).
    if (inherited_.fromUpgrade())
      log::warning("upgrade: the old process listened on addresses " + config.file + " no longer has: " + list +
                   "; closed them");
    else
      throw std::runtime_error("the service manager passed sockets that no listener of " + config.file +
                               " has the address of: " + list +
                               " (add that address to server.listen or a service's listen, or remove it from "
                               "the .socket unit)");
  }
  inherited_ = InheritedSockets();  // those left over close here
  for (RunningService& s : services_) {
    if (!s.slot->get()->start())
      throw std::runtime_error("service " + s.name + " on " + s.where + " failed to start (its log line says why)");
    s.listener->startAccepting();
  }
}

void Server::replaceServices(const Site& site) {
  const Config& config = site.config();
  for (RunningService& running : services_) {
    std::shared_ptr<PluginService> current = running.slot->get();
    auto found = site.plugins().find(running.name);
    if (found == site.plugins().end() || found->second == current->plugin()) continue;
    if (running.index >= config.services.size() || config.services[running.index].plugin != running.name) {
      log::warning("the services in " + config.file + " changed: restart the server to apply that; service " +
                   running.name + " keeps its running copy");
      continue;
    }
    std::vector<std::string> errors;
    std::shared_ptr<PluginService> next = createService(config, running.index, site.plugins(), errors);
    if (!next || !next->start()) {
      for (const std::string& e : errors) log::error(e);
      if (next) next->stop();
      log::error("service " + running.name + ": its new library did not start; the old copy keeps serving");
      continue;
    }
    running.slot->exchange(next);
    log::info("service " + running.name + " on " + running.where + " now runs plugin generation " +
              std::to_string(next->plugin()->generation()) + " (" + next->plugin()->file() +
              "); clients of the previous copy are being closed");
    current->stop();
    retire(current->plugin());
  }
}

void Server::retire(const std::shared_ptr<LoadedPlugin>& plugin) {
  for (Reactor* reactor : reactors_->all())
    // `plugin` rides along: its address must not be reused by a new copy meanwhile.
    reactor->post([reactor, plugin] { reactor->retireAll(plugin.get()); });
}

std::string Server::url() const { return listeners_.empty() ? std::string() : listeners_.front().url; }

std::vector<std::string> Server::urls() const {
  std::vector<std::string> out;
  for (const RunningListener& running : listeners_) out.push_back(running.url);
  return out;
}

std::vector<int> Server::listeningDescriptors() {
  std::vector<int> out;
  for (RunningListener& running : listeners_) out.push_back(running.socket.impl()->sockfd());
  for (RunningService& s : services_) out.push_back(s.listener->socket().impl()->sockfd());
  return out;
}

std::vector<std::string> Server::serviceDescriptions() const {
  std::vector<std::string> out;
  for (const RunningService& s : services_) out.push_back(s.name + " on " + s.where);
  return out;
}

void Server::reload(std::shared_ptr<const Site> site, TlsContexts tls) {
  // New handshakes take the new certificates (a listener whose shape changed needs a
  // restart, as the reload warns; its certificates still follow by position).
  for (std::size_t i = 0; i < listeners_.size() && i < tls.listeners.size(); ++i)
    if (listeners_[i].tls && tls.listeners[i]) listeners_[i].tls->set(tls.listeners[i]);
  for (RunningService& running : services_)
    if (running.tls && running.index < tls.services.size() && tls.services[running.index])
      running.tls->set(tls.services[running.index]);
  std::shared_ptr<const Site> previous = context_->site();
  replaceServices(*site);
  context_->setSite(site);
  // WebSocket clients of a library that was replaced close too (HTTP answers in flight
  // finish on their own).
  for (const auto& [name, plugin] : previous->plugins()) {
    auto now = site->plugins().find(name);
    if (now == site->plugins().end() || now->second != plugin) retire(plugin);
  }
}

void Server::stop(std::chrono::milliseconds grace) {
  if (!reactors_) return;
  for (RunningListener& running : listeners_) running.listener->stopAccepting();
  for (RunningService& s : services_) s.listener->stopAccepting();
  // Closed now, not at the end: a client connecting during the drain is refused at once
  // instead of waiting in the kernel's queue for a server that will never answer.
  for (RunningListener& running : listeners_) running.socket.close();
  for (RunningService& s : services_) s.listener->socket().close();
  context_->draining = true;
  // Services first: they may still want to tell their clients (a chat says goodbye).
  for (RunningService& s : services_) s.slot->get()->stop();
  for (Reactor* reactor : reactors_->all()) reactor->post([reactor] { reactor->drainAll(); });
  // Wait for in-flight requests; the count only falls from here on (no accepts).
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (context_->openConnections.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Blocking handlers of those connections have finished by now, or are stuck: give the
  // pool what is left of the grace, then leave stuck workers behind.
  auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (!workers_->shutdown(std::max(left_ms, std::chrono::milliseconds(0))))
    log::warning("a blocking handler is still running after the shutdown grace; exiting without it");
  // A file read stuck on a dead disk is left behind the same way.
  if (!fileThreads_->shutdown(std::chrono::milliseconds(std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
                 .count()))))
    log::warning("a file read is still running after the shutdown grace; exiting without it");
  std::size_t left = context_->openConnections.load();
  if (left > 0)
    log::warning(std::to_string(left) + " connection(s) still busy after the " + std::to_string(grace.count()) +
                 " ms shutdown grace; closing them (server.limits.shutdown_grace sets the grace)");
  for (Reactor* reactor : reactors_->all()) reactor->stopNow();
  // Every loop must have ended (and closed what was left) before listeners and services go.
  for (Reactor* reactor : reactors_->all()) reactor->waitUntilStopped();
  listeners_.clear();
  services_.clear();
  reactors_.reset();  // joins the reactor threads
}

}  // namespace microserver::core
