// Reactor: one event-loop thread, Poco's SocketReactor plus what Poco 1.11.0 lacks.
//
//  - Connections: their sockets are not registered with Poco one by one (Poco keeps a
//    notifier, an observer clone and two map nodes per socket, ~700 bytes, and takes a
//    mutex and copies an observer list per event). They live in an epoll set of our own
//    (IoHandler, SocketWatch), whose one descriptor is registered with Poco: when it is
//    readable, one epoll_wait() collects the ready connections and each is called
//    directly. Poco still runs the loop: the wake-up socket, listeners, passes, timeouts.
//  - Cross-thread work: post() queues a task and wakes the loop through a loopback UDP
//    socket registered like any other (1.11.0's wakeUp() does not interrupt epoll_wait).
//    Workers reach a reactor through its Mailbox, which is closed when the loop ends, so
//    a late result never touches a reactor that is gone.
//  - Deadlines: clients (connections) register here; a sweep at most every 100 ms checks
//    each one's monotonic deadline. onTimeout() is overridden *without* calling the base,
//    which would otherwise send a TimeoutNotification to every socket on every quiet pass.
//  - Timers (runAt: plugins' ms_timer, the listener's pause): a min-heap checked every
//    pass; the poll waits no longer than until the next one is due, so a timer fires
//    within a millisecond or two of its time, and an idle reactor still sleeps.
//  - The routing snapshot is refreshed only at the start of a poll pass, never in the
//    middle of an event, so code holding a `const Site&` for a batch keeps it valid.
//  - Scratch memory shared by all connections of this thread (read buffer, output
//    buffer, parsed head, response), so an idle connection owns almost nothing.
//
// Everything here runs on the reactor's own thread unless a method says otherwise.
#pragma once

#include <Poco/Net/DatagramSocket.h>
#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>
#include <Poco/Net/StreamSocket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http1/HttpParser.h"
#include "base/Metrics.h"
#include "site/Router.h"
#include "app/ServerContext.h"
#include "net/Mailbox.h"
#include "site/Response.h"

namespace microserver::core {

class Reactor;

// A socket in the reactor's own epoll set (see the header comment): told which epoll
// events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, ...) it got. May delete itself.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void onIo(std::uint32_t events) = 0;
};

// Anything a reactor keeps deadlines for: HTTP connections, chat members.
class ReactorClient {
 public:
  virtual ~ReactorClient() = default;
  // Called at least every sweep interval; may delete `this`.
  virtual void checkDeadline(std::int64_t nowMs) = 0;
  // The server is stopping: finish what is in flight, then close. May delete `this`.
  virtual void beginDrain() = 0;
  // The loop has ended: release everything now, without I/O. Deletes `this`.
  virtual void abandon() = 0;
  // What `owner` stands for (a plugin library that was replaced) is retired: a client that
  // belongs to it closes gracefully. May delete `this`.
  virtual void retire(const void* owner) { (void)owner; }

 private:
  friend class Reactor;
  ReactorClient* prev_ = nullptr;
  ReactorClient* next_ = nullptr;
};

// Per-thread buffers reused by every connection of a reactor.
struct ReactorScratch {
  std::vector<char> readBuffer = std::vector<char>(64 * 1024);
  std::string output;  // responses of one batch, sent with one send()
  std::string decodedPath;
  std::string decodedBody;  // a piece of a chunked body on its way to a handler
  RequestHead head;
  Response response;
  RouteScratch route;
};

class Reactor : public Poco::Net::SocketReactor {
 public:
  Reactor();
  ~Reactor() override;

  // Set once by the acceptor, after the loop thread already started (Poco starts it in
  // the constructor), hence atomic; connections only exist after it is set. Any thread.
  void setContext(ServerContext* context) { context_.store(context, std::memory_order_release); }
  ServerContext& context() const { return *context_.load(std::memory_order_acquire); }

  // Runs `task` on this reactor's thread soon. Any thread.
  void post(std::function<void()> task);
  // Calls target->onReady() on this reactor's thread soon. Any thread. From the reactor's
  // own thread it waits until the event being handled, and every other of this poll pass,
  // is done: a broadcast that marks a member many times in one pass flushes it once.
  void markReady(std::shared_ptr<ReadyTarget> target);
  const std::shared_ptr<ReactorMailbox>& mailbox() const { return mailbox_; }
  // Stops the loop now (not after the next poll timeout). Any thread.
  void stopNow();
  // Blocks until the loop has ended and every client was abandoned. Any thread.
  void waitUntilStopped();

  // Adds, changes or removes `fd` in the reactor's epoll set (`events` 0 removes it; `added`
  // says whether it is in the set now). Reactor thread only.
  void watchFd(int fd, IoHandler* handler, std::uint32_t events, bool added);

