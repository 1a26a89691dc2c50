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
#include "app/ServerContext.h"
#include "plugin/PluginService.h"
#include "site/Site.h"
#include "site/WorkerPool.h"

namespace microserver::core {

class Server {
 public:
  Server(std::shared_ptr<const Site> site, std::unique_ptr<AccessLog> accessLog);
  ~Server();

  // Binds server.listen and every service's listen, creates the services and starts the
  // reactors. Throws ConfigLoadError (a service refused its config) or std::runtime_error
  // (a socket could not be bound).
  void start();
  // "http://127.0.0.1:8080" with the port actually bound (listen on port 0 picks one).
  std::string url() const;
  unsigned reactorCount() const { return reactorCount_; }
  // "chat on 127.0.0.1:9999" per running service.
  std::vector<std::string> serviceDescriptions() const;

  // Serves `site` from now on; requests in flight finish on the old one. Services whose
  // plugin's library was replaced restart on the new copy (see above).
  void reload(std::shared_ptr<const Site> site);
  // Opens the access log file again (SIGUSR1, after logrotate moved it). Throws
  // std::runtime_error naming the file if it cannot.
  void reopenLogs() {
    if (accessLog_) accessLog_->reopen();
  }
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
  struct RunningService {
    std::string name;
    std::size_t index;  // in config.services
    std::string where;
    std::shared_ptr<ServiceSlot> slot;
    std::unique_ptr<Listener> listener;
  };
  void startServices();
  // Restarts services whose plugin library changed in `site`.
  void replaceServices(const Site& site);
  // Closes what clients of `plugin` (an old copy) still have open, on every reactor.
  void retire(const std::shared_ptr<LoadedPlugin>& plugin);

  std::unique_ptr<AccessLog> accessLog_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<WorkerPool> fileThreads_;  // static files' disk work (server.file_threads)
  std::unique_ptr<ServerContext> context_;
  Poco::Net::ServerSocket socket_;
  std::unique_ptr<ReactorPool> reactors_;
  std::unique_ptr<Listener> listener_;
  std::vector<RunningService> services_;
  unsigned reactorCount_ = 0;
  std::string url_;
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
