// Metrics: what the server counts for GET /metrics (Prometheus text format), and the
// registry of plugins' status providers (ms_status: metrics, readiness, console lines).
//
// Counting is on the hot path, so each reactor counts into its own ReactorMetrics: one
// writer per counter, plain loads and stores (relaxed atomics, no locked instructions),
// nothing shared between threads until a scrape sums them up. A scrape is rare; it takes
// the locks.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "microserver/microserver.h"

namespace microserver::core {

// A counter with one writer thread and any number of readers.
class RelaxedCounter {
 public:
  void add(std::uint64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Request durations, in seconds (Prometheus histogram buckets).
constexpr std::array<double, 12> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

// One reactor's counts. Written by its reactor thread only.
class ReactorMetrics {
 public:
  void countRequest(std::uint32_t routeId, int status, std::uint64_t nanos);
  RelaxedCounter bytesIn, bytesOut;
  // TLS handshakes on this reactor: completed (of which resumed), failed, timed out.
  RelaxedCounter tlsHandshakes, tlsResumed, tlsFailed, tlsTimedOut;
  // HTTP/2 connections opened and requests answered on them (the rest were HTTP/1.x).
  RelaxedCounter http2Connections, http2Requests;

 private:
  friend class Metrics;
  std::array<RelaxedCounter, kLatencyBuckets.size() + 1> latency_;  // the last is +Inf
  RelaxedCounter latencyCount_, latencyNanos_;
  // (route id << 16 | status) -> count. The writer looks up without the lock (only it
  // ever inserts) and inserts under it; a scrape iterates under it.
  mutable std::mutex insertMutex_;
  std::unordered_map<std::uint64_t, std::unique_ptr<RelaxedCounter>> requests_;
};

class Metrics {
 public:
  // The process's one registry.
  static Metrics& instance();

  // Route labels get stable small ids (the same pattern keeps its id across reloads).
  std::uint32_t routeId(const std::string& label);
  static constexpr std::uint32_t kNoRoute = 0;  // 404, 405 and refused requests
  static constexpr std::uint32_t kBuiltin = 1;  // /healthz, /readyz, /metrics

  void attach(ReactorMetrics* reactor);
  void detach(ReactorMetrics* reactor);

  void countReload(bool ok);
  void countPluginError(const std::string& plugin);

  // A plugin's status provider; `owner` is its loaded library, which withdraws all of its
  // providers before it unloads. Any thread.
  ms_status* addProvider(const void* owner, const ms_status_callbacks* callbacks, void* user);
  // Waits for calls in flight, then releases the provider's user. Any thread but one
  // inside a call of that provider.
  void removeProvider(ms_status* provider);
  void withdrawProviders(const void* owner);

  // The whole text of GET /metrics.
  std::string render(std::uint64_t openConnections) const;
  // Every plugin provider's readiness; false with the first reason.
  bool pluginsReady(std::string& reason) const;
  std::vector<std::string> statusLines() const;

 private:
  struct Provider {
    const void* owner;
    const ms_status_callbacks* callbacks;
    void* user;
    int calls = 0;         // in flight, guarded by providerMutex_
    bool removed = false;  // no new calls
  };
  // Calls `f(provider)` for every live provider, outside the lock.
  template <typename F>
  void forEachProvider(F f) const;
  void remove(const std::shared_ptr<Provider>& provider);

  mutable std::mutex mutex_;
  std::vector<ReactorMetrics*> reactors_;
  std::vector<std::string> routeLabels_{"(none)", "(builtin)"};
  std::map<std::string, std::uint32_t> routeIds_{{"(none)", kNoRoute}, {"(builtin)", kBuiltin}};
  mutable std::mutex providerMutex_;
  mutable std::condition_variable providerIdle_;
  std::vector<std::shared_ptr<Provider>> providers_;
  std::map<std::string, std::uint64_t> pluginErrors_;
  std::atomic<std::uint64_t> reloadsOk_{0}, reloadsFailed_{0};
};

}  // namespace microserver::core
