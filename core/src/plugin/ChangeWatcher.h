// ChangeWatcher: notices when routes.yaml or a plugin library changes on disk and asks for
// a reload, so editing the file or dropping a new lib*.so in takes effect without a restart.
//
// It watches folders, not files, with inotify: editors and `cp`/`mv` replace files, and
// a watch on the old file would go quiet. Events are debounced (a build writing a .so
// produces many), then the watcher raises SIGHUP at its own process: every reload,
// whether from a person or from a file, takes the same path through the main thread.
#pragma once

#include <atomic>
#include <chrono>
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
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

 private:
  void run();
  bool relevant(int watch, const char* name) const;

  int inotify_ = -1;
  int stopFd_ = -1;   // an eventfd that ends the thread
  int configWatch_ = -1;
  int pluginWatch_ = -1;
  std::string configName_;
  std::chrono::milliseconds quiet_;
  std::thread thread_;
};

}  // namespace microserver::core
