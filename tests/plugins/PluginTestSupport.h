// PluginTestSupport: loads a built plugin the way the server does (PluginLoader, the real
// .so from the plugin folder), creates its handler from a YAML `config:` snippet, and
// runs requests through it in-process. Tests of a plugin's logic need no server.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/Config.h"
#include "plugin/PluginLoader.h"
#include "plugin/PluginLogger.h"
#include "microserver/Plugin.h"

namespace plugintest {

// A request to hand to a handler; owns its strings.
struct TestRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string path = "/";
  std::string query;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> captures;
};

class LoadedHandler {
 public:
  // Loads lib<plugin>.so from the build's plugin folder; `configYaml` is the route's
  // `config:` value as YAML ("" for none). Throws ConfigError if the plugin refuses it.
  LoadedHandler(const std::string& plugin, const std::string& configYaml);
  // Another handler from the library `sameLibrary` loaded, as a reload of routes.yaml
  // makes while the library file is unchanged: the two share the library's state (its
  // statics), which a fresh LoadedHandler(plugin, ...) would not (each load is a copy).
  LoadedHandler(const LoadedHandler& sameLibrary, const std::string& configYaml);
  ~LoadedHandler();
  LoadedHandler(const LoadedHandler&) = delete;
  LoadedHandler& operator=(const LoadedHandler&) = delete;

  microserver::Response call(const TestRequest& request);
  const microserver::PluginDescriptor& descriptor() const { return plugin_->descriptor(); }

 private:
  microserver::core::PluginLoader loader_;
  std::shared_ptr<microserver::core::LoadedPlugin> plugin_;
  microserver::core::Config config_;
  std::unique_ptr<microserver::core::PluginLogger> logger_;
  microserver::Handler* handler_ = nullptr;

  void createHandler(const std::string& configYaml);
};

// The `config:` node of a one-route routes.yaml, as the server would build it.
microserver::ConfigNode configNode(const std::string& configYaml);

}  // namespace plugintest
