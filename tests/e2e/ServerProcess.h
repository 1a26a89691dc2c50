// ServerProcess: starts the real `microserver` binary for an end-to-end test, captures
// everything it prints, and guarantees it is stopped and reaped when the test ends.
//
//   e2e::ServerOptions opts;
//   opts.configText = "routes:\n  - { path: '^/', static: " + wwwDir + " }\n";
//   auto server = e2e::ServerProcess::start(opts);      // throws, with the output, if not ready
//   auto response = e2e::httpGet(server->port(), "/");
//   auto mark = server->lineCount();
//   server->sendSignal(SIGHUP);
//   EXPECT_TRUE(server->waitForLine("reloaded", 5s, mark));
//
// The command line the harness relies on (the binary's contract):
//   microserver --config FILE --listen 127.0.0.1:0 [--www DIR] [--plugins DIR] EXTRA...
// and, once it accepts connections, exactly one line on stdout (flushed: stdout is a pipe)
//   microserver listening on http://HOST:PORT (N reactors)
//
// One reader thread per process forks the child, reads both pipes, and reaps it (learning
// of the exit through a pidfd in the same poll(), so there is no polling interval). Waits
// are bounded and driven by a condition variable the reader feeds; nothing sleeps a fixed
// time. The child gets its own process group (stop() kills the whole group, so nothing it
// spawned survives) and PR_SET_PDEATHSIG=SIGKILL (a crashed or killed test binary takes
// its servers with it). The child's stdin is /dev/null and it inherits no other fds.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

#ifndef MICROSERVER_BINARY
// The build passes the path of the freshly built server; without it start() says so.
#define MICROSERVER_BINARY ""
#endif

namespace e2e {

using namespace std::chrono_literals;

struct ServerOptions {
  std::string binary = MICROSERVER_BINARY;
  // The configuration file. If empty, the harness writes `configText` to routes.yaml in a
  // fresh temporary folder (removed with the process). Relative paths inside a config are
  // resolved by the server against the file's folder, so prefer absolute paths (or the
  // `www` / `plugins` overrides) in `configText`.
  std::string configFile;
  std::string configText;
  std::string listen = "127.0.0.1:0";            // ephemeral port: tests never collide
  std::optional<std::string> www;                // --www DIR
  std::optional<std::string> plugins;            // --plugins DIR
  std::vector<std::string> extraArgs;            // appended last
  // Runs the binary through this command (its full path first, then its arguments), e.g.
  // {"/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:8080"}; empty: directly.
  std::vector<std::string> launcher;
  std::vector<std::pair<std::string, std::string>> env;  // added to (or replacing in) ours
  std::chrono::milliseconds readyTimeout = 10s;  // until the ready line
  std::chrono::milliseconds stopTimeout = 10s;   // SIGTERM grace in stop() before SIGKILL
  int maxOpenFiles = 0;                          // > 0: the child's RLIMIT_NOFILE (soft and hard)
  bool terminalStdin = false;                    // stdin is a pseudo-terminal (see typeOnTerminal)
  // The server may hand over to a new process (SIGUSR2 upgrade) that inherits its output:
  // its exit then does not kill its process group, waitExit() returns at the exit, and the
  // output is read until the new process closes it too (stop it first: ForeignProcess).
  bool handsOver = false;
};

// One line the child printed; `fromStderr` tells the two pipes apart.
struct OutputLine {
  bool fromStderr = false;
  std::string text;  // without the trailing newline (and without a trailing '\r')
};

class ServerProcess {
 public:
  // Starts the binary and waits for its ready line. Throws std::runtime_error with the
  // command line and everything the process printed if it cannot be started, exits first,
  // or is not ready within opts.readyTimeout (it is then killed and reaped before the throw).
  static std::unique_ptr<ServerProcess> start(const ServerOptions& opts);

  // Stops (see stop()), reaps the child, joins the reader thread, removes the temp folder.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }   // as printed in the ready line
  int reactors() const { return reactors_; }
  pid_t pid() const { return pid_; }
  const std::string& configPath() const { return configPath_; }
  const std::string& tempDir() const { return tempDir_; }  // empty if none was made
  const std::string& commandLine() const { return commandLine_; }

  // Sends `sig` to the server process. Returns false if it has already been reaped (the
  // pid is never signalled after that, so a recycled pid is never hit).
  bool sendSignal(int sig);

  // The exit status once the child has exited: its exit code, or 128+signal if a signal
  // killed it. nullopt if it is still running after `timeout`. (Once it returns a value,
  // lines() holds everything the process printed; with handsOver, only what it printed.)
  std::optional<int> waitExit(std::chrono::milliseconds timeout);
  std::optional<int> exitStatus() const;  // without waiting
  bool running() const { return !exitStatus().has_value(); }

