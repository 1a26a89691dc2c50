// RedisProcess: a real `redis-server` for end-to-end tests, on a free loopback port, with
// nothing saved to disk (--save '' --appendonly no), stopped by its PID when the object
// goes (and on every other exit path: it is in its own process group and dies with the
// test binary, PR_SET_PDEATHSIG).
//
//   if (!e2e::RedisProcess::available()) GTEST_SKIP() << e2e::RedisProcess::missingReason();
//   e2e::RedisProcess redis;               // started, answering PING (or throws, with its log)
//   ... "redis://127.0.0.1:" + std::to_string(redis.port()) ...
//   redis.kill();                          // SIGKILL, reaped
//   redis.start();                         // again, on the same port
//
// Every wait is bounded; nothing sleeps a fixed time (readiness is PING polled).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

namespace e2e {

class RedisProcess {
 public:
  // True if a redis-server binary is on PATH (or in /usr/bin, /usr/sbin, /usr/local/bin).
  static bool available();
  static std::string missingReason();

  // Starts on a free port (picked by binding 127.0.0.1:0), or on `port` if it is not 0.
  // `start` false: only picks the port (for a test that starts Redis later).
  explicit RedisProcess(int port = 0, bool start = true);
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Starts it on port() and waits (at most `timeout`) until it answers PING; throws with
  // its log otherwise (it is then killed).
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGKILL and reap (an abrupt crash, as a test wants it). No-op when not running.
  void kill();
  // SIGTERM, up to `grace` to exit, then SIGKILL; reaped either way.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // One command, its reply's first line (e.g. ":1", "+OK", "-ERR ..."; for a bulk string
  // "$<payload>"). Throws if Redis does not answer within 5 s.
  std::string command(const std::vector<std::string>& args) const;

  // What it printed (its --logfile).
  std::string log() const;

 private:
  bool waitExit(std::chrono::milliseconds timeout);  // true once reaped

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A loopback port that was free a moment ago.
int freeLoopbackPort();

}  // namespace e2e
