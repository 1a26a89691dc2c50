// PluginTestSupport: loads a built plugin the way the server does (PluginLoader, the real
// .so from the plugin folder, the real C ABI and host functions), creates its handler
// from a YAML `config:` snippet, and runs requests through it in-process. Tests of a
// plugin's logic need no server.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/Config.h"
#include "microserver/Plugin.h"
#include "plugin/PluginLoader.h"
#include "site/Response.h"
#include "site/Site.h"

namespace plugintest {

// A request to hand to a handler; owns its strings.
struct TestRequest {
  std::string method = "GET";
  std::string target = "/";
  std::string path = "/";
  std::string query;
  std::string body;
  std::string authority;  // the Host the request names
  std::string id = "4c1f0b6e9a8d7c2b5e3f1a0d9c8b7a6e";  // the request id the server gave it
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> captures;
};

// The answer a handler gave, as the server holds it.
using Answer = microserver::core::Response;

class LoadedHandler {
 public:
  // Loads lib<plugin>.so from the build's plugin folder; `configYaml` is the route's
  // `config:` value as YAML ("" for none). Throws microserver::ConfigError (with the
  // plugin's message) if the plugin refuses it.
  LoadedHandler(const std::string& plugin, const std::string& configYaml);
  // Another handler from the library `sameLibrary` loaded, as a reload of routes.yaml
  // makes while the library file is unchanged: the two share the library's state (its
  // statics), which a fresh LoadedHandler(plugin, ...) would not (each load is a copy).
  LoadedHandler(const LoadedHandler& sameLibrary, const std::string& configYaml);
  ~LoadedHandler();
  LoadedHandler(const LoadedHandler&) = delete;
  LoadedHandler& operator=(const LoadedHandler&) = delete;

  // A WebSocket session the handler accepted (its C callbacks, as the server holds them).
  struct WebSocket {
    const ms_session_callbacks* callbacks = nullptr;
    void* session = nullptr;
  };
  // Runs one request through the handler and returns the answer it gave at once. A
  // WebSocket it accepts goes to `webSocket` (or is refused when that is null).
  Answer call(const TestRequest& request, WebSocket* webSocket = nullptr);
  const ms_plugin& descriptor() const { return plugin_->descriptor(); }

 private:
  void createHandler(const std::string& configYaml);
  void releaseAndWaitForUnload();

  microserver::core::PluginLoader loader_;
  std::shared_ptr<microserver::core::LoadedPlugin> plugin_;
  microserver::core::Config config_;
  std::unique_ptr<microserver::core::BoundHandler> handler_;
};

// The `config:` node of a one-route routes.yaml, as a plugin sees it (the tree behind it
// lives as long as the test program).
microserver::ConfigNode configNode(const std::string& configYaml);

// Plugin code compiled into a test program calls the server's functions directly: this
// binds the SDK to them (done once, before main).
void bindSdkToServer();

}  // namespace plugintest
