// PluginService: one running instance of a plugin's TCP service (routes.yaml `services:`):
// the object its service_create made, started, accepting clients, stopped, destroyed.
//
// Shared by the server (while it is the service's current instance) and by every client
// session it accepted, so that the plugin's service object outlives its sessions: when a
// reload replaces the plugin's library, the new copy's instance takes new clients, this
// one is stopped and its sessions closed, and it is destroyed (then its library unloaded)
// once the last of them is gone.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/ConfigTree.h"
#include "microserver/microserver.h"
#include "plugin/PluginLoader.h"

namespace microserver::core {

class PluginService {
 public:
  // Creates the plugin's service for `config` (main thread). Throws ConfigError as
  // createPluginObject does.
  PluginService(std::shared_ptr<LoadedPlugin> plugin, const ConfigTree& config, const std::string& configFile,
                const std::string& place);
  ~PluginService();  // service_destroy, on whichever thread lets go last
  PluginService(const PluginService&) = delete;
  PluginService& operator=(const PluginService&) = delete;

  // Main thread. start() is false if the plugin refused (it logged why).
  bool start();
  void stop();  // once; also after a failed or missing start
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }

  // A client connected (its reactor thread): true with the session's callbacks.
  bool accept(ms_conn* connection, const ms_session_callbacks*& callbacks, void*& session);

  const std::shared_ptr<LoadedPlugin>& plugin() const { return plugin_; }

 private:
  std::shared_ptr<LoadedPlugin> plugin_;  // first: destroyed last
  void* service_ = nullptr;
  std::atomic<bool> stopped_{false};
};

}  // namespace microserver::core
