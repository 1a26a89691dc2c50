// Command: runs a real client program (curl, nghttp, openssl) for an end-to-end test and
// returns its exit status and output, bounded in time.
//
//   e2e::CommandResult r = e2e::runCommand({"curl", "-s", "--compressed", url}, 10s);
//   EXPECT_EQ(r.exitCode, 0) << r.err;
//
// The program gets its own process group (killed whole, SIGKILL, when the time is up, and
// reaped either way), stdin from /dev/null and no descriptor of the test but its pipes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace e2e {

struct CommandResult {
  int exitCode = -1;      // the exit status; 128 + N if killed by signal N; -1 if not run
  bool timedOut = false;  // killed because the time was up
  std::string out, err;   // everything it wrote to stdout and stderr
};

// Runs argv[0] (looked up in PATH) with the arguments; throws std::runtime_error if it
// cannot be started.
CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Starts `path` (looked up in PATH if it has no '/') in a process group of its own, with
// every signal unblocked and at its default, stdin from /dev/null, stdout and stderr on the
// given descriptors (-1: /dev/null) and no other descriptor of ours. `envp` null: our own
// environment. Returns the pid; throws std::runtime_error if it cannot be started.
pid_t spawnInOwnGroup(const std::string& path, const std::vector<std::string>& argv, char* const* envp,
                      int stdoutFd, int stderrFd);

// Whether `program` is found in PATH (to name a missing package in a failure message).
bool haveProgram(const std::string& program);
// Its full path as found in PATH, or "" if it is not there.
std::string findProgram(const std::string& program);

}  // namespace e2e
