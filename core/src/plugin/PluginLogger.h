// PluginLogger: the SDK's Logger for one plugin, writing to the server's error log with
// the plugin's name in front, so an operator knows whose line it is.
#pragma once

#include <string>

#include "base/Log.h"
#include "microserver/Logger.h"

namespace microserver::core {

class PluginLogger : public Logger {
 public:
  explicit PluginLogger(std::string pluginName) : prefix_("plugin " + pluginName + ": ") {}
  void error(std::string_view m) const override { log::error(prefix_ + std::string(m)); }
  void warning(std::string_view m) const override { log::warning(prefix_ + std::string(m)); }
  void info(std::string_view m) const override { log::info(prefix_ + std::string(m)); }
  void debug(std::string_view m) const override {
    if (log::enabled(log::Level::Debug)) log::debug(prefix_ + std::string(m));
  }

 private:
  std::string prefix_;
};

}  // namespace microserver::core
