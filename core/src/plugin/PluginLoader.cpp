// PluginLoader: see PluginLoader.h.
#include "plugin/PluginLoader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "base/Log.h"
#include "base/Metrics.h"
#include "plugin/ElfSymbols.h"
#include "plugin/HostApi.h"

namespace microserver::core {

namespace {

std::atomic<std::size_t> gLoaded{0};
std::atomic<unsigned long> gGeneration{0};

bool identify(const std::string& file, LoadedPlugin::Identity& id, std::string& error) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    error = file + ": cannot read: " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = file + ": not a regular file";
    return false;
  }
  id = {st.st_dev, st.st_ino, st.st_size, static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 +
                                              st.st_mtim.tv_nsec};
  return true;
}

bool copyFile(const std::string& from, const std::string& to, std::string& error) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    error = from + ": cannot read: " + std::strerror(errno);
    return false;
  }
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
  if (out < 0) {
    error = from + ": cannot copy to " + to + ": " + std::strerror(errno);
    ::close(in);
    return false;
  }
  struct stat st {};
  ::fstat(in, &st);
  off_t offset = 0;
  bool ok = true;
  while (offset < st.st_size) {
    ssize_t n = ::sendfile(out, in, &offset, static_cast<std::size_t>(st.st_size - offset));
    if (n <= 0) {
      error = from + ": cannot copy: " + (n < 0 ? std::strerror(errno) : "file shrank while copying");
      ok = false;
      break;
    }
  }
  ::close(in);
  ::close(out);
  return ok;
}

std::string shortDigest(const char* digest) {
  return digest ? std::string(digest).substr(0, 12) : std::string("(none)");
}

bool validName(const char* name) {
  if (!name || !*name) return false;
  for (const char* c = name; *c; ++c)
    if (!(std::isalnum(static_cast<unsigned char>(*c)) || *c == '_' || *c == '-')) return false;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The unloader: one thread that runs ~LoadedPlugin (withdraw status providers, dlclose).
// A library must never be closed on the thread that dropped its last reference: that
// thread may be a plugin's own, or a reactor inside a plugin callback, about to return
// into the code being unmapped.

class LibraryUnloader {
 public:
  static LibraryUnloader& instance() {
    static LibraryUnloader unloader;
    return unloader;
  }
  // ~LoadedPlugin uses the metrics registry: made first, it is destroyed after this one
  // (statics go in reverse order), so an unload still running at exit never finds it gone.
  LibraryUnloader() { Metrics::instance(); }
  void unload(LoadedPlugin* plugin) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(plugin);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    wake_.notify_all();
  }
  void waitIdle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
  }
  ~LibraryUnloader() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      LoadedPlugin* plugin = queue_.front();
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      delete plugin;
      lock.lock();
      busy_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<LoadedPlugin*> queue_;
  std::thread thread_;
  bool busy_ = false;
  bool stopping_ = false;
};

void waitForUnloads() { LibraryUnloader::instance().waitIdle(); }

// ---------------------------------------------------------------------------------------

LoadedPlugin::LoadedPlugin(std::string file, Identity identity, unsigned long generation, std::string copyName,
                           void* handle)
    : file_(std::move(file)), identity_(identity), generation_(generation), copyName_(std::move(copyName)), handle_(handle) {
  gLoaded.fetch_add(1);
}

LoadedPlugin::~LoadedPlugin() {
  // Its status providers' code is about to go: the registry must never call it again.
  Metrics::instance().withdrawProviders(this);
  if (descriptor_) log::debug("unloading plugin " + name_ + " (generation " + std::to_string(generation_) + ", " + file_ + ")");
  if (handle_) ::dlclose(handle_);
  gLoaded.fetch_sub(1);
}

std::size_t LoadedPlugin::loadedCount() { return gLoaded.load(); }

void LoadedPlugin::log(int level, std::string_view message) const {
  std::string line = logPrefix_;
  line.append(message.data(), message.size());
  switch (level) {
    case MS_LOG_ERROR: return log::error(line);
    case MS_LOG_WARNING: return log::warning(line);
    case MS_LOG_INFO: return log::info(line);
    default:
      if (log::enabled(log::Level::Debug)) log::debug(line);
  }
}

std::string checkDescriptor(const ms_plugin& d) {
  // struct_size and abi sit at the start of every version of the struct.
  if (!d.abi || std::strcmp(d.abi, MS_ABI_DIGEST) != 0)
    return "built against another plugin ABI (SDK " + std::string(d.sdk_version ? d.sdk_version : "unknown") +
           ", ABI " + shortDigest(d.abi) + "; this server: SDK " MS_SDK_VERSION ", ABI " + shortDigest(MS_ABI_DIGEST) +
           "): rebuild the plugin against this server's SDK";
  if (d.struct_size != sizeof(ms_plugin))
    return "its description is " + std::to_string(d.struct_size) + " bytes, expected " +
           std::to_string(sizeof(ms_plugin)) + " (rebuild the plugin against this server's SDK)";
  if (!validName(d.name))
    return std::string("its name '") + (d.name ? d.name : "") + "' must be letters, digits, '_' and '-'";
  bool h = d.handler_create, hd = d.handler_destroy, hh = d.handler_handle;
  if (h != hd || h != hh) return "it gives only some of handler_create, handler_destroy and handler_handle";
  bool s = d.service_create;
  if (s != (d.service_destroy != nullptr) || s != (d.service_start != nullptr) || s != (d.service_stop != nullptr) ||
      s != (d.service_accept != nullptr))
    return "it gives only some of service_create, _destroy, _start, _stop and _accept";
  if (!h && !s) return "it has neither an HTTP handler nor a TCP service";
  return {};
}

