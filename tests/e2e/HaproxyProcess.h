// HaproxyProcess: a real HAProxy (Debian's `haproxy`) for end-to-end tests, in the
// foreground (-db) with a configuration the test writes, on loopback ports the test
// picked; stopped by its PID (SIGTERM, then SIGKILL, reaped) when the object goes.
//
//   if (!e2e::haveProgram("haproxy")) GTEST_SKIP() << ...;
//   e2e::HaproxyProcess haproxy(dir, "defaults\n  mode http\n ...", {frontendPort});
//   ... connect to frontendPort ...
//
// Ready once every port in `ports` accepts a connection (bounded; nothing sleeps a fixed time).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "ServerProcess.h"

namespace e2e {

class HaproxyProcess {
 public:
  // Writes `config` to dir/haproxy.cfg, checks it (haproxy -c) and starts HAProxy; throws
  // with its output if the check fails, it exits, or a port is not open within `timeout`.
  HaproxyProcess(const TempDir& dir, const std::string& config, const std::vector<int>& ports,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HaproxyProcess();
  HaproxyProcess(const HaproxyProcess&) = delete;
  HaproxyProcess& operator=(const HaproxyProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string log() const;  // what it printed

 private:
  void stop();

  std::string logFile_;
  pid_t pid_ = -1;
};

}  // namespace e2e
