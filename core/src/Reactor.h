// Reactor: one event-loop thread, Poco's SocketReactor plus what Poco 1.11.0 lacks.
//
//  - Cross-thread work: post() queues a task and wakes the loop through a loopback UDP
//    socket registered like any other (1.11.0's wakeUp() does not interrupt epoll_wait).
//  - Deadlines: connections register here; a sweep at most every kSweepInterval checks
//    each one's monotonic deadline. onTimeout() is overridden *without* calling the base,
//    which would otherwise send a TimeoutNotification to every socket on every quiet pass.
//  - Scratch memory shared by all connections of this thread (read buffer, output
//    buffer, parsed head, response), so an idle connection owns almost nothing.
#pragma once

#include <Poco/Net/DatagramSocket.h>
#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "ChunkedDecoder.h"
#include "HttpParser.h"
#include "Router.h"
#include "ServerContext.h"
#include "microserver/Response.h"

namespace microserver::core {

// Anything a reactor keeps deadlines for: HTTP connections, chat members.
class ReactorClient {
 public:
  virtual ~ReactorClient() = default;
  // Called on the reactor thread at least every sweep interval; may delete `this`.
  virtual void checkDeadline(std::int64_t nowMs) = 0;
  // The server is stopping: finish what is in flight, then close. May delete `this`.
  virtual void beginDrain() = 0;
  // The reactor's loop has ended: release everything now, without I/O. Deletes `this`.
  virtual void abandon() = 0;

 private:
  friend class Reactor;
  ReactorClient* prev_ = nullptr;
  ReactorClient* next_ = nullptr;
};

// Per-thread buffers reused by every connection of a reactor.
struct ReactorScratch {
  std::vector<char> readBuffer = std::vector<char>(64 * 1024);
  std::string output;         // responses of one batch, sent with one send()
  std::string decodedPath;
  RequestHead head;
  Response response;
  RouteScratch route;
};

class Reactor : public Poco::Net::SocketReactor {
 public:
  Reactor();
  ~Reactor() override;

  // Set once by the acceptor, after the loop thread already started (Poco starts it in
  // the constructor), hence atomic; connections only exist after it is set.
  void setContext(ServerContext* context) { context_.store(context, std::memory_order_release); }
  ServerContext& context() const { return *context_.load(std::memory_order_acquire); }

  // Runs `task` on this reactor's thread soon. Safe from any thread.
  void post(std::function<void()> task);
  // Stops the loop now (not after the next poll timeout).
  void stopNow();
  // Blocks until the loop has ended and every client was abandoned.
  void waitUntilStopped();

  // Runs `task` on this reactor's thread once monotonicMs() >= atMs (checked every sweep,
  // so with up to ~100 ms delay). Only from this reactor's thread.
  void runAt(std::int64_t atMs, std::function<void()> task);

  // attach() is safe from any thread (connections are built on the accepting thread);
  // detach() runs on this reactor's thread.
  void attach(ReactorClient* client);
  void detach(ReactorClient* client);
  // The reactor whose loop runs on the calling thread, or nullptr.
  static Reactor* current();
  std::size_t clientCount() const { return clientCount_.load(std::memory_order_relaxed); }
  // Asks every client to drain (runs on the reactor thread; post() it from elsewhere).
  void drainAll();

  // Monotonic milliseconds, refreshed once per poll pass.
  std::int64_t nowMs() const { return nowMs_; }
  static std::int64_t monotonicMs();

  ReactorScratch& scratch() { return scratch_; }

  void run() override;

  // The routing snapshot this thread serves from; refreshed only when a reload swapped it.
  const Site& site() {
    std::uint64_t generation = context().siteGeneration();
    if (generation != siteGeneration_) {
      site_ = context().site();
      siteGeneration_ = generation;
    }
    return *site_;
  }
  // The same snapshot as a reference-counted pointer, for work that outlives the event.
  const std::shared_ptr<const Site>& siteShared() {
    site();
    return site_;
  }

 protected:
  void onTimeout() override;
  void onBusy() override;
  void onIdle() override;
  void onShutdown() override;

 private:
  void onWake(Poco::Net::ReadableNotification* notification);
  void runTasks();
  void maybeSweep();
  void link(ReactorClient* client);
  void flushAccessLog();
  void adoptIncoming();

  std::atomic<ServerContext*> context_{nullptr};
  Poco::Net::DatagramSocket wakeSocket_;
  std::mutex taskMutex_;
  std::vector<std::function<void()>> tasks_;
  std::atomic<bool> wakePending_{false};
  ReactorClient* clients_ = nullptr;
  std::mutex incomingMutex_;
  std::vector<ReactorClient*> incoming_;  // attached from other threads, not linked yet
  std::atomic<bool> hasIncoming_{false};
  std::atomic<std::size_t> clientCount_{0};
  std::int64_t nowMs_ = 0;
  std::int64_t nextSweepMs_ = 0;
  ReactorScratch scratch_;
  std::shared_ptr<const Site> site_;
  std::uint64_t siteGeneration_ = 0;
  std::vector<std::pair<std::int64_t, std::function<void()>>> timers_;
  std::mutex stoppedMutex_;
  std::condition_variable stoppedCondition_;
  bool stopped_ = false;
};

}  // namespace microserver::core
