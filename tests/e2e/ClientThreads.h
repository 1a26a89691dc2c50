// ClientThreads: the load generators' threads. Each runs body(index) until stop() (or the
// destructor) asks them to finish, then they are joined; the body checks stopping().
//
//   ClientThreads clients;
//   clients.start(4, [&](int i) { while (!clients.stopping()) sendOneRequest(i); });
//   ... clients.stop();
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace e2e {

class ClientThreads {
 public:
  ClientThreads() = default;
  ClientThreads(const ClientThreads&) = delete;
  ClientThreads& operator=(const ClientThreads&) = delete;
  ~ClientThreads() { stop(); }

  void start(int count, const std::function<void(int)>& body) {
    for (int i = 0; i < count; ++i) threads_.emplace_back([body, i] { body(i); });
  }
  bool stopping() const { return stopping_.load(); }
  // Asks every thread to finish and waits for them; again does nothing.
  void stop() {
    stopping_ = true;
    for (std::thread& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace e2e
