// ServerContext: what every reactor and connection of one server shares.
//
// The routing snapshot (Site) is swapped by reloads while reactors read it; each reactor
// keeps its own shared_ptr copy and refreshes it only when `siteGeneration` moves, so a
// request costs one relaxed atomic load, not a lock or a reference-count bump.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "base/AccessLog.h"
#include "http1/ListenerOptions.h"
#include "site/Site.h"
#include "site/WorkerPool.h"

namespace microserver::core {

class ServerContext {
 public:
  ServerContext(std::shared_ptr<const Site> site, AccessLog* accessLog, WorkerPool* workers, WorkerPool* fileThreads)
      : site_(std::move(site)), accessLog_(accessLog), workers_(workers), fileThreads_(fileThreads) {}

  std::shared_ptr<const Site> site() const {
    std::lock_guard<std::mutex> lock(siteMutex_);
    return site_;
  }
  void setSite(std::shared_ptr<const Site> site) {
    {
      std::lock_guard<std::mutex> lock(siteMutex_);
      site_ = std::move(site);
    }
    siteGeneration_.fetch_add(1, std::memory_order_release);
  }
  std::uint64_t siteGeneration() const { return siteGeneration_.load(std::memory_order_acquire); }

  AccessLog* accessLog() const { return accessLog_; }
  // Runs the handlers of `blocking: true` routes.
  WorkerPool& workers() const { return *workers_; }
  // Opens and reads files for static routes, so the disk never stalls a reactor.
  WorkerPool& fileThreads() const { return *fileThreads_; }

  // Open client connections across all reactors (for max_connections and for stopping).
  std::atomic<std::size_t> openConnections{0};
  // Set once on SIGTERM/SIGINT: connections finish what is in flight, then close.
  std::atomic<bool> draining{false};
  // Each HTTP listener's options (server.listen, in order); filled before the first
  // accept, never changed while connections read it.
  std::vector<HttpListenerOptions> httpListeners;

 private:
  mutable std::mutex siteMutex_;
  std::shared_ptr<const Site> site_;
  std::atomic<std::uint64_t> siteGeneration_{1};
  AccessLog* accessLog_;
  WorkerPool* workers_;
  WorkerPool* fileThreads_;
};

}  // namespace microserver::core
