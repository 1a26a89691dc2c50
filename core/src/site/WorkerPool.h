// WorkerPool: a fixed set of threads for handlers of `blocking: true` routes, so a slow
// plugin (disk, database, sleep) never stalls a reactor and its other connections.
//
// Bounded on both sides: `threads` run jobs, at most `maxQueued` wait; submit() refuses
// beyond that (the connection answers 503) instead of letting a slow plugin pile up
// unbounded memory. A job that never returns keeps its thread; shutdown() waits for the
// others up to a deadline and then leaves the stuck ones behind (they own their state,
// nothing they touch is freed under them).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace microserver::core {

class WorkerPool {
 public:
  WorkerPool(unsigned threads, std::size_t maxQueued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`; false if the queue is full or the pool is shutting down.
  bool submit(std::function<void()> job);
  // Stops taking jobs, lets queued and running ones finish within `wait`, then returns.
  // Returns false if some job was still running at the deadline.
  bool shutdown(std::chrono::milliseconds wait);

  std::size_t queued() const;
  unsigned threads() const { return threads_; }

 private:
  struct State;
  static void workerLoop(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
  unsigned threads_;
};

}  // namespace microserver::core
