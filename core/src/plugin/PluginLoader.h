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
// What crosses is C only (microserver/microserver.h): the entry point gets the server's
// function table and returns the plugin's description, whose ABI digest must equal the
// server's exactly. Every problem names the file: not a plugin (no entry point), an
// undefined symbol (dlerror), another ABI (both digests and SDK versions shown), two
// files with one plugin name.
//
// Generations: each loaded copy is one LoadedPlugin, held by shared_ptr by everything the
// plugin created (handlers in a snapshot, services, sessions, answers given later,
// timers). When the last reference goes, the copy is unloaded (dlclose) on the unloader
// thread, never on the thread that let go: that thread may be about to return into the
// plugin's code.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "microserver/microserver.h"

namespace microserver::core {

class LoadedPlugin : public std::enable_shared_from_this<LoadedPlugin> {
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

  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const std::string& file() const { return file_; }
  const std::string& name() const { return name_; }
  const ms_plugin& descriptor() const { return *descriptor_; }
  const Identity& identity() const { return identity_; }
  // 1, 2, 3, ... in load order; the copy it was loaded from is named "<generation>-lib<x>.so"
  // (what /proc/<pid>/maps shows, as deleted).
  unsigned long generation() const { return generation_; }
  const std::string& copyName() const { return copyName_; }
  bool hasHandler() const { return descriptor_->handler_handle != nullptr; }
  bool hasService() const { return descriptor_->service_accept != nullptr; }

  // The handle plugins pass back (ms_library), and the way back from it.
  ms_library* library() { return reinterpret_cast<ms_library*>(this); }
  static LoadedPlugin* fromLibrary(ms_library* library) { return reinterpret_cast<LoadedPlugin*>(library); }

  // A line in the error log with the plugin's name in front.
  void log(int level, std::string_view message) const;

  // Copies loaded now, across all loaders (for tests and status).
  static std::size_t loadedCount();

 private:
  friend class PluginLoader;
  friend class LibraryUnloader;
  LoadedPlugin(std::string file, Identity identity, unsigned long generation, std::string copyName, void* handle);
  ~LoadedPlugin();  // on the unloader thread: withdraws its status providers, then dlclose

  std::string file_;
  std::string name_;
  Identity identity_;
  unsigned long generation_;
  std::string copyName_;
  void* handle_;
  const ms_plugin* descriptor_ = nullptr;
  std::string logPrefix_;
};

using PluginSet = std::map<std::string, std::shared_ptr<LoadedPlugin>>;  // by plugin name

struct PluginScan {
  PluginSet plugins;
  std::vector<std::string> errors;    // one line each, starting with the file's path
  std::vector<std::string> warnings;  // e.g. a library that cannot be unloaded
};

class PluginLoader {
 public:
  // Creates the private folder for copies (removed by the destructor).
  PluginLoader();
  ~PluginLoader();
  PluginLoader(const PluginLoader&) = delete;
  PluginLoader& operator=(const PluginLoader&) = delete;

  // Loads every lib*.so in `folder`, reusing unchanged libraries from `previous`.
  // A folder that does not exist is an error only if `required`.
  PluginScan scan(const std::string& folder, const PluginSet& previous, bool required);

  // Loads one library file (the scan's single step; public for tests). `warning` gets a
  // line when the library loads but can never be unloaded.
  std::shared_ptr<LoadedPlugin> load(const std::string& file, std::string& error, std::string* warning = nullptr);

 private:
  std::string copyFolder_;
};

// Checks a description against this server's ABI; returns "" or what is wrong.
std::string checkDescriptor(const ms_plugin& descriptor);

// Waits until every library whose last reference is gone has been unloaded (tests, exit).
void waitForUnloads();

}  // namespace microserver::core
