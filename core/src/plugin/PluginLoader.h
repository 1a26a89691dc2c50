// PluginLoader: finds plugin libraries in a folder and loads them safely.
//
// Each lib*.so is copied to a private folder under a unique name and dlopen()ed from
// there (RTLD_NOW | RTLD_LOCAL): glibc returns the already-loaded library for a path it
// has seen, so loading the original again after it was replaced would silently keep the
// old code. A library whose file is unchanged since the last scan (same device, inode,
// size and mtime) is reused, not reloaded, so reloading routes.yaml keeps plugins'
// library-level state. Not Poco::ClassLoader: it loads RTLD_GLOBAL and its unload
// crashes while objects of the library are alive.
//
// Every problem names the file: not a plugin (no entry point), an undefined symbol
// (dlerror), an ABI or build mismatch (both sides shown), two files with one plugin name.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plugin/PluginLogger.h"
#include "microserver/Plugin.h"

namespace microserver::core {

// One loaded library. dlclose()d when the last snapshot using it is gone.
class LoadedPlugin {
 public:
  struct Identity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    long long mtimeNs = 0;
    bool operator==(const Identity& o) const {
      return device == o.device && inode == o.inode && size == o.size && mtimeNs == o.mtimeNs;
    }
  };

  LoadedPlugin(std::string file, Identity identity, void* handle, const PluginDescriptor* descriptor);
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const std::string& file() const { return file_; }
  const std::string& name() const { return name_; }
  const PluginDescriptor& descriptor() const { return *descriptor_; }
  const Identity& identity() const { return identity_; }
  // The plugin's logger: lives as long as the library, so anything the plugin creates
  // (handlers, services, the objects those hand out) may keep it.
  const PluginLogger& logger() const { return logger_; }

 private:
  std::string file_;
  std::string name_;
  Identity identity_;
  void* handle_;
  const PluginDescriptor* descriptor_;
  PluginLogger logger_;
};

using PluginSet = std::map<std::string, std::shared_ptr<LoadedPlugin>>;  // by plugin name

struct PluginScan {
  PluginSet plugins;
  std::vector<std::string> errors;    // one line each, starting with the file's path
  std::vector<std::string> warnings;  // e.g. a pinned plugin whose file changed
};

class PluginLoader {
 public:
  // Creates the private folder for copies (removed by the destructor).
  PluginLoader();
  ~PluginLoader();
  PluginLoader(const PluginLoader&) = delete;
  PluginLoader& operator=(const PluginLoader&) = delete;

  // Loads every lib*.so in `folder`, reusing unchanged libraries from `previous`.
  // A folder that does not exist is an error only if `required`. `pinned` plugins (those
  // whose TCP service runs) keep their loaded generation even if their file changed, so
  // their HTTP routes and their service go on sharing one copy of the code and its state.
  PluginScan scan(const std::string& folder, const PluginSet& previous, bool required, const PluginSet& pinned = {});

  // Loads one library file (the scan's single step; public for tests).
  std::shared_ptr<LoadedPlugin> load(const std::string& file, std::string& error);

 private:
  std::string copyFolder_;
  unsigned long generation_ = 0;
};

// Checks a descriptor against this server's SDK; returns "" or what differs.
std::string checkDescriptor(const PluginDescriptor& descriptor);

}  // namespace microserver::core
