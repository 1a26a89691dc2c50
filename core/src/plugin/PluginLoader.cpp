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
#include <cstdlib>
#include <cstring>

#include "base/Log.h"

namespace microserver::core {

namespace {

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

std::string layoutText(const SdkLayout& l) {
  return "Request " + std::to_string(l.request) + ", Response " + std::to_string(l.response) + ", ConfigNode " +
         std::to_string(l.configNode) + ", PluginContext " + std::to_string(l.pluginContext) + ", std::string " +
         std::to_string(l.string) + ", std::vector " + std::to_string(l.vector) + " bytes";
}

}  // namespace

LoadedPlugin::LoadedPlugin(std::string file, Identity identity, void* handle, const PluginDescriptor* descriptor)
    : file_(std::move(file)),
      name_(descriptor->name),
      identity_(identity),
      handle_(handle),
      descriptor_(descriptor),
      logger_(name_) {}

LoadedPlugin::~LoadedPlugin() {
  if (handle_) ::dlclose(handle_);
}

std::string checkDescriptor(const PluginDescriptor& d) {
  // abiVersion and structSize are read first: they sit at the start of every version.
  if (d.abiVersion != MICROSERVER_ABI_VERSION)
    return "built for plugin ABI version " + std::to_string(d.abiVersion) + ", this server has version " +
           std::to_string(MICROSERVER_ABI_VERSION) + " (rebuild the plugin against this server's SDK)";
  if (d.structSize < sizeof(PluginDescriptor))
    return "its descriptor is " + std::to_string(d.structSize) + " bytes, expected at least " +
           std::to_string(sizeof(PluginDescriptor)) + " (rebuild the plugin against this server's SDK)";
  if (!d.buildSignature || std::strcmp(d.buildSignature, MICROSERVER_BUILD_SIGNATURE) != 0)
    return std::string("built with ") + (d.buildSignature ? d.buildSignature : "(none)") + " (" +
           (d.compiler ? d.compiler : "unknown compiler") + "), this server with " + MICROSERVER_BUILD_SIGNATURE +
           " (" + MICROSERVER_COMPILER + "): rebuild the plugin with the same C++ library";
  SdkLayout mine = MICROSERVER_SDK_LAYOUT;
  const SdkLayout& theirs = d.layout;
  if (std::memcmp(&mine, &theirs, sizeof mine) != 0)
    return "built against different SDK headers (" + layoutText(theirs) + "; this server: " + layoutText(mine) +
           "): rebuild the plugin against this server's SDK";
  if (!d.name || !*d.name) return "its descriptor has no name";
  for (const char* c = d.name; *c; ++c)
    if (!(std::isalnum(static_cast<unsigned char>(*c)) || *c == '_' || *c == '-'))
      return std::string("its name '") + d.name + "' may only hold letters, digits, '_' and '-'";
  if (!d.createHandler != !d.destroyHandler) return "it has createHandler without destroyHandler, or the reverse";
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

std::shared_ptr<LoadedPlugin> PluginLoader::load(const std::string& file, std::string& error) {
  LoadedPlugin::Identity identity;
  if (!identify(file, identity, error)) return nullptr;
  std::string base = file.substr(file.rfind('/') + 1);
  std::string copy = copyFolder_ + "/" + std::to_string(++generation_) + "-" + base;
  if (!copyFile(file, copy, error)) {
    ::unlink(copy.c_str());
    return nullptr;
  }
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
  auto entry = reinterpret_cast<const PluginDescriptor* (*)()>(::dlsym(handle, MICROSERVER_PLUGIN_ENTRY_NAME));
  if (!entry) {
    error = file + ": not a microserver plugin (it exports no " MICROSERVER_PLUGIN_ENTRY_NAME
                   "(); declare one with MICROSERVER_PLUGIN(...))";
    ::dlclose(handle);
    return nullptr;
  }
  const PluginDescriptor* descriptor = entry();
  std::string mismatch = descriptor ? checkDescriptor(*descriptor) : "its entry point returned no descriptor";
  if (!mismatch.empty()) {
    error = file + ": refused: " + mismatch;
    ::dlclose(handle);
    return nullptr;
  }
  return std::make_shared<LoadedPlugin>(file, identity, handle, descriptor);
}

PluginScan PluginLoader::scan(const std::string& folder, const PluginSet& previous, bool required,
                              const PluginSet& pinned) {
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
    std::string error;
    if (!identify(file, identity, error)) {
      result.errors.push_back(error);
      continue;
    }
    for (const auto& [name, old] : previous)
      if (old->file() == file && old->identity() == identity) plugin = old;
    for (const auto& [name, running] : pinned) {
      if (running->file() != file) continue;
      if (!(running->identity() == identity))
        result.warnings.push_back(file + ": changed on disk, but plugin '" + name +
                                  "' runs a TCP service: it keeps the loaded version until the server restarts");
      plugin = running;
    }
    if (!plugin) plugin = load(file, error);
    if (!plugin) {
      result.errors.push_back(error);
      continue;
    }
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
