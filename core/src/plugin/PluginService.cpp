// PluginService: see PluginService.h.
#include "plugin/PluginService.h"

#include "plugin/HostApi.h"

namespace microserver::core {

PluginService::PluginService(std::shared_ptr<LoadedPlugin> plugin, const ConfigTree& config,
                             const std::string& configFile, const std::string& place)
    : plugin_(std::move(plugin)) {
  const ms_plugin& d = plugin_->descriptor();
  service_ = createPluginObject(*plugin_, d.service_create, d.service_destroy, config, configFile, place);
}

PluginService::~PluginService() { plugin_->descriptor().service_destroy(service_); }

bool PluginService::start() { return plugin_->descriptor().service_start(service_) == 0; }

void PluginService::stop() {
  if (stopped_.exchange(true)) return;
  plugin_->descriptor().service_stop(service_);
}

bool PluginService::accept(ms_conn* connection, const ms_session_callbacks*& callbacks, void*& session) {
  callbacks = nullptr;
  session = nullptr;
  if (stopped()) return false;
  int accepted = plugin_->descriptor().service_accept(service_, connection, &callbacks, &session);
  return accepted == 1 && callbacks && callbacks->on_close;
}

}  // namespace microserver::core
