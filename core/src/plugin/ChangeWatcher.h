// ChangeWatcher: notices when routes.yaml, a plugin library or a file the configuration
// names (a TLS certificate or key) changes on disk and asks for a reload, so editing the
// file, dropping a new lib*.so in or renewing a certificate takes effect without a restart.
//
// It watches folders, not files, with inotify: editors and `cp`/`mv` replace files, and
// a watch on the old file would go quiet. Events are debounced (a build writing a .so
// produces many), then the watcher raises SIGHUP at its own process: every reload,
// whether from a person or from a file, takes the same path through the main thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace microserver::core {

class ChangeWatcher {
 public:
  // `configFile` and `pluginFolder` may name things that do not exist (yet); whatever
  // exists is watched. Starts a thread.
  ChangeWatcher(const std::string& configFile, const std::string& pluginFolder,
                std::chrono::milliseconds quietPeriod = std::chrono::milliseconds(300));
  ~ChangeWatcher();
  // Also watches these files (certificates and keys) from now on. Any thread.
  void watchFiles(const std::vector<std::string>& files);
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

 private:
  void run();
  bool relevant(int watch, const char* name) const;

  mutable std::mutex mutex_;
  std::map<int, std::set<std::string>> files_;  // watch (a folder) -> names in it; guarded by mutex_
  int inotify_ = -1;
  int stopFd_ = -1;   // an eventfd that ends the thread
  int configWatch_ = -1;
  int pluginWatch_ = -1;
  std::string configName_;
  std::chrono::milliseconds quiet_;
  std::thread thread_;
};

}  // namespace microserver::core
