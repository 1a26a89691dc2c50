// Server: the running server: its listening sockets (HTTP and each TCP service), its
// reactors, its worker pool, and what they share.
//
// Lifecycle (all on the main thread): start() binds and starts serving, or throws with a
// message that says what to do; reload() swaps in a new routing snapshot; stop() stops
// accepting, lets in-flight requests finish within the grace period, then stops the
// reactors. Services (routes.yaml `services:`) start with the server and keep running
// across reloads, unless a reload brings a new copy of their plugin's library: then a
// new instance of the service takes over its listener, and the old one is stopped and
// its clients closed (as are WebSocket clients of any replaced library), so that the old
// copy can be unloaded. Signals are the App's business, not the Server's.
#pragma once

#include <Poco/Net/ServerSocket.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/AccessLog.h"
#include "base/Config.h"
#include "net/Listener.h"
#include "net/ReactorPool.h"
#include "app/InheritedSockets.h"
#include "app/ServerContext.h"
#include "plugin/PluginService.h"
#include "site/Site.h"
#include "site/WorkerPool.h"
#include "tls/TlsContext.h"
#include "tls/TlsHandshake.h"

namespace microserver::core {

class Server {
 public:
  Server(std::shared_ptr<const Site> site, std::unique_ptr<AccessLog> accessLog);
  ~Server();

  // Binds every listener of server.listen and every service's listen (or takes the socket
  // of `inherited` bound to its address), creates the services and starts the reactors.
  // `tls`: the contexts of the TLS listeners (see TlsContexts::load). Throws
  // ConfigLoadError (a service refused its config) or std::runtime_error (a socket could
  // not be bound, or an inherited one matches no listener).
  void start(TlsContexts tls = {}, InheritedSockets inherited = {});
  // "http://127.0.0.1:8080" with the port actually bound (listen on port 0 picks one): the
  // first listener's; urls() has every listener's ("https://..." for TLS ones).
  std::string url() const;
  std::vector<std::string> urls() const;
  unsigned reactorCount() const { return reactorCount_; }
  // "chat on 127.0.0.1:9999" per running service.
  std::vector<std::string> serviceDescriptions() const;
  // The listening sockets' descriptors, server.listen's in order then the services', for
  // an upgrade in place to hand over (matched by address in the new process).
  std::vector<int> listeningDescriptors();

  // Serves `site` from now on; requests in flight finish on the old one. Services whose
  // plugin's library was replaced restart on the new copy (see above). TLS listeners take
  // `tls`'s certificates for new handshakes; connections established keep theirs.
  void reload(std::shared_ptr<const Site> site, TlsContexts tls = {});
  // Opens the access log file again (SIGUSR1, after logrotate moved it). Throws
  // std::runtime_error naming the file if it cannot.
  void reopenLogs() {
    if (accessLog_) accessLog_->reopen();
  }
  // The first step of a stop, before stop() when server.limits.shutdown_delay is set: from
  // now on /readyz answers 503 and every response closes its connection, while every
  // listener still accepts and serves. A balancer's health check takes the instance out
  // meanwhile, so that nothing reaches it once stop() closes the listeners.
  void stopBeingReady() { context_->draining = true; }
  // Graceful stop: returns once every connection closed or `grace` passed.
  void stop(std::chrono::milliseconds grace);

  ServerContext& context() { return *context_; }

 private:
  // The instance of a service that takes its new clients; read by the accepting reactors.
  class ServiceSlot {
   public:
    std::shared_ptr<PluginService> get() const {
      std::lock_guard<std::mutex> lock(mutex_);
      return current_;
    }
    std::shared_ptr<PluginService> exchange(std::shared_ptr<PluginService> next) {
      std::lock_guard<std::mutex> lock(mutex_);
      std::swap(current_, next);
      return next;
    }

   private:
    mutable std::mutex mutex_;
    std::shared_ptr<PluginService> current_;
  };
  // A TLS listener's certificates for its next handshakes; read by the accepting reactor.
  class TlsSlot {
   public:
    explicit TlsSlot(std::shared_ptr<const TlsContext> context) : current_(std::move(context)) {}
    std::shared_ptr<const TlsContext> get() const {
      std::lock_guard<std::mutex> lock(mutex_);
      return current_;
    }
    void set(std::shared_ptr<const TlsContext> next) {
      std::lock_guard<std::mutex> lock(mutex_);
      current_.swap(next);
    }

   private:
    mutable std::mutex mutex_;
    std::shared_ptr<const TlsContext> current_;
  };
  struct RunningListener {
    Poco::Net::ServerSocket socket;
    std::shared_ptr<TlsSlot> tls;  // null: plain
    std::unique_ptr<Listener> listener;
    std::string url;
  };
  struct RunningService {
    std::string name;
    std::size_t index;  // in config.services
    std::string where;
    std::shared_ptr<ServiceSlot> slot;
    std::shared_ptr<TlsSlot> tls;  // null: plain TCP
    std::unique_ptr<Listener> listener;
  };
  // The starter of a listener's connections: plain, or a TLS handshake first; on a
  // proxy_protocol listener, the PROXY header before either.
  // The listening socket for `listen`: the inherited one with its address, else bound here.
  Poco::Net::ServerSocket openListener(const ListenConfig& listen, const std::string& file);
  static Listener::Starter starter(const ListenConfig& listen, std::shared_ptr<TlsSlot> tls, TlsHandshake::Next next);
  void startServices(const TlsContexts& tls);
  // Restarts services whose plugin library changed in `site`.
  void replaceServices(const Site& site);
  // Closes what clients of `plugin` (an old copy) still have open, on every reactor.
  void retire(const std::shared_ptr<LoadedPlugin>& plugin);

  std::unique_ptr<AccessLog> accessLog_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<WorkerPool> fileThreads_;  // static files' disk work (server.file_threads)
  std::unique_ptr<ServerContext> context_;
  std::unique_ptr<ReactorPool> reactors_;
  std::vector<RunningListener> listeners_;  // server.listen, in order
  std::vector<RunningService> services_;
  InheritedSockets inherited_;  // socket activation: those not taken yet (only during start)
  bool activated_ = false;      // started with inherited sockets
  unsigned reactorCount_ = 0;
};

// Creates (and destroys) every service of the snapshot's configuration without starting
// it, so each plugin checks its `config:`: what --check does. Returns the errors.
// (createService is the step both share.)
std::shared_ptr<PluginService> createService(const Config& config, std::size_t index, const PluginSet& plugins,
                                             std::vector<std::string>& errors);
std::vector<std::string> checkServices(const Site& site);

// "auto" (0) -> the number of cores.
unsigned resolveReactorCount(unsigned configured);

}  // namespace microserver::core