  // Runs `task` once monotonicMs() >= atMs (to the millisecond). Reactor thread only.
  void runAt(std::int64_t atMs, std::function<void()> task);
  std::size_t timerCount() const { return timers_.size(); }
  // A running reactor's mailbox, round-robin (for work started off the reactors, such as a
  // plugin's timer set from its own thread); nullptr when none runs. Any thread.
  static std::shared_ptr<ReactorMailbox> anyMailbox();

  void attach(ReactorClient* client);
  void detach(ReactorClient* client);
  // The reactor whose loop runs on the calling thread, or nullptr. Any thread.
  static Reactor* current();
  std::size_t clientCount() const { return clientCount_.load(std::memory_order_relaxed); }
  // Asks every client to drain.
  void drainAll();
  // Tells every client that `owner` is retired (see ReactorClient::retire).
  void retireAll(const void* owner);

  // True when this poll pass began by flushing output that the previous pass marked
  // ready (runLocalReady). The events Poco dispatches in such a pass were polled before
  // that flush, so a client answering what was just flushed is not among them: a peer
  // that defers reading in such a pass (the socket is level-triggered: the next poll,
  // at once, reports it again) is read together with those answers, and their output
  // leaves in one write per member. Without it, senders split into two groups that
  // alternate passes, and every member gets twice as many writes (measured: 5 lines per
  // write for 10 chat senders, where Redis' read-all-then-write-all loop gets 10).
  // A peer defers at most one pass in a row (ServicePeer::deferRead), so output made
  // every pass (an HTTP client posting chat lines nonstop) cannot starve its reading.
  bool flushedThisPass() const { return flushedThisPass_; }
  // The number of this poll pass (counts up).
  std::uint64_t pass() const { return pass_; }

  // Monotonic milliseconds, refreshed once per poll pass.
  std::int64_t nowMs() const { return nowMs_; }
  static std::int64_t monotonicMs();
  static std::uint64_t monotonicNs();  // for request durations

  ReactorScratch& scratch() { return scratch_; }
  ReactorMetrics& metrics() { return metrics_; }

  // The routing snapshot this thread serves from (see the header comment).
  const Site& site() {
    if (!site_) refreshSite();
    return *site_;
  }
  // The same snapshot as a reference-counted pointer, for work that outlives the event.
  const std::shared_ptr<const Site>& siteShared() {
    if (!site_) refreshSite();
    return site_;
  }

  void run() override;

 protected:
  void onTimeout() override;
  void onBusy() override;
  void onIdle() override;
  void onShutdown() override;

 private:
  void onWake(Poco::Net::ReadableNotification* notification);
  // The epoll set of the connections is readable: call the ready ones.
  void onConnectionsReady(Poco::Net::ReadableNotification* notification);
  void runTasks();
  void wake();
  void startPass();
  void runLocalReady();
  void refreshSite();
  void flushAccessLog();
  void runTimers() {
    if (!timers_.empty() && timers_.front().atMs <= nowMs_) runDueTimers();
  }
  void runDueTimers();
  // The poll's timeout: 0 with local work waiting, else until the next timer, at most
  // kPollTimeout.
  void updatePollTimeout();

  std::atomic<ServerContext*> context_{nullptr};
  Poco::Net::DatagramSocket wakeSocket_;
  Poco::Net::StreamSocket connections_;  // wraps the epoll descriptor of the connections (closes it)
  std::shared_ptr<ReactorMailbox> mailbox_;
  std::mutex taskMutex_;
  std::vector<std::function<void()>> tasks_;
  std::vector<std::shared_ptr<ReadyTarget>> ready_;  // guarded by taskMutex_
  std::vector<std::shared_ptr<ReadyTarget>> localReady_;  // marked from this thread, run at the next pass
  std::atomic<bool> wakePending_{false};
  bool flushedThisPass_ = false;
  std::uint64_t pass_ = 0;
  ReactorClient* clients_ = nullptr;
  std::atomic<std::size_t> clientCount_{0};
  std::int64_t nowMs_ = 0;
  std::int64_t nextSweepMs_ = 0;
  ReactorScratch scratch_;
  ReactorMetrics metrics_;
  std::shared_ptr<const Site> site_;
  std::uint64_t siteGeneration_ = 0;
  struct TimerEntry {
    std::int64_t atMs;
    std::uint64_t sequence;  // equal times fire in the order they were set
    std::function<void()> task;
  };
  struct LaterFirst {
    bool operator()(const TimerEntry& a, const TimerEntry& b) const {
      return a.atMs != b.atMs ? a.atMs > b.atMs : a.sequence > b.sequence;
    }
  };
  std::vector<TimerEntry> timers_;  // a min-heap by LaterFirst
  std::uint64_t timerSequence_ = 0;
  std::int64_t pollTimeoutMs_ = -1;  // what setTimeout() was last given
  std::mutex stoppedMutex_;
  std::condition_variable stoppedCondition_;
  bool stopped_ = false;
};

}  // namespace microserver::core
