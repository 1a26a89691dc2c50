// Server: the running server: its listening sockets (HTTP and each TCP service), its
// reactors, its worker pool, and what they share.
//
// Lifecycle (all on the main thread): start() binds and starts serving, or throws with a
// message that says what to do; reload() swaps in a new routing snapshot; stop() stops
// accepting, lets in-flight requests finish within the grace period, then stops the
// reactors. Services (routes.yaml `services:`) start with the server and keep running
// across reloads. Signals are the App's business, not the Server's.
#pragma once

#include <Poco/Net/ServerSocket.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/AccessLog.h"
#include "base/Config.h"
#include "net/Listener.h"
#include "plugin/PluginLogger.h"
#include "net/ReactorPool.h"
#include "app/ServerContext.h"
#include "site/Site.h"
#include "site/WorkerPool.h"
#include "microserver/Service.h"

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
  // The plugins whose services run: a reload must keep their loaded generation.
  PluginSet servicePlugins() const;

  // Serves `site` from now on; requests in flight finish on the old one.
  void reload(std::shared_ptr<const Site> site);
  // Graceful stop: returns once every connection closed or `grace` passed.
  void stop(std::chrono::milliseconds grace);

  ServerContext& context() { return *context_; }

 private:
  struct RunningService {
    std::string name;
    std::string where;
    std::shared_ptr<LoadedPlugin> plugin;
    std::shared_ptr<Service> service;
    std::unique_ptr<Listener> listener;
  };
  void startServices();

  std::unique_ptr<AccessLog> accessLog_;
  std::unique_ptr<WorkerPool> workers_;
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
std::vector<std::string> checkServices(const Site& site);

// "auto" (0) -> the number of cores.
unsigned resolveReactorCount(unsigned configured);

}  // namespace microserver::core
