// WorkerPool: see WorkerPool.h.
#include "site/WorkerPool.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/Log.h"

namespace microserver::core {

struct WorkerPool::State {
  std::mutex mutex;
  std::condition_variable work;      // a job was queued, or stopping
  std::condition_variable finished;  // a worker thread exited
  std::deque<std::function<void()>> queue;
  std::size_t maxQueued = 0;
  unsigned running = 0;              // worker threads alive
  unsigned busy = 0;                 // jobs running right now
  bool stopping = false;
};

WorkerPool::WorkerPool(unsigned threads, std::size_t maxQueued) : state_(std::make_shared<State>()), threads_(threads) {
  state_->maxQueued = maxQueued;
  state_->running = threads;
  // Detached: each thread holds the shared state itself, so a job stuck forever cannot
  // make the pool's destruction wait or touch freed memory.
  for (unsigned i = 0; i < threads; ++i) std::thread([s = state_] { workerLoop(s); }).detach();
}

WorkerPool::~WorkerPool() { shutdown(std::chrono::milliseconds(0)); }

bool WorkerPool::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->stopping || state_->queue.size() >= state_->maxQueued) return false;
    state_->queue.push_back(std::move(job));
  }
  state_->work.notify_one();
  return true;
}

std::size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->queue.size();
}

bool WorkerPool::shutdown(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->stopping = true;
  state_->work.notify_all();
  // Idle threads leave on their own; what matters is that no job is still running.
  return state_->finished.wait_for(lock, wait, [this] { return state_->busy == 0 && state_->queue.empty(); });
}

void WorkerPool::workerLoop(std::shared_ptr<State> state) {
  std::unique_lock<std::mutex> lock(state->mutex);
  while (true) {
    state->work.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
    if (state->queue.empty()) break;  // stopping, and nothing left to do
    std::function<void()> job = std::move(state->queue.front());
    state->queue.pop_front();
    ++state->busy;
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      log::error(std::string("a worker job failed: ") + e.what());
    }
    job = nullptr;  // release what the job captured before waiting again
    lock.lock();
    --state->busy;
    state->finished.notify_all();
  }
  --state->running;
  state->finished.notify_all();
}

}  // namespace microserver::core