  // SIGTERM, up to opts.stopTimeout for it to exit, then SIGKILL to the whole process group
  // (the server and anything it spawned). Returns the exit status. Idempotent.
  int stop();

  // Output, both streams in arrival order, all lines kept.
  std::vector<OutputLine> outputLines() const;
  std::vector<std::string> lines() const;  // texts only
  std::size_t lineCount() const;           // a mark for waitForLine(..., from)
  std::string output() const;              // every line, stderr ones tagged, for messages

  // Blocks until a line at index >= `from` satisfies `match` (stdout or stderr), and returns
  // it. nullopt after `timeout`, or as soon as the child has exited and both pipes are
  // drained (no further line can arrive, so waiting longer would only slow a failing test).
  std::optional<std::string> waitForLine(const std::function<bool(const std::string&)>& match,
                                         std::chrono::milliseconds timeout, std::size_t from = 0);
  std::optional<std::string> waitForLine(std::string_view substring,
                                         std::chrono::milliseconds timeout, std::size_t from = 0);

  // CPU time (user + system) the server has used so far, from /proc/<pid>/stat.
  // Throws if it has already been reaped.
  double cpuTimeSeconds() const;
  // With terminalStdin: types `text` at the server's terminal.
  void typeOnTerminal(const std::string& text);

 private:
  ServerProcess() = default;
  void launch(const ServerOptions& opts);
  void spawn(char* const* argv, char* const* envp, const std::string& binary, int maxOpenFiles, int stdinFd);
  void readerLoop();
  void appendOutput(int stream, const char* data, std::size_t size);  // with mu_ held
  void flushPartial(int stream);                                       // with mu_ held
  bool reapIfExited();  // true once reaped
  std::optional<OutputLine> waitForOutput(const std::function<bool(const OutputLine&)>& match,
                                          std::chrono::milliseconds timeout, std::size_t from);
  static int decodeStatus(int waitStatus);

  pid_t pid_ = -1;
  int port_ = 0;
  int reactors_ = 0;
  std::string host_;
  std::string configPath_;
  std::string tempDir_;
  std::string commandLine_;
  std::chrono::milliseconds stopTimeout_ = 10s;
  bool handsOver_ = false;
  std::atomic<bool> abandonPipes_{false};  // handsOver: stop reading what a successor writes

  // The reader thread owns these fds; the destructor closes whatever is left after join.
  int outFd_ = -1;
  int errFd_ = -1;
  int pidFd_ = -1;  // -1 if the kernel has no pidfd_open: the reader then polls waitpid
  int terminal_ = -1;  // the pseudo-terminal's master side, when terminalStdin
  std::thread reader_;

  mutable std::mutex mu_;
  std::condition_variable cv_;            // any change below
  std::vector<OutputLine> lines_;         // guarded by mu_
  std::string partial_[2];                // unterminated tail per stream; guarded by mu_
  std::optional<int> exitStatus_;         // set when reaped; guarded by mu_
  bool readerDone_ = false;               // reaped and pipes drained; guarded by mu_
};

// A process the test did not start but must stop: the new server that an upgrade in place
// (SIGUSR2) started. Held by a pidfd, so a signal can never hit a recycled pid; stopped
// (SIGTERM, then SIGKILL) when this goes, even when an assertion failed. Its exit status
// belongs to its parent, so only the fact that it exited is known here.
class ForeignProcess {
 public:
  // Throws std::runtime_error if `pid` is not running.
  explicit ForeignProcess(pid_t pid, std::chrono::milliseconds stopTimeout = 10s);
  ~ForeignProcess();
  ForeignProcess(const ForeignProcess&) = delete;
  ForeignProcess& operator=(const ForeignProcess&) = delete;
  pid_t pid() const { return pid_; }
  bool sendSignal(int sig);
  // True once it has exited (within `timeout`).
  bool waitExit(std::chrono::milliseconds timeout);
  // SIGTERM, up to stopTimeout for it to exit, then SIGKILL. True if SIGTERM sufficed.
  bool stop();

 private:
  pid_t pid_;
  int pidFd_;
  std::chrono::milliseconds stopTimeout_;
};

// For servers expected to refuse to start: the exit status (-1 if it started, or died
// without one) and everything it printed.
struct ExitedRun {
  int status;
  std::string output;
};
ExitedRun runToExit(const ServerOptions& options);

// A temporary folder removed (recursively) on destruction, for tests that need files
// (a www root, a config) before the server starts.
class TempDir {
 public:
  TempDir();  // mkdtemp under $TMPDIR (or /tmp); throws on failure
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/relative, creating parent folders; returns the full path.
  std::string write(const std::string& relative, std::string_view content) const;

 private:
  std::string path_;
};

}  // namespace e2e
