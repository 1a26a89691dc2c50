// Upgrade: see Upgrade.h.
#include "app/Upgrade.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "app/InheritedSockets.h"

extern char** environ;

namespace microserver::core {

namespace {

constexpr int kFirstHandedFd = 3;  // as systemd's LISTEN_FDS
constexpr std::chrono::seconds kStopTimeout{5};

std::string currentFolder() {
  std::vector<char> buffer(4096);
  return ::getcwd(buffer.data(), buffer.size()) ? std::string(buffer.data()) : std::string("/");
}

bool isExecutableFile(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string runningExecutable() {
  char buffer[4096];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return {};
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::string describeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  return "ended with wait status " + std::to_string(status);
}

// A descriptor numbered >= `lowest`, close-on-exec: a source that dup2 onto 3, 4, ...
// cannot overwrite before it is copied.
int duplicateAbove(int fd, int lowest) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, lowest);
  if (copy < 0) throw std::runtime_error(std::string("cannot duplicate a listening socket: ") + std::strerror(errno));
  return copy;
}

// posix_spawn's file actions and attributes, released however the spawn ends.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  std::vector<int> toClose;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    for (int fd : toClose) ::close(fd);
  }
};

}  // namespace

LaunchCommand rememberLaunch(const std::vector<std::string>& argv) {
  LaunchCommand launch;
  launch.argv = argv;
  launch.folder = currentFolder();
  const std::string name = argv.empty() ? std::string() : argv.front();
  if (name.find('/') != std::string::npos) {
    launch.program = name.front() == '/' ? name : launch.folder + "/" + name;
  } else if (!name.empty()) {
    const char* path = std::getenv("PATH");
    std::string_view folders = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t start = 0; start <= folders.size() && launch.program.empty();) {
      std::size_t colon = folders.find(':', start);
      std::string folder(folders.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
      std::string candidate = (folder.empty() ? launch.folder : folder) + "/" + name;
      if (isExecutableFile(candidate)) launch.program = candidate.front() == '/' ? candidate : launch.folder + "/" + candidate;
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
  }
  if (launch.program.empty()) launch.program = runningExecutable();
  if (launch.argv.empty()) launch.argv.push_back(launch.program);
  return launch;
}

Upgrade::Upgrade(const LaunchCommand& launch, const std::vector<int>& listening) {
  if (!isExecutableFile(launch.program))
    throw std::runtime_error(launch.program + " is not an executable file (install the new binary there)");
  const int count = static_cast<int>(listening.size());
  const int readyTarget = kFirstHandedFd + count;
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  readyFd_ = pipeFds[0];
  SpawnSetup setup;
  setup.toClose.push_back(pipeFds[1]);
  try {
    // Every source is first copied above the targets, then moved onto 3, 4, ... (dup2
    // clears close-on-exec on the copy); everything above is closed in the new process,
    // so it inherits no connection of ours.
    for (int i = 0; i < count; ++i) {
      int high = duplicateAbove(listening[static_cast<std::size_t>(i)], readyTarget + 1);
      setup.toClose.push_back(high);
      posix_spawn_file_actions_adddup2(&setup.actions, high, kFirstHandedFd + i);
    }
    int readyHigh = duplicateAbove(pipeFds[1], readyTarget + 1);
    setup.toClose.push_back(readyHigh);
    posix_spawn_file_actions_adddup2(&setup.actions, readyHigh, readyTarget);
    posix_spawn_file_actions_addclosefrom_np(&setup.actions, readyTarget + 1);
    posix_spawn_file_actions_addchdir_np(&setup.actions, launch.folder.c_str());
    // The new process starts with no signal blocked and default actions (we block the ones
    // we wait for and ignore SIGPIPE; both would be inherited across exec).
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&setup.attributes, &none);
    posix_spawnattr_setsigdefault(&setup.attributes, &defaults);
    posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> environment;
    for (char** e = environ; e && *e; ++e) {
      std::string_view entry(*e);
      if (entry.rfind("MICROSERVER_UPGRADE_", 0) == 0) continue;  // ours, set below
      environment.emplace_back(entry);
    }
    environment.push_back("MICROSERVER_UPGRADE_FROM=" + std::to_string(::getpid()));
    environment.push_back("MICROSERVER_UPGRADE_FDS=" + std::to_string(count));
    environment.push_back("MICROSERVER_UPGRADE_READY_FD=" + std::to_string(readyTarget));
    std::vector<std::string> arguments = launch.argv;
    std::vector<char*> argv, envp;
    for (std::string& a : arguments) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, launch.program.c_str(), &setup.actions, &setup.attributes, argv.data(), envp.data());
    if (rc != 0) throw std::runtime_error("cannot start " + launch.program + ": " + std::strerror(rc));
  } catch (...) {
    ::close(readyFd_);
    readyFd_ = -1;
    throw;
  }
  ::fcntl(readyFd_, F_SETFL, ::fcntl(readyFd_, F_GETFL) | O_NONBLOCK);
  deadline_ = std::chrono::steady_clock::now() + kReadyTimeout;
}

