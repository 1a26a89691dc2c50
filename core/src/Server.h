// Server: the running HTTP server: its listening socket, its reactors and what they share.
//
// Lifecycle (all on the main thread): start() binds and starts serving, or throws with a
// message that says what to do; reload() swaps in a new routing snapshot; stop() stops
// accepting, lets in-flight requests finish within the grace period, then stops the
// reactors. Signals are the App's business, not the Server's.
#pragma once

#include <Poco/Net/ServerSocket.h>

#include <chrono>
#include <memory>
#include <string>

#include "AccessLog.h"
#include "Config.h"
#include "Listener.h"
#include "ServerContext.h"
#include "Site.h"
#include "WorkerPool.h"

namespace microserver::core {

class Server {
 public:
  Server(std::shared_ptr<const Site> site, std::unique_ptr<AccessLog> accessLog);
  ~Server();

  // Binds server.listen and starts the reactors. Throws std::runtime_error on failure.
  void start();
  // "http://127.0.0.1:8080" with the port actually bound (listen on port 0 picks one).
  std::string url() const;
  unsigned reactorCount() const { return reactorCount_; }

  // Serves `site` from now on; requests in flight finish on the old one.
  void reload(std::shared_ptr<const Site> site);
  // Graceful stop: returns once every connection closed or `grace` passed.
  void stop(std::chrono::milliseconds grace);

  ServerContext& context() { return *context_; }

 private:
  std::unique_ptr<AccessLog> accessLog_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<ServerContext> context_;
  Poco::Net::ServerSocket socket_;
  std::unique_ptr<Listener> listener_;
  unsigned reactorCount_ = 0;
  std::string url_;
};

// "auto" (0) -> the number of cores.
unsigned resolveReactorCount(unsigned configured);

}  // namespace microserver::core
