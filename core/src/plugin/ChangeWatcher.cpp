// ChangeWatcher: see ChangeWatcher.h.
#include "plugin/ChangeWatcher.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/Log.h"

namespace microserver::core {

namespace {
// A file finished writing, or was moved, created (a symlink, a hard link) or removed.
constexpr std::uint32_t kEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE;

std::string folderOf(const std::string& file) {
  std::size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash);
}

bool isPluginFile(const char* name) {
  std::size_t n = std::strlen(name);
  return n > 6 && std::strncmp(name, "lib", 3) == 0 && std::strcmp(name + n - 3, ".so") == 0;
}
}  // namespace

ChangeWatcher::ChangeWatcher(const std::string& configFile, const std::string& pluginFolder,
                             std::chrono::milliseconds quietPeriod)
    : configName_(configFile.substr(configFile.rfind('/') + 1)), quiet_(quietPeriod) {
  inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stopFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_ < 0 || stopFd_ < 0) {
    log::warning(std::string("cannot watch files for changes: ") + std::strerror(errno) +
                 "; reload with SIGHUP (kill -HUP <pid>) instead");
    return;
  }
  configWatch_ = ::inotify_add_watch(inotify_, folderOf(configFile).c_str(), kEvents);
  pluginWatch_ = ::inotify_add_watch(inotify_, pluginFolder.c_str(), kEvents);
  if (pluginWatch_ == configWatch_) pluginWatch_ = -2;  // same folder: one watch serves both
  thread_ = std::thread([this] { run(); });
}

ChangeWatcher::~ChangeWatcher() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(stopFd_, &one, sizeof one);
    thread_.join();
  }
  if (inotify_ >= 0) ::close(inotify_);
  if (stopFd_ >= 0) ::close(stopFd_);
}

void ChangeWatcher::watchFiles(const std::vector<std::string>& files) {
  if (inotify_ < 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::string& file : files) {
    // (Adding a watch for a folder already watched returns its descriptor again.)
    int watch = ::inotify_add_watch(inotify_, folderOf(file).c_str(), kEvents);
    if (watch >= 0) files_[watch].insert(file.substr(file.rfind('/') + 1));
  }
}

bool ChangeWatcher::relevant(int watch, const char* name) const {
  bool config = watch == configWatch_ && configName_ == name;
  bool plugin = (watch == pluginWatch_ || (pluginWatch_ == -2 && watch == configWatch_)) && isPluginFile(name);
  if (config || plugin) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = files_.find(watch);
  return found != files_.end() && found->second.count(name) > 0;
}

void ChangeWatcher::run() {
  alignas(struct inotify_event) char buffer[8192];
  bool pending = false;
  while (true) {
    struct pollfd fds[2] = {{inotify_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
    // Waits forever when nothing is pending; otherwise only for the quiet period.
    int ready = ::poll(fds, 2, pending ? static_cast<int>(quiet_.count()) : -1);
    if (ready < 0 && errno == EINTR) continue;
    if (fds[1].revents) return;
    if (ready == 0) {
      // Quiet since the last change: now reload, once for the whole burst.
      pending = false;
      log::info("a configuration, plugin or certificate file changed: reloading");
      ::kill(::getpid(), SIGHUP);
      continue;
    }
    ssize_t n = ::read(inotify_, buffer, sizeof buffer);
    for (ssize_t off = 0; off < n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + off);
      if (event->len > 0 && relevant(event->wd, event->name)) pending = true;
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
    }
  }
}

}  // namespace microserver::core
