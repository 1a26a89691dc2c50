// RedisClient: one pipelined connection to Redis, served by one thread of its own, that
// any number of requests share. Reactor threads hand it commands (submit(): a lock, a
// queue push, at most one eventfd write) and never wait; its thread writes them all,
// reads the replies and hands each to its command's callback, in order (Redis answers a
// connection's commands in the order it received them, so the n-th reply is the n-th
// command's: no ids, no per-request thread, no per-request socket).
//
// The thread: a non-blocking socket and an eventfd in one poll(). The eventfd says "new
// commands" or "stop", so a stop is immediate whatever the connection is doing (connect,
// write, read, backoff). Name resolution (getaddrinfo) is the only step that can block
// without looking at it: use an IP address, or a host name the resolver answers at once.
// (Not Poco::Redis::Client: its reads block with a timeout, so one thread could not both
// write and read, nor be stopped at once; RESP is small enough to speak directly, Resp.h.)
//
// Faults:
//   - Not connected (before the first connection, during an outage): submit() refuses at
//     once (Down), so a request is answered 503 in microseconds, never at its timeout.
//   - The connection fails (closed, reset, a protocol error, or no byte from Redis for
//     replyTimeout while commands wait: a hung Redis): every command queued or in flight
//     gets its callback with no reply and the reason; none is retried (a write may have
//     been applied: the client is told 503 and decides). Idle, the connection sends a
//     PING every pingInterval, so a Redis gone silent is noticed (and /readyz says so)
//     within about 7 s even without requests.
//   - It reconnects by itself with backoff: 100 ms doubling to 5 s, +-20 % jitter, back to
//     100 ms after a connection that worked. Each connection starts with AUTH (when the URL
//     has a password), SELECT (a database other than 0) and PING; it counts as connected,
//     and takes commands, once they all succeed.
//   - The log says it once per change, never per request or attempt: unreachable at start,
//     connected, lost (with why), reconnected (after how long).
//   - Too much waiting (maxPending commands, or maxUnsentBytes not yet written): Busy.
//
// Lifetime: the thread starts in the constructor and is joined by the destructor, which
// first fails whatever still waits ("stopping"); after it returns nothing of this object
// runs any more (what the plugin's unloading needs).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <microserver/Logger.h>

#include "RedisUrl.h"
#include "Resp.h"

namespace kv {

class RedisClient {
 public:
  struct Options {
    RedisAddress address;
    std::string name;  // what log lines start with, e.g. "store default"
    std::chrono::milliseconds connectTimeout{1000};
    std::chrono::milliseconds replyTimeout{2000};  // silence while commands wait: hung
    std::chrono::milliseconds pingInterval{5000};  // idle this long: a PING
    std::chrono::milliseconds backoffMin{100}, backoffMax{5000};
    std::size_t maxPending = 100000;                // commands queued or in flight
    std::size_t maxUnsentBytes = 64 * 1024 * 1024;  // command bytes not yet written
  };

  // The command's reply (an error reply too: Redis refused it); or no reply (nullptr) and
  // why, in words fit for the client's answer ("the connection to Redis was lost", "the
  // store is stopping"; the log has the details). Runs on the client's thread, in the
  // order of submission: must not block.
  using Callback = std::function<void(const RespValue* reply, const std::string& error)>;
  enum class Submit { Queued, Down, Busy };

  struct Status {
    bool connected = false;
    bool everConnected = false;
    std::string lastError;                          // why the last attempt or connection failed
    std::chrono::steady_clock::duration inState{};  // since the last change
  };

  RedisClient(Options options, const microserver::Logger& logger);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Queues one RESP-encoded command (appendCommand). Queued: `callback` will run exactly
  // once, on the client's thread. Down or Busy: it will never run; answer at once.
  Submit submit(std::string command, Callback callback);
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  // Waits until the first connection attempt has an outcome, at most `timeout`.
  bool waitFirstAttempt(std::chrono::milliseconds timeout) const;
  Status status() const;
  const Options& options() const { return options_; }

 private:
  struct Queued {
    std::string command;
    Callback callback;
  };
  struct InFlight {
    Callback callback;
    bool counted = true;  // a request's (false: the connection's own AUTH/SELECT/PING)
  };

  void run();
  // A connected non-blocking socket, or -1 with `why`.
  int connectOnce(std::string& why);
  // Serves a connected socket until it fails or the client stops; returns why it ended.
  std::string serve(int fd);
  bool waitWake(int fd, short events, std::chrono::steady_clock::time_point deadline, std::string& why);
  void drainWake();
  bool stopping() const;
  void markUp();
  // The connection (or the attempt) failed: everything waiting fails with `why`.
  void markDown(const std::string& why, bool stoppingNow);
  void failAll(const std::string& why);
  std::chrono::milliseconds nextBackoff(std::chrono::milliseconds& current);

  const Options options_;
  const microserver::Logger& logger_;
  int wakeFd_ = -1;

  mutable std::mutex mutex_;
  mutable std::condition_variable firstAttempt_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  bool everConnected_ = false, downLogged_ = false, firstAttemptDone_ = false;
  std::string lastError_;
  std::chrono::steady_clock::time_point since_;
  std::atomic<bool> connected_{false};
  std::atomic<std::size_t> pending_{0};  // requests' commands queued or in flight
  std::atomic<std::size_t> unsent_{0};   // bytes queued or in out_, not yet written

  // The thread's alone.
  std::deque<InFlight> inFlight_;
  std::string out_;
  std::size_t outOffset_ = 0;
  RespParser parser_;
  std::string handshakeError_;
  std::minstd_rand random_;

  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace kv