Upgrade::~Upgrade() {
  if (!settled_ && pid_ > 0) stopAndReap();
  if (readyFd_ >= 0) ::close(readyFd_);
}

int Upgrade::msUntilDeadline() const {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

std::string Upgrade::reapWithin(std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (true) {
    int status = 0;
    pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      settled_ = true;
      return describeStatus(status);
    }
    if (reaped < 0 && errno != EINTR) {  // ECHILD: someone else reaped it
      settled_ = true;
      return "is gone (its exit status was collected elsewhere)";
    }
    if (std::chrono::steady_clock::now() >= until) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string Upgrade::stopAndReap() {
  if (std::string how = reapWithin(std::chrono::milliseconds(0)); !how.empty()) return how;
  ::kill(pid_, SIGTERM);  // still our unreaped child: the pid cannot have been reused
  if (std::string how = reapWithin(kStopTimeout); !how.empty()) return how;
  ::kill(pid_, SIGKILL);
  return reapWithin(kStopTimeout);
}

Upgrade::State Upgrade::check(std::string& why) {
  if (settled_) return State::Failed;
  char byte = 0;
  ssize_t n;
  do {
    n = ::read(readyFd_, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) {
    settled_ = true;  // it serves on its own now: never stopped or reaped by us
    return State::Ready;
  }
  const std::string who = "pid " + std::to_string(pid_);
  if (n == 0) {
    // It closed the pipe without a word: it is exiting (a bad configuration, a crash).
    std::string how = reapWithin(kStopTimeout);
    if (how.empty()) how = "closed its ready pipe without being ready, and was stopped: " + stopAndReap();
    why = who + " " + how;
    return State::Failed;
  }
  if (std::chrono::steady_clock::now() < deadline_) return State::Waiting;
  why = who + " was not ready within " + std::to_string(kReadyTimeout.count()) + " s; stopped it (it " +
        stopAndReap() + ")";
  return State::Failed;
}

int Upgrade::takeReadyPipe() {
  const char* value = std::getenv("MICROSERVER_UPGRADE_READY_FD");
  std::string text = value ? value : "";
  ::unsetenv("MICROSERVER_UPGRADE_READY_FD");
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  // Only from our parent: a variable left in an environment passed on is not for us.
  const char* from = std::getenv("MICROSERVER_UPGRADE_FROM");
  if (from == nullptr || std::to_string(::getppid()) != from) return -1;
  int fd = std::stoi(text);
  struct stat info {};
  if (fd < kFirstHandedFd || ::fstat(fd, &info) != 0 || !S_ISFIFO(info.st_mode)) return -1;
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // plugins' children must not hold it open
  return fd;
}

void Upgrade::tellReady(int fd) {
  if (fd < 0) return;
  const char ready = '1';
  ssize_t n;
  do {
    n = ::write(fd, &ready, 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
}

}  // namespace microserver::core