PluginLoader::PluginLoader() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/microserver-plugins-XXXXXX";
  if (!::mkdtemp(pattern.data()))
    throw std::runtime_error("cannot create a folder for plugin copies from " + pattern + ": " +
                             std::strerror(errno) + " (set TMPDIR to a writable folder)");
  copyFolder_ = pattern;
}

PluginLoader::~PluginLoader() { ::rmdir(copyFolder_.c_str()); }

std::shared_ptr<LoadedPlugin> PluginLoader::load(const std::string& file, std::string& error, std::string* warning) {
  LoadedPlugin::Identity identity;
  if (!identify(file, identity, error)) return nullptr;
  std::string base = file.substr(file.rfind('/') + 1);
  unsigned long generation = gGeneration.fetch_add(1) + 1;
  std::string copyName = std::to_string(generation) + "-" + base;
  std::string copy = copyFolder_ + "/" + copyName;
  if (!copyFile(file, copy, error)) {
    ::unlink(copy.c_str());
    return nullptr;
  }
  std::vector<std::string> unique = gnuUniqueSymbols(copy);
  void* handle = ::dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);
  // The mapping outlives the name: remove the copy now, nothing is left behind on a crash.
  ::unlink(copy.c_str());
  if (!handle) {
    const char* why = ::dlerror();
    std::string text = why ? why : "unknown dlopen error";
    // dlerror names the copy; show the user's file instead.
    std::size_t at = text.find(copy);
    if (at != std::string::npos) text.replace(at, copy.size(), file);
    error = file + ": cannot load: " + text;
    return nullptr;
  }
  ::dlerror();
  auto entry = reinterpret_cast<ms_plugin_entry>(::dlsym(handle, MS_PLUGIN_ENTRY_NAME));
  if (!entry) {
    error = file + ": not a microserver plugin (it exports no " MS_PLUGIN_ENTRY_NAME
                   "(); declare one with MICROSERVER_PLUGIN(...), or write it in C: see microserver/microserver.h)";
    ::dlclose(handle);
    return nullptr;
  }
  // From here the library belongs to a LoadedPlugin, unloaded on the unloader thread.
  std::shared_ptr<LoadedPlugin> plugin(new LoadedPlugin(file, identity, generation, copyName, handle),
                                       [](LoadedPlugin* p) { LibraryUnloader::instance().unload(p); });
  const ms_plugin* descriptor = entry(&hostApi(), plugin->library());
  std::string mismatch = descriptor ? checkDescriptor(*descriptor) : "its entry point returned no description";
  if (!mismatch.empty()) {
    error = file + ": refused: " + mismatch;
    return nullptr;
  }
  plugin->descriptor_ = descriptor;
  plugin->name_ = descriptor->name;
  plugin->logPrefix_ = "plugin " + plugin->name_ + ": ";
  if (!unique.empty() && warning) {
    std::string names;
    for (const std::string& n : unique) names += (names.empty() ? "" : ", ") + n;
    *warning = file + ": plugin '" + plugin->name_ + "' can never be unloaded: it defines STB_GNU_UNIQUE symbols (" +
               names + "), so each replacement keeps the old copy in memory; build it with microserver_add_plugin() "
               "(or -fno-gnu-unique)";
  }
  return plugin;
}

PluginScan PluginLoader::scan(const std::string& folder, const PluginSet& previous, bool required) {
  PluginScan result;
  DIR* dir = ::opendir(folder.c_str());
  if (!dir) {
    if (required || errno != ENOENT)
      result.errors.push_back(folder + ": cannot read the plugin folder: " + std::strerror(errno) +
                              " (set server.plugins in routes.yaml or --plugins DIR)");
    return result;
  }
  std::vector<std::string> files;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() > 6 && name.compare(0, 3, "lib") == 0 && name.compare(name.size() - 3, 3, ".so") == 0)
      files.push_back(folder + "/" + name);
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end());  // stable messages and load order

  std::map<std::string, std::string> fileOfName;
  for (const std::string& file : files) {
    std::shared_ptr<LoadedPlugin> plugin;
    LoadedPlugin::Identity identity;
    std::string error, warning;
    if (!identify(file, identity, error)) {
      result.errors.push_back(error);
      continue;
    }
    for (const auto& [name, old] : previous)
      if (old->file() == file && old->identity() == identity) plugin = old;
    if (!plugin) plugin = load(file, error, &warning);
    if (!plugin) {
      result.errors.push_back(error);
      continue;
    }
    if (!warning.empty()) result.warnings.push_back(warning);
    auto [it, inserted] = fileOfName.emplace(plugin->name(), file);
    if (!inserted) {
      result.errors.push_back(file + ": refused: plugin name '" + plugin->name() + "' is already used by " +
                              it->second + " (rename one of them)");
      continue;
    }
    result.plugins[plugin->name()] = plugin;
  }
  return result;
}

}  // namespace microserver::core
