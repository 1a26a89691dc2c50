// Upgrade: replacing the running binary without refusing a connection (SIGUSR2).
//
// The old process starts the program again (the path it was started as, resolved at
// start, so a new binary installed there is the one that runs; /proc/self/exe would name
// the replaced file) with the same arguments, in the folder it was started from. It hands
// over every listening socket, HTTP listeners and TCP services, as descriptors 3, 4, ...
// (MICROSERVER_UPGRADE_FDS, read by InheritedSockets, which matches them to listeners by
// address as it does systemd's), and the write end of a pipe at the next descriptor
// (MICROSERVER_UPGRADE_READY_FD). The new process writes on that pipe once every listener
// accepts, where it would tell systemd READY=1. Until then the old one serves as before;
// then it stops accepting, drains (Server::stop: requests in flight are answered, chat
// members are told) and exits. While both accept, the kernel gives each connection to one
// of them; once the old one stops, its queue is the new one's: nothing is refused.
//
// If the new process exits, closes the pipe without writing, or is not ready within
// kReadyTimeout, the old one stops and reaps it, says why, and keeps serving.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace microserver::core {

// How this process was started, to start it again.
struct LaunchCommand {
  std::string program;            // an absolute path
  std::vector<std::string> argv;  // argv[0] as given, then the arguments
  std::string folder;             // the working folder at start
};

// `argv` as main() got it (argv[0] first). A program named without a slash is looked up
// in PATH, as the shell did; /proc/self/exe is the last resort.
LaunchCommand rememberLaunch(const std::vector<std::string>& argv);

class Upgrade {
 public:
  static constexpr std::chrono::seconds kReadyTimeout{60};

  // Starts `launch` with `listening` (descriptors, in the order the new process will match
  // them) handed over. Throws std::runtime_error saying why it could not be started.
  Upgrade(const LaunchCommand& launch, const std::vector<int>& listening);
  // If it has not become ready: stops (SIGTERM, then SIGKILL) and reaps the new process.
  ~Upgrade();
  Upgrade(const Upgrade&) = delete;
  Upgrade& operator=(const Upgrade&) = delete;

  pid_t pid() const { return pid_; }
  // Readable when the new process wrote (ready) or closed its end (it failed).
  int readyFd() const { return readyFd_; }
  // For poll(): milliseconds until it must be ready (0 once the time is up).
  int msUntilDeadline() const;

  enum class State { Waiting, Ready, Failed };
  // Call when readyFd() polls readable or the deadline passed. Failed: the new process has
  // been stopped (if needed) and reaped, and `why` says what happened to it.
  State check(std::string& why);

  // In the new process: the ready pipe handed over (taken out of the environment), or -1.
  static int takeReadyPipe();
  // In the new process: tells the old one that every listener accepts. Closes `fd`.
  static void tellReady(int fd);

 private:
  // SIGTERM, a bounded wait, SIGKILL; then reaps. Returns how it ended ("exited with status 2").
  std::string stopAndReap();
  // Reaps if it has exited within `within`; the description, or empty if it still runs.
  std::string reapWithin(std::chrono::milliseconds within);

  pid_t pid_ = -1;
  int readyFd_ = -1;
  bool settled_ = false;  // ready (it is on its own now) or reaped
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace microserver::core
